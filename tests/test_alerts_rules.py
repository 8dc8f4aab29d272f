"""The refresh rules on real snapshots (real refreshes against the simulator): an account goes
stale, the refresh as a whole stops (one alert, not one per account), an account loses money
(off by default; tests/test_alerts_loss.py has the rule's cases); each opens once and resolves
once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.keycheck import check_key
from accounts.models import Account
from alerts.engine import evaluate
from alerts.models import Alert, AlertChannel, AlertSettings, AlertState, ChannelKind, Delivery
from snapshots.models import Snapshot
from snapshots.refresh import current_cycle, refresh_account
from tests.workers_support import add_account, frozen, key_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_accounts(make_simulator):
    sim = make_simulator(frozen("demo"))
    AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="ops@example.com")
    accounts = [add_account(sim, "main"), add_account(sim, "alpha-desk")]
    for account in accounts:
        assert refresh_account(account.pk, cycle=current_cycle()).status == "ok"
    return sim, accounts


def firing() -> list[tuple[str, str]]:
    return sorted(Alert.objects.firing().values_list("rule", "subject"))


def test_an_account_without_a_recent_snapshot_is_stale_once_and_recovers_once(two_accounts):
    _, (_, alpha) = two_accounts
    Snapshot.objects.filter(account=alpha).update(taken_at=timezone.now() - timedelta(minutes=5))
    evaluate()
    evaluate()
    assert firing() == [("account_stale", f"account:{alpha.pk}")]
    assert Delivery.objects.count() == 1
    assert "alpha-desk has not been refreshed for more than 2 minutes" in Alert.objects.get().message

    assert refresh_account(alpha.pk, cycle=current_cycle() + 1).status == "ok"
    evaluate()
    assert firing() == []
    assert list(Delivery.objects.values_list("event", flat=True)) == ["firing", "recovered"]


def test_an_account_stale_because_its_key_fails_gets_the_key_alert_only(two_accounts):
    sim, (_, alpha) = two_accounts
    sim.freeze_key(key_fields(sim, "alpha-desk")["api_key"])
    assert check_key(alpha.active_credential().pk).status == "failed"
    assert refresh_account(alpha.pk, cycle=current_cycle() + 1).status == "failed"
    Snapshot.objects.filter(account=alpha).update(taken_at=timezone.now() - timedelta(minutes=5))
    evaluate()
    assert firing() == [("key_failing", f"credential:{alpha.active_credential().pk}")]


def test_when_every_refresh_stops_one_alert_says_so_instead_of_one_per_account(two_accounts):
    later = timezone.now() + timedelta(minutes=11)
    evaluate(now=later)
    evaluate(now=later + timedelta(minutes=1))
    assert firing() == [("refresh_stopped", "all")]
    assert (
        "No account has been refreshed successfully for more than 10 minutes" in Alert.objects.get().message
    )
    evaluate()  # snapshots are fresh at the real "now": the refresh works again
    assert firing() == []
    assert Alert.objects.get().resolution == "recovered"


def snapshot(account: Account, minutes_ago: int, equity: str) -> None:
    taken = timezone.now() - timedelta(minutes=minutes_ago)
    Snapshot.objects.create(
        account=account, cycle=int(taken.timestamp()), taken_at=taken, total_equity_usd=Decimal(equity)
    )


def test_the_loss_rule_is_off_by_default_and_fires_past_the_threshold_when_on():
    desk = Account.objects.create(name="desk")
    snapshot(desk, 24 * 60 + 30, "120000")  # the equity when the last 24 hours began
    snapshot(desk, 300, "100000")
    snapshot(desk, 0, "95000")  # 25,000 lost: 20.8 % of 120,000
    evaluate()
    assert firing() == []

    AlertSettings.objects.update_or_create(pk=1, defaults={"equity_drop": True, "equity_drop_percent": 25})
    evaluate()
    assert firing() == []
    AlertSettings.objects.filter(pk=1).update(equity_drop_percent=20)
    evaluate()
    assert firing() == [("equity_drop", f"account:{desk.pk}")]
    assert "net of transfers: 20.8 % of its equity of 120,000.00 USD" in Alert.objects.get().message

    AlertSettings.objects.filter(pk=1).update(equity_drop=False)
    evaluate()
    alert = Alert.objects.get()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "rule switched off")
