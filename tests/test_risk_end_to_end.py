"""Issue 20, "Done when": the simulator's price moves toward a position's liquidation price; the
refresh stores the risk figures OKX reports; a key admin's "distance to liquidation" rule fires
exactly once to each of its two channels (real local HTTP webhook receivers), reminds once an
hour without duplicates, and says "recovered" once after the price moves back; then a
liquidation in the simulator appears among the account's closed positions, marked as such, and
fires the "liquidation or ADL" rule once per channel.

Everything runs for real: the simulator over HTTP, the refresh (snapshots.refresh), the alert
engine and its deliveries. Time moves with time-machine (the simulator's clock and ours alike)
so the hourly reminder comes due without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Account
from alerts.engine import deliver_due, evaluate
from alerts.models import Alert, AlertChannel, AlertState, ChannelKind, RiskRule
from okxsim import Scenario
from snapshots.models import ClosedPosition, CloseType, PositionLine, Snapshot
from snapshots.numbers import format_price
from snapshots.refresh import current_cycle, refresh_account
from snapshots.risk import distance_text, liq_distance_pct
from tests.alerts_support import Receiver, receiver
from tests.workers_support import add_account, direct_client, frozen

pytestmark = pytest.mark.django_db

INST = "BTC-USDT-SWAP"


def scenario() -> Scenario:
    """One trader (Multi-currency margin: account-level risk figures) with its own key and 1,050
    USDT, long 10 BTC-USDT-SWAP contracts (0.1 BTC) at 60,000 with 10x cross leverage: the
    account's equity falls to its maintenance margin, OKX's liquidation price, near 50,000.
    Prices hold still unless a test moves them."""
    raw = {
        "name": "risk end to end",
        "prices": {"USDT": {"usd": "1"}, "BTC": {"usd": "60000"}},
        "accounts": [
            {
                "uid": "800000000000000011",
                "name": "trader",
                "role": "master",
                "acct_lv": "3",
                "trading": {"USDT": "1050"},
                "positions": [
                    {
                        "instId": INST,
                        "pos": "10",
                        "avgPx": "60000",
                        "lever": "10",
                        "mgnMode": "cross",
                        "created": "-1m",
                    }
                ],
            }
        ],
        "keys": [
            {
                "account": "trader",
                "api_key": "key-trader",
                "secret_key": "secret-trader",
                "passphrase": "Pass-1",
            }
        ],
    }
    return frozen(Scenario.from_dict(raw))


@contextmanager
def minutes_later(start: datetime, minutes: int) -> Iterator[None]:
    """Our clock and the simulator's at `start` + `minutes`, ticking."""
    with time_machine.travel(start + timedelta(minutes=minutes), tick=True):
        yield


def refresh(account: Account) -> Snapshot:
    assert refresh_account(account.pk, cycle=current_cycle()).status == "ok"
    return Snapshot.objects.filter(account=account).latest("taken_at")


def alert_round() -> None:
    """What the every-minute alert task does, twice (a second run must change nothing)."""
    evaluate()
    evaluate()
    deliver_due()


def told(hook: Receiver, rule: str) -> list[tuple[str, str]]:
    """(event, title) of every message `hook` received about `rule`."""
    return [(r.body["event"], r.body["title"]) for r in hook.requests if r.body.get("rule") == rule]


def webhook(name: str, hook: Receiver) -> AlertChannel:
    channel = AlertChannel(name=name, kind=ChannelKind.WEBHOOK)
    channel.set_url(f"{hook.url}/webhook/{name}")
    channel.save()
    return channel


def test_a_price_moving_toward_liquidation_fires_once_reminds_recovers_and_a_liquidation_fires(
    make_simulator,
):
    sim = make_simulator(scenario())
    trader = add_account(sim, "trader")
    start = timezone.now()
    with receiver() as desk_hook, receiver() as risk_hook:
        channels = [webhook("desk hook", desk_hook), webhook("risk hook", risk_hook)]
        AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="ops@example.com")
        near = RiskRule.objects.create(
            name="near liquidation", kind="liq_distance", threshold=Decimal(10), remind_every_hours=1
        )
        forced = RiskRule.objects.create(name="liquidations", kind="forced_close", severity="critical")
        for rule in (near, forced):
            rule.channels.set(channels)
        hooks = (desk_hook, risk_hook)

        # 1. At 60,000 the long is far from its liquidation price: nothing fires.
        calm = refresh(trader)
        (line,) = calm.positions.all()
        okx = direct_client(sim, "trader").get_positions()[0]
        assert (line.mark_price, line.liq_price) == (Decimal(60000), okx.liq_px)
        assert line.liq_distance_pct == liq_distance_pct("long", okx.mark_px, okx.liq_px)[0] > 10
        alert_round()
        assert Alert.objects.count() == 0

        # 2. The price falls to 53,000: the stored figures follow and the rule fires once per channel.
        with minutes_later(start, 1):
            assert sim.set_price("BTC", "53000") == []
            moved = refresh(trader)
            (line,) = moved.positions.all()
            okx_balance = direct_client(sim, "trader").get_balance()
            assert line.mark_price == Decimal(53000) and line.liq_price == okx.liq_px
            assert line.liq_distance_pct == liq_distance_pct("long", Decimal(53000), okx.liq_px)[0] < 10
            assert moved.margin_ratio == okx_balance.mgn_ratio != calm.margin_ratio
            assert moved.mmr_usd == okx_balance.mmr and moved.adj_equity_usd == okx_balance.adj_eq
            alert_round()
            alert_round()
        firing = Alert.objects.get(rule="liq_distance")
        distance = distance_text(line.liq_distance_pct)
        title = f"Near liquidation: trader {INST} {distance} from its liquidation price"
        assert firing.title == title
        liq = format_price(okx.liq_px, "USDT")
        assert f"Mark price 53,000.00 USDT; liquidation price {liq}." in firing.message
        for hook in hooks:
            assert told(hook, "liq_distance") == [("firing", f"[OKX dashboard] [warning] {title}")]

        # 3. An hour on, still near: one reminder per channel, however often the task runs.
        with minutes_later(start, 62):
            refresh(trader)
            alert_round()
            alert_round()
        for hook in hooks:
            assert [event for event, _ in told(hook, "liq_distance")] == ["firing", "reminder"]

        # 4. The price comes back: "recovered" once per channel.
        with minutes_later(start, 63):
            assert sim.set_price("BTC", "60000") == []
            refresh(trader)
            alert_round()
            alert_round()
        firing.refresh_from_db()
        assert (firing.state, firing.resolution) == (AlertState.RESOLVED, "recovered")
        for hook in hooks:
            assert [event for event, _ in told(hook, "liq_distance")] == ["firing", "reminder", "recovered"]

        # 5. A crash through the liquidation price: the simulator liquidates the position, the
        # refresh stores the positions-history row marked as a liquidation, the rule fires once.
        with minutes_later(start, 64):
            (pos_id,) = sim.set_price("BTC", "45000")
            gone = refresh(trader)
            assert not PositionLine.objects.filter(snapshot=gone).exists()
            alert_round()
            alert_round()
        row = ClosedPosition.objects.get(account=trader, pos_id=pos_id)
        assert (row.close_type, row.forced, row.get_close_type_display()) == (
            CloseType.LIQUIDATION,
            True,
            "liquidated",
        )
        assert row.trigger_price is not None and row.liq_penalty is not None and row.liq_penalty < 0
        liquidated = Alert.objects.get(rule="forced_close")
        assert liquidated.title == f"Liquidated: trader {INST}"
        assert liquidated.severity == "critical" and liquidated.risk_rule == forced
        for hook in hooks:
            assert told(hook, "forced_close") == [
                ("firing", f"[OKX dashboard] [critical] Liquidated: trader {INST}")
            ]
            assert len(told(hook, "liq_distance")) == 3  # nothing more about the closed position
