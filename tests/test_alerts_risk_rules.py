"""The key admins' risk rules (RiskRule, issue 20) in the alert engine, on risk figures stored as
the refresh stores them (tests/alerts_support.reading) and positions-history rows: each fires
once per state change to its own channels (real local HTTP receivers), reminds once per period,
says "recovered" once, holds what it cannot judge, and ends a forced close quietly."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Account, Environment
from alerts.engine import deliver_due, evaluate, run
from alerts.models import (
    Alert,
    AlertChannel,
    AlertRun,
    AlertSettings,
    AlertState,
    ChannelKind,
    Delivery,
    RiskRule,
)
from snapshots.models import FORCED_CLOSES, ClosedPosition, PositionLine, Snapshot
from snapshots.refresh import FUTURES_RATIO, NO_RATIO_FUTURES, NO_RATIO_NO_MMR
from snapshots.risk import NO_MARK
from tests.alerts_support import make_channels, reading, receiver

pytestmark = pytest.mark.django_db

NEAR = ("BTC-USDT-SWAP", "long", "60000", "57000")  # 5 % from its liquidation price
FAR = ("ETH-USDT-SWAP", "short", "3000", "3900")  # 30 % away


@pytest.fixture(autouse=True)
def only_risk_rules():
    """Readings are written by hand at chosen times: the refresh rules are not under test."""
    AlertSettings.objects.update_or_create(pk=1, defaults={"account_stale": False, "refresh_stopped": False})


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def desk():
    return Account.objects.create(name="desk")


def rule(kind: str, threshold: str | None, **fields) -> RiskRule:
    """A saved rule; choosing accounts or channels turns "every one" off, as the admin form does."""
    channels = fields.pop("channels", [])
    accounts = fields.pop("accounts", [])
    made = RiskRule.objects.create(
        name=fields.pop("name", f"{kind} rule"),
        kind=kind,
        threshold=None if threshold is None else Decimal(threshold),
        all_accounts=not accounts,
        all_channels=not channels,
        **fields,
    )
    made.channels.set(channels)
    made.accounts.set(accounts)
    return made


def mail_channel() -> None:
    """One e-mail channel (Django's locmem outbox): enough where no HTTP is asserted."""
    AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="ops@example.com")


def events(alert: Alert) -> list[tuple[str, str]]:
    return list(alert.deliveries.order_by("pk").values_list("event", "channel_name"))


def firing() -> list[str]:
    return sorted(Alert.objects.firing().values_list("title", flat=True))


def test_a_margin_ratio_below_the_threshold_fires_once_to_its_channels_and_recovers_once(desk, now):
    with receiver() as hook:
        channels = make_channels(hook)
        watched = rule(
            "margin_ratio", "150", severity="critical", channels=[channels["webhook"], channels["slack"]]
        )
        reading(desk, now, margin_ratio="1.2")
        evaluate(now=now)
        evaluate(now=now + timedelta(seconds=30))
        deliver_due()
        assert firing() == ["Margin ratio 120.0% below 150%: desk"]
        alert = Alert.objects.get()
        assert (alert.severity, alert.risk_rule, alert.account) == ("critical", watched, desk)
        assert alert.message.startswith("desk's margin ratio is 120.0% (OKX's mgnRatio, read at ")
        assert "below the threshold of 150%" in alert.message
        assert "Adjusted equity 100,000.00 USD, initial margin 20,000.00 USD" in alert.message
        assert "Rule: margin_ratio rule (critical)." in alert.message
        [posted] = hook.to("/webhook/")
        assert posted.body["title"] == "[OKX dashboard] [critical] Margin ratio 120.0% below 150%: desk"
        assert (posted.body["severity"], posted.body["rule"], posted.body["account"]) == (
            "critical",
            "margin_ratio",
            "desk",
        )
        assert len(hook.to("/slack/")) == 1
        assert hook.to("/bot") == [] and mail.outbox == []  # not the rule's channels

        later = now + timedelta(minutes=1)
        reading(desk, later, margin_ratio="1.6")
        evaluate(now=later)
        evaluate(now=later + timedelta(seconds=30))
        deliver_due()
    alert.refresh_from_db()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "recovered")
    assert events(alert) == [
        ("firing", "generic hook"),
        ("firing", "slack room"),
        ("recovered", "generic hook"),
        ("recovered", "slack room"),
    ]
    assert hook.to("/webhook/")[1].body["title"] == (
        "[OKX dashboard] [critical] Recovered: Margin ratio 120.0% below 150%: desk"
    )


def test_a_rule_without_channels_tells_every_enabled_channel(desk, now):
    with receiver() as hook:
        channels = make_channels(hook)
        channels["telegram"].enabled = False
        channels["telegram"].save()
        rule("margin_ratio", "150")
        reading(desk, now, margin_ratio="1.1")
        evaluate(now=now)
    names = sorted(Delivery.objects.values_list("channel_name", flat=True))
    assert names == ["generic hook", "slack room", "team mail"]


def test_a_position_near_liquidation_names_the_instrument_mark_and_liquidation_price(desk, now):
    mail_channel()
    rule("liq_distance", "10", severity="warning")
    reading(desk, now, margin_ratio="5", positions=(FAR, NEAR))
    evaluate(now=now)
    alert = Alert.objects.get()
    assert alert.title == "Near liquidation: desk BTC-USDT-SWAP 5.00% from its liquidation price"
    assert alert.message.startswith(
        "desk's long BTC-USDT-SWAP position is 5.00% from its estimated liquidation price (read at "
    )
    assert "below the threshold of 10%." in alert.message
    assert "Mark price 60,000.00 USDT; liquidation price 57,000.00 USDT." in alert.message
    assert Delivery.objects.get().subject.startswith("[OKX dashboard] [warning] Near liquidation: desk")


def test_prices_and_percentages_in_an_alert_are_written_as_on_the_pages(desk, now):
    """OKX's liqPx carries every digit (70,588.23529412): the alert writes it in USDT's decimals,
    and the margin ratio and the distance as the pages do, rounded down ("7,640%", no decimals from
    1,000 %; 4.5751 % is "4.57%"), the threshold as stored ("10,000%")."""
    mail_channel()
    rule("liq_distance", "10")
    rule("margin_ratio", "10000")
    reading(
        desk,
        now,
        margin_ratio="76.409999",
        positions=(("BTC-USDT-SWAP", "short", "67500", "70588.23529412"),),
    )
    evaluate(now=now)
    near, margin = Alert.objects.order_by("rule")
    assert "Mark price 67,500.00 USDT; liquidation price 70,588.24 USDT." in near.message
    assert near.title == "Near liquidation: desk BTC-USDT-SWAP 4.57% from its liquidation price"
    assert margin.title == "Margin ratio 7,640% below 10,000%: desk"


def test_an_unknown_figure_neither_fires_nor_recovers(desk, now):
    mail_channel()
    rule("margin_ratio", "150")
    rule("liq_distance", "10")
    never = Account.objects.create(name="never-read")
    keyless = Account.objects.create(name="keyless")
    reading(keyless, now, margin_ratio="3", via_master=True)  # positions unreadable through the master
    reading(desk, now, margin_ratio="1.2", positions=(NEAR,))
    evaluate(now=now)
    assert firing() == [
        "Margin ratio 120.0% below 150%: desk",
        "Near liquidation: desk BTC-USDT-SWAP 5.00% from its liquidation price",
    ]

    evaluate(now=now + timedelta(minutes=10))  # desk's reading is stale now: held, not recovered
    reading(desk, now + timedelta(minutes=11), risk_note="Futures mode: no cross position")
    evaluate(now=now + timedelta(minutes=11))  # no margin ratio, no positions: margin held
    assert "Margin ratio 120.0% below 150%: desk" in firing()
    assert Delivery.objects.filter(event="recovered").count() == 1  # the position is gone: clear
    assert never.alerts.count() == keyless.alerts.count() == 0


def test_reminders_come_once_per_period_while_it_fires(desk, now):
    mail_channel()
    rule("liq_distance", "10", remind_every_hours=2)
    for minutes in (0, 60, 119, 120, 121, 180, 239, 240, 241):
        at = now + timedelta(minutes=minutes)
        reading(desk, at, positions=(NEAR,))
        evaluate(now=at)
        evaluate(now=at + timedelta(seconds=5))
    alert = Alert.objects.get()
    assert [event for event, _ in events(alert)] == ["firing", "reminder", "reminder"]
    reminder = alert.deliveries.filter(event="reminder").first()
    assert reminder is not None and reminder.subject.startswith("[OKX dashboard] [warning] Reminder: Near")
    assert "Firing since " in reminder.text


def test_a_forced_close_fires_once_per_closed_position_and_ends_quietly_after_24_hours(desk, now):
    mail_channel()
    watched = rule("forced_close", None, severity="critical")
    closed_at = watched.created_at + timedelta(seconds=1)
    closed(desk, "3", closed_at, pos_id="1")  # liquidation
    closed(desk, "6", closed_at, pos_id="2", inst_id="ETH-USDT-SWAP")  # ADL
    closed(desk, "2", closed_at, pos_id="3")  # the trader's own close
    closed(desk, "3", watched.created_at - timedelta(hours=1), pos_id="4")  # before the rule
    evaluate(now=now + timedelta(seconds=2))
    evaluate(now=now + timedelta(seconds=30))
    assert firing() == ["Auto-deleveraged: desk ETH-USDT-SWAP", "Liquidated: desk BTC-USDT-SWAP"]
    liquidated = Alert.objects.get(title="Liquidated: desk BTC-USDT-SWAP")
    assert liquidated.message.startswith("desk's long BTC-USDT-SWAP position was liquidated at ")
    assert "(OKX positions history, close type 3)" in liquidated.message
    assert (
        "Closed size 2 contracts; close average price 57,000.00 USDT; triggered at mark price 56,990.00 USDT"
        in (liquidated.message)
    )
    assert (
        "Realised PnL -3,010.00 USDT (fees -10.00 USDT, funding 0.00 USDT, liquidation penalty -1,000.00"
        in (liquidated.message)
    )
    assert Delivery.objects.count() == 2

    evaluate(now=closed_at + timedelta(hours=24, minutes=1))
    assert firing() == []
    assert set(Alert.objects.values_list("resolution", flat=True)) == {"older than 24 hours"}
    assert Delivery.objects.count() == 2  # no "recovered" for a liquidation


def closed(
    account: Account,
    close_type: str,
    at: datetime,
    *,
    pos_id: str,
    inst_id: str = "BTC-USDT-SWAP",
    learned: datetime | None = None,
) -> None:
    """A positions-history row of a long position opened an hour before OKX closed it at `at`,
    as the refresh stores it: a forced close with `forced_at` when the dashboard learned of it
    (`learned`, by default at once)."""
    forced = close_type in FORCED_CLOSES
    ClosedPosition.objects.create(
        account=account,
        pos_id=pos_id,
        inst_id=inst_id,
        inst_type="SWAP",
        mgn_mode="cross",
        pos_side="net",
        direction="long",
        close_type=close_type,
        ccy="USDT",
        close_avg_price=Decimal("57000"),
        trigger_price=Decimal("56990") if forced else None,
        closed_size=Decimal("2"),
        realized_pnl=Decimal("-3010"),
        fee=Decimal("-10"),
        funding_fee=Decimal("0"),
        liq_penalty=Decimal("-1000"),
        opened_at=at - timedelta(hours=1),
        closed_at=at,
        forced_at=(learned or at) if forced else None,
    )


def test_a_liquidated_position_ends_its_near_liquidation_alert_quietly(desk, now):
    mail_channel()
    rule("liq_distance", "10")
    reading(desk, now, positions=(NEAR,))
    evaluate(now=now)
    later = now + timedelta(minutes=1)
    closed(desk, "3", later, pos_id="9")
    reading(desk, later)  # the position is gone
    evaluate(now=later)
    alert = Alert.objects.get()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "its position was force-closed")
    assert [event for event, _ in events(alert)] == ["firing"]


def test_a_rule_watches_its_chosen_accounts_or_every_active_live_one(desk, now):
    mail_channel()
    paper = Account.objects.create(name="paper", environment=Environment.DEMO)
    closed_desk = Account.objects.create(name="closed desk", active=False)
    for account in (desk, paper, closed_desk):
        reading(account, now, margin_ratio="1")
    rule("margin_ratio", "150", name="all live")
    rule("margin_ratio", "150", name="paper only", accounts=[paper])
    evaluate(now=now)
    fired = Alert.objects.values_list("risk_rule__name", "account__name")
    assert sorted(fired) == [("all live", "desk"), ("paper only", "paper")]


def test_switching_a_rule_off_or_deleting_it_resolves_its_alerts_quietly(desk, now):
    mail_channel()
    off = rule("margin_ratio", "150", name="switched off")
    gone = rule("margin_ratio", "200", name="deleted")
    reading(desk, now, margin_ratio="1.2")
    evaluate(now=now)
    assert Alert.objects.firing().count() == 2
    RiskRule.objects.filter(pk=off.pk).update(enabled=False)
    gone.delete()
    evaluate(now=now + timedelta(seconds=10))
    assert firing() == []
    assert set(Alert.objects.values_list("resolution", flat=True)) == {"rule switched off"}
    assert not Delivery.objects.filter(event="recovered").exists()


def test_a_rule_no_longer_watching_an_account_ends_its_alert_quietly(desk, now):
    mail_channel()
    other = Account.objects.create(name="other")
    narrowed = rule("margin_ratio", "150")
    reading(desk, now, margin_ratio="1.2")
    evaluate(now=now)
    narrowed.all_accounts = False  # as the admin form saves a choice of accounts
    narrowed.save()
    narrowed.accounts.set([other])
    evaluate(now=now + timedelta(seconds=10))
    assert Alert.objects.get().resolution == "account no longer watched by the rule"
    assert not Delivery.objects.filter(event="recovered").exists()


@pytest.mark.parametrize(
    ("kind", "threshold", "error"),
    [
        ("margin_ratio", None, "Enter the threshold in percent (more than 0, at most 10,000 %)."),
        ("margin_ratio", "0", "The threshold must be more than 0 and at most 10,000 % (not 0 %)."),
        (
            "margin_ratio",
            "10000.01",
            "The threshold must be more than 0 and at most 10,000 % (not 10000.01 %).",
        ),
        ("liq_distance", "-5", "The threshold must be more than 0 and at most 100 % (not -5 %)."),
        ("liq_distance", "100.5", "The threshold must be more than 0 and at most 100 % (not 100.5 %)."),
        ("forced_close", "5", "A liquidation or ADL rule has no threshold: leave it blank."),
    ],
)
def test_a_threshold_that_does_not_suit_its_kind_is_refused_with_the_reason(kind, threshold, error):
    candidate = RiskRule(name="r", kind=kind, threshold=None if threshold is None else Decimal(threshold))
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    assert refused.value.message_dict == {"threshold": [error]}


def test_reminder_periods_are_whole_hours_up_to_a_week():
    for hours, ok in ((0, True), (168, True), (169, False), (-1, False)):
        candidate = RiskRule(name="r", kind="forced_close", remind_every_hours=hours)
        if ok:
            candidate.full_clean()
        else:
            with pytest.raises(ValidationError) as refused:
                candidate.full_clean()
            assert list(refused.value.message_dict) == ["remind_every_hours"]


def test_a_stored_threshold_out_of_range_skips_its_rule_holds_its_alerts_and_says_why(desk, now):
    mail_channel()
    broken = rule("margin_ratio", "150", name="broken")
    reading(desk, now, margin_ratio="1.2")
    evaluate(now=now)
    RiskRule.objects.filter(pk=broken.pk).update(threshold=Decimal("-1"))
    reading(desk, now + timedelta(seconds=10), margin_ratio="3")
    assert run(now=now + timedelta(seconds=10))["ok"] is True
    assert firing() == ["Margin ratio 120.0% below 150%: desk"]  # held, not recovered
    skipped = AlertRun.objects.get().skipped
    assert skipped == {
        "margin_ratio": 'the risk rule "broken" is skipped: The threshold must be more than 0 and at most '
        "10,000 % (not -1.00 %); fix it under Admin"
    }


def test_a_rule_for_one_account_watches_nothing_once_that_account_is_deleted_and_says_so(desk, now):
    mail_channel()
    other = Account.objects.create(name="other desk")
    reading(desk, now, margin_ratio="1.2")
    reading(other, now, margin_ratio="1.1")
    rule("margin_ratio", "150", name="desk only", accounts=[desk])
    evaluate(now=now)
    assert firing() == ["Margin ratio 120.0% below 150%: desk"]

    desk.delete()  # a key admin removes the account (its alert goes with it)
    assert run(now=now + timedelta(seconds=10))["ok"] is True

    assert firing() == []  # not "other desk": an emptied choice is no account, not every one
    assert AlertRun.objects.get().skipped == {
        "margin_ratio": 'the risk rule "desk only" has no accounts left: edit this rule under Admin'
    }


def test_a_rule_whose_only_channel_is_deleted_tells_no_channel_and_says_so(desk, now):
    mail_channel()
    desk_room = AlertChannel.objects.create(
        name="risk desk", kind=ChannelKind.EMAIL, recipients="risk@example.com"
    )
    rule("margin_ratio", "150", name="to the risk desk", channels=[desk_room])
    desk_room.delete()
    reading(desk, now, margin_ratio="1.2")

    assert run(now=now)["ok"] is True

    assert firing() == ["Margin ratio 120.0% below 150%: desk"]  # on the Alerts page
    assert not Delivery.objects.exists()  # not the team mail it was never meant for
    assert AlertRun.objects.get().skipped == {
        "margin_ratio": 'the risk rule "to the risk desk" has no channels left: edit this rule under Admin'
    }


def test_a_margin_alert_recovers_once_when_the_account_no_longer_uses_margin(desk, now):
    """Every position closed (or lost to liquidation): OKX reports mmr 0 and no mgnRatio, the
    refresh stores None with NO_RATIO_NO_MMR. That is known (no margin in use), not unknown."""
    mail_channel()
    rule("margin_ratio", "150")
    reading(desk, now, margin_ratio="1.2")
    evaluate(now=now)
    for hours in (1, 24):
        at = now + timedelta(hours=hours)
        reading(desk, at, risk_note=NO_RATIO_NO_MMR, mmr_usd="0")
        evaluate(now=at)

    alert = Alert.objects.get()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "recovered")
    [recovered] = Delivery.objects.filter(event="recovered")
    assert recovered.text == (
        "RECOVERED: Margin ratio 120.0% below 150%: desk. Now: no cross margin in use (OKX reports a "
        "maintenance margin requirement of 0). No action needed."
    )


def test_a_near_liquidation_alert_is_held_when_its_position_becomes_unknown(desk, now):
    """The near position's mark price is missing this reading while another position is far:
    the account's nearest distance is unknown, so the alert neither recovers nor changes."""
    mail_channel()
    rule("liq_distance", "10")
    reading(desk, now, positions=(NEAR, FAR))
    evaluate(now=now)
    assert len(firing()) == 1

    later = now + timedelta(minutes=1)
    snapshot = reading(desk, later, positions=(FAR,))
    PositionLine.objects.create(
        snapshot=snapshot,
        inst_id=NEAR[0],
        inst_type="SWAP",
        side="long",
        size=Decimal(1),
        size_unit="contracts",
        mark_price=None,
        liq_price=Decimal(NEAR[3]),
        margin_mode="cross",
        liq_distance_pct=None,
        liq_distance_note=NO_MARK,
    )
    evaluate(now=later)

    assert not Delivery.objects.filter(event="recovered").exists()
    assert firing() == ["Near liquidation: desk BTC-USDT-SWAP 5.00% from its liquidation price"]


def test_a_liquidation_learned_late_still_alerts(desk, now):
    """The refresh could not read the account for a day (OKX busy, a key replaced, workers down);
    the liquidation that happened meanwhile is stored now: the 24 hours count from then."""
    mail_channel()
    watched = rule("forced_close", None, severity="critical")
    happened = watched.created_at + timedelta(minutes=1)
    learned = happened + timedelta(hours=25)
    closed(desk, "3", happened, pos_id="77", learned=learned)

    evaluate(now=learned + timedelta(minutes=1))
    assert firing() == ["Liquidated: desk BTC-USDT-SWAP"]
    evaluate(now=learned + timedelta(hours=24, minutes=1))
    assert firing() == []
    assert Delivery.objects.count() == 1


def test_a_first_read_of_an_accounts_history_does_not_alert_on_old_liquidations(now):
    """A rule made long ago; an account added today whose three months of positions history
    hold a liquidation of two months ago: stored today, it is no news."""
    mail_channel()
    rule("forced_close", None)
    RiskRule.objects.update(created_at=now - timedelta(days=90))
    added = Account.objects.create(name="new desk")
    closed(added, "3", now - timedelta(days=60), pos_id="old", learned=now)
    closed(added, "4", now + timedelta(minutes=1), pos_id="new", inst_id="ETH-USDT-SWAP")

    evaluate(now=now + timedelta(minutes=2))

    assert firing() == ["Liquidated in part: new desk ETH-USDT-SWAP"]


def test_another_positions_liquidation_does_not_silence_a_recovery(desk, now):
    """BTC is near liquidation; ETH, another position of the account, is liquidated; then BTC
    moves far from its liquidation price: the BTC alert recovered and says so."""
    mail_channel()
    rule("liq_distance", "10")
    reading(desk, now, positions=(NEAR,))
    evaluate(now=now)
    later = now + timedelta(minutes=1)
    closed(desk, "3", later, pos_id="eth", inst_id="ETH-USDT-SWAP")
    reading(desk, later, positions=(("BTC-USDT-SWAP", "long", "60000", "42000"),))  # 30 % away now
    evaluate(now=later)

    alert = Alert.objects.get()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "recovered")
    assert Delivery.objects.filter(event="recovered").count() == 1


def test_a_firing_alert_follows_a_changed_threshold_quietly_and_recovers_once_beyond_it(desk, now):
    """The key admin lowers the threshold from 150 % to 130 % while the ratio is 120 %: still
    firing, the alert reads "below 130%" with no new message; lowered to 110 %, it recovers."""
    mail_channel()
    watched = rule("margin_ratio", "150")
    reading(desk, now, margin_ratio="1.2")
    evaluate(now=now)
    watched.threshold = Decimal("130")
    watched.save()
    evaluate(now=now + timedelta(seconds=30))

    alert = Alert.objects.get()
    assert alert.title == "Margin ratio 120.0% below 130%: desk"
    assert "below the threshold of 130%." in alert.message
    assert [event for event, _ in events(alert)] == ["firing"]

    watched.threshold = Decimal("110")
    watched.save()
    evaluate(now=now + timedelta(seconds=60))
    evaluate(now=now + timedelta(seconds=90))
    alert.refresh_from_db()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "recovered")
    assert [event for event, _ in events(alert)] == ["firing", "recovered"]
    assert Delivery.objects.get(event="recovered").text.startswith(
        "RECOVERED: Margin ratio 120.0% below 130%: desk. Now: margin ratio 120.0%."
    )


def test_a_near_liquidation_alert_recovers_when_its_position_can_no_longer_be_liquidated(desk, now):
    """OKX's liqPx "0": the position is fully collateralised, a known state (not unknown)."""
    mail_channel()
    rule("liq_distance", "10")
    reading(desk, now, positions=(NEAR,))
    evaluate(now=now)
    reading(desk, now + timedelta(minutes=1), positions=(("BTC-USDT-SWAP", "long", "60000", "0"),))
    evaluate(now=now + timedelta(minutes=1))
    assert Alert.objects.get().resolution == "recovered"


def percents(text: str) -> list[Decimal]:
    """The percentages written in `text`, in order ("149.9%" -> 149.9)."""
    return [Decimal(found.replace(",", "")) for found in re.findall(r"([\d,]+(?:\.\d+)?)%", text)]


def test_a_margin_alert_never_reads_equal_to_the_threshold_it_is_below(desk, now):
    """149.96 % fires under a 150 % rule: rounded down it reads "149.9% below 150%", never
    "150.0% below 150.0%"; the threshold is written as stored."""
    mail_channel()
    rule("margin_ratio", "150")
    reading(desk, now, margin_ratio="1.4996")
    evaluate(now=now)
    alert = Alert.objects.get()
    assert alert.title == "Margin ratio 149.9% below 150%: desk"
    shown, threshold = percents(alert.title)
    assert shown < threshold


def test_a_near_liquidation_alert_never_reads_equal_to_the_threshold_it_is_below(desk, now):
    mail_channel()
    rule("liq_distance", "10")
    reading(desk, now, margin_ratio="5", positions=(("BTC-USDT-SWAP", "long", "100000", "90004"),))  # 9.996 %
    evaluate(now=now)
    first_line = Alert.objects.get().message.splitlines()[0]
    assert "is 9.99% from its estimated liquidation price" in first_line
    assert "below the threshold of 10%." in first_line


def futures_mode(snapshot: Snapshot) -> None:
    """As the refresh stores a Futures-mode answer: no account-level adjEq, imr, mmr; isolated lines."""
    Snapshot.objects.filter(pk=snapshot.pk).update(adj_equity_usd=None, imr_usd=None, mmr_usd=None)
    PositionLine.objects.filter(snapshot=snapshot).update(margin_mode="isolated")


def test_a_futures_margin_alert_ends_when_only_isolated_positions_are_left(desk, now):
    """Futures mode: OKX reports a margin ratio only per currency with a cross position
    (okx-reference.md 8.4). Once the cross position is closed and an isolated one stays open, no
    cross margin is in use: the margin alert recovers, as with mmr 0."""
    mail_channel()
    rule("margin_ratio", "150")
    futures_mode(reading(desk, now, margin_ratio="1.2", risk_note=FUTURES_RATIO.format(ccy="USDT")))
    evaluate(now=now)
    assert Alert.objects.get().state == AlertState.FIRING

    for minutes in (1, 2):  # the cross position is closed; an isolated one, 30 % from liquidation, stays
        at = now + timedelta(minutes=minutes)
        futures_mode(reading(desk, at, risk_note=NO_RATIO_FUTURES, positions=(FAR,)))
        evaluate(now=at)
    alert = Alert.objects.get()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "recovered")
    assert Delivery.objects.get(event="recovered").text == (
        "RECOVERED: Margin ratio 120.0% below 150%: desk. Now: no cross margin in use (Futures mode: "
        "OKX reports no currency's cross margin ratio). No action needed."
    )
