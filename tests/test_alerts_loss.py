"""The loss rule (AlertSettings.equity_drop): an account's loss over the last 24 hours, net of
transfers, past X % of its equity at the start of those 24 hours. Money moved out is not a loss,
money paid in does not hide one; a loss fires once to every channel and its recovery resolves it
once. Snapshots and ledger rows are written as the workers write them; the channels post to a
local receiver (tests/alerts_support.py) and e-mail goes to Django's locmem outbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Account, AccountKind, Credential, CredentialStatus
from alerts.engine import deliver_due, evaluate
from alerts.models import Alert, AlertSettings, AlertState, Delivery
from ledger.models import FlowKind
from snapshots.models import Snapshot
from tests.alerts_support import make_channels, receiver
from tests.ledger_support import stored_flow
from tests.test_pages_queries import give_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def desks(now):
    """ "desk" held 100,000 USD half an hour before the 24-hour window and "desk-sub" nothing; the
    rule is on at 5 %."""
    AlertSettings.objects.update_or_create(pk=1, defaults={"equity_drop": True, "equity_drop_percent": 5})
    desk = Account.objects.create(name="desk", kind=AccountKind.MASTER)
    sub = Account.objects.create(name="desk-sub", kind=AccountKind.SUB, master=desk, sub_acct_name="desksub")
    snap(desk, now - timedelta(hours=24, minutes=30), "100000")
    snap(sub, now - timedelta(hours=24, minutes=30), "0")
    return desk, sub


def snap(account: Account, at, equity: str) -> None:
    Snapshot.objects.create(
        account=account, cycle=int(at.timestamp()), taken_at=at, total_equity_usd=Decimal(equity)
    )


def transfer(source: Account, target: Account, at, amount: str, bill_id: str) -> None:
    """A master-to-sub transfer as ledger.sync stores it: one row on each side (USDT at 1 USD)."""
    for account, other, kind, sign in (
        (source, target, FlowKind.TRANSFER_OUT, -1),
        (target, source, FlowKind.TRANSFER_IN, 1),
    ):
        stored_flow(account, kind, str(Decimal(amount) * sign), at, bill_id, counterparty=other)


def firing() -> list[tuple[str, str]]:
    """The loss rule's firing alerts (a desk without a fresh snapshot is also "stale")."""
    return sorted(Alert.objects.firing().filter(rule="equity_drop").values_list("rule", "subject"))


def test_a_transfer_out_of_half_the_equity_does_not_fire(desks, now):
    desk, sub = desks
    transfer(desk, sub, now - timedelta(hours=2), "50000", "b1")
    snap(desk, now - timedelta(seconds=30), "50000")  # half of it moved to the sub-account
    snap(sub, now - timedelta(seconds=30), "50000")
    evaluate(now=now)
    assert firing() == []


def test_a_real_10_percent_loss_fires_once_and_its_recovery_resolves_once(desks, now):
    desk, sub = desks
    with receiver() as hook:
        channels = make_channels(hook)
        transfer(desk, sub, now - timedelta(hours=2), "50000", "b1")
        snap(sub, now - timedelta(seconds=30), "50000")
        snap(desk, now - timedelta(seconds=30), "40000")  # 50,000 moved out, 10,000 lost
        evaluate(now=now)
        evaluate(now=now + timedelta(seconds=10))
        deliver_due()
        assert firing() == [("equity_drop", f"account:{desk.pk}")]
        alert = Alert.objects.get(rule="equity_drop")
        assert alert.title == "Loss: desk lost 10.0 % in 24 h, net of transfers"
        assert alert.message.startswith(
            "desk lost 10,000.00 USD over the last 24 hours, net of transfers: 10.0 % of its equity of "
            "100,000.00 USD at "
        )
        assert "(threshold 5.00 %)" in alert.message
        inflow = "Net inflow in the window (deposits, withdrawals and transfers, not counted as loss)"
        assert f"{inflow}: -50,000.00 USD" in alert.message
        assert Delivery.objects.filter(event="firing").count() == len(channels)  # once per channel
        assert len(hook.to("/webhook/")) == 1 and len(mail.outbox) == 1
        assert "net of transfers" in mail.outbox[0].subject

        later = now + timedelta(minutes=1)
        snap(desk, later - timedelta(seconds=10), "49000")  # 1,000 below: 1 %, under the threshold
        evaluate(now=later)
        evaluate(now=later + timedelta(seconds=10))
        deliver_due()
    alert.refresh_from_db()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, "recovered")
    assert list(Delivery.objects.filter(channel=channels["webhook"]).values_list("event", flat=True)) == [
        "firing",
        "recovered",
    ]
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.endswith("Recovered: " + alert.title)


def test_a_deposit_does_not_hide_a_loss(desks, now):
    desk, _ = desks
    stored_flow(desk, FlowKind.DEPOSIT, "20000", now - timedelta(hours=3), "d1", ccy="USDC", state="2")
    snap(desk, now - timedelta(seconds=30), "108000")  # up 8,000 on paper, 12,000 lost in fact
    evaluate(now=now)
    assert firing() == [("equity_drop", f"account:{desk.pk}")]
    assert (
        "desk lost 12,000.00 USD over the last 24 hours, net of transfers: 12.0 %"
        in Alert.objects.get(rule="equity_drop").message
    )


def test_a_loss_that_cannot_be_valued_neither_fires_nor_resolves(desks, now):
    """An unpriced flow makes the PnL unknown: the rule holds the account (never reads it as 0)."""
    desk, _ = desks
    snap(desk, now - timedelta(seconds=30), "80000")
    evaluate(now=now)
    assert firing() == [("equity_drop", f"account:{desk.pk}")]
    stored_flow(
        desk,
        FlowKind.WITHDRAWAL,
        "-5",
        now - timedelta(hours=1),
        "w1",
        usd=None,
        ccy="XYZ",
        state="2",
        usd_basis="no USD price for XYZ",
    )
    evaluate(now=now + timedelta(seconds=10))
    assert firing() == [("equity_drop", f"account:{desk.pk}")]  # held, not resolved


def test_a_sub_account_whose_master_key_is_gone_neither_fires_nor_resolves(desks, now):
    """The sub-account's transfers with its master are read with the master's key only: without
    it, 3,000 sent to the master would read as a 10 % loss. The PnL is unknown, the rule holds."""
    desk, sub = desks
    give_key(sub)
    master_key = give_key(desk)
    snap(sub, now - timedelta(hours=24, minutes=20), "30000")
    snap(sub, now - timedelta(seconds=30), "27000")  # a loss while the master's history is read
    snap(desk, now - timedelta(seconds=30), "100000")
    evaluate(now=now)
    assert firing() == [("equity_drop", f"account:{sub.pk}")]
    Credential.objects.filter(pk=master_key.pk).update(status=CredentialStatus.RETIRED)
    evaluate(now=now + timedelta(seconds=10))
    assert firing() == [("equity_drop", f"account:{sub.pk}")]  # held, not resolved
    Alert.objects.all().delete()
    evaluate(now=now + timedelta(seconds=20))
    assert firing() == []  # nor opened


def test_a_start_reading_days_old_is_not_judged_as_a_24_hour_loss(now):
    """Readings three days and one minute ago, nothing between: the 10 % fall spans three days,
    not the last 24 hours, so the rule holds the account rather than say "lost 10.0 % in 24 h"."""
    AlertSettings.objects.update_or_create(pk=1, defaults={"equity_drop": True, "equity_drop_percent": 5})
    desk = Account.objects.create(name="desk", kind=AccountKind.MASTER)
    snap(desk, now - timedelta(days=3), "100000")
    snap(desk, now - timedelta(minutes=1), "90000")
    evaluate(now=now)
    assert firing() == []
    snap(desk, now - timedelta(hours=24, minutes=20), "100000")  # one near the window's start: judged
    snap(desk, now - timedelta(seconds=30), "90000")
    evaluate(now=now + timedelta(seconds=10))
    assert firing() == [("equity_drop", f"account:{desk.pk}")]
