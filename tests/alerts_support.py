"""Helpers for the alerts tests: a local HTTP receiver (a real server on 127.0.0.1 that records
what it was sent and answers with the statuses it is told), channels pointed at it, and risk
figures stored as the refresh stores them (reading())."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.utils import timezone

from accounts.models import Account
from alerts.models import Alert, AlertChannel, ChannelKind, Delivery, DeliveryEvent, new_delivery
from snapshots.models import PositionLine, Snapshot
from snapshots.risk import liq_distance_pct

# Obvious fakes, long enough that a leak of any part of them is easy to search for.
WEBHOOK_SECRET = "FAKE-WEBHOOK-SECRET-0000-aaaa"
SLACK_SECRET = "FAKE-SLACK-SECRET-T000-B000-bbbb"
TELEGRAM_TOKEN = "123456:FAKE-TELEGRAM-TOKEN-cccc"
SECRETS = (WEBHOOK_SECRET, SLACK_SECRET, TELEGRAM_TOKEN)


@dataclass
class Received:
    path: str
    body: dict[str, Any]


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then `status`
    status: int = 200
    reply: str = '{"ok": true}'

    def to(self, path_part: str) -> list[Received]:
        return [r for r in self.requests if path_part in r.path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                state.requests.append(Received(self.path, body))
                status = state.statuses.pop(0) if state.statuses else state.status
            payload = state.reply.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def make_channels(hook: Receiver) -> dict[str, AlertChannel]:
    """One channel of every kind: e-mail (locmem in the tests) and three webhooks at `hook`."""
    email = AlertChannel.objects.create(
        name="team mail", kind=ChannelKind.EMAIL, recipients="ops@example.com"
    )
    webhook = AlertChannel(name="generic hook", kind=ChannelKind.WEBHOOK)
    webhook.set_url(f"{hook.url}/webhook/{WEBHOOK_SECRET}")
    slack = AlertChannel(name="slack room", kind=ChannelKind.SLACK)
    slack.set_url(f"{hook.url}/slack/{SLACK_SECRET}")
    telegram = AlertChannel(
        name="telegram chat", kind=ChannelKind.TELEGRAM, chat_id="-100200300", api_base_url=hook.url
    )
    telegram.set_token(TELEGRAM_TOKEN)
    for channel in (webhook, slack, telegram):
        channel.save()
    return {"email": email, "webhook": webhook, "slack": slack, "telegram": telegram}


def stale_alert() -> Alert:
    """A firing "account stale" alert on a new account "desk" (saved)."""
    now = timezone.now()
    account = Account.objects.create(name="desk")
    return Alert.objects.create(
        rule="account_stale",
        subject=f"account:{account.pk}",
        stage="stale",
        account=account,
        title="Account stale: desk",
        message="desk has not been refreshed.",
        opened_at=now,
        changed_at=now,
    )


def firing_delivery(channel: AlertChannel) -> Delivery:
    """stale_alert() and its delivery to `channel` (saved, due now): what the delivery tests send
    through deliver_due()."""
    alert = stale_alert()
    delivery = new_delivery(alert, channel, DeliveryEvent.FIRING, "Account stale: desk", "text")
    delivery.save()
    return delivery


def reading(
    account: Account,
    at: datetime,
    *,
    margin_ratio: str | None = None,
    positions: tuple[tuple[str, str, str, str], ...] = (),
    via_master: bool = False,
    risk_note: str = "",
    mmr_usd: str = "5000",
) -> Snapshot:
    """A snapshot of `account` taken at `at` with OKX's mgnRatio `margin_ratio` (a ratio: "1.2"
    is 120 %), maintenance margin `mmr_usd` and open positions given as (inst_id, side, mark
    price, liquidation price), their distance to liquidation computed as the refresh computes it
    (snapshots.risk)."""
    snapshot = Snapshot.objects.create(
        account=account,
        cycle=int(at.timestamp() * 1000),
        taken_at=at,
        total_equity_usd=Decimal(100_000),
        adj_equity_usd=Decimal(100_000),
        imr_usd=Decimal(20_000),
        mmr_usd=Decimal(mmr_usd),
        margin_ratio=None if margin_ratio is None else Decimal(margin_ratio),
        risk_note=risk_note,
        via_master=via_master,
    )
    for inst_id, side, mark, liq in positions:
        pct, note = liq_distance_pct(side, Decimal(mark), Decimal(liq))
        PositionLine.objects.create(
            snapshot=snapshot,
            inst_id=inst_id,
            inst_type="SWAP",
            side=side,
            size=Decimal(1),
            size_unit="contracts",
            mark_price=Decimal(mark),
            liq_price=Decimal(liq),
            margin_mode="cross",
            liq_distance_pct=pct,
            liq_distance_note=note,
        )
    return snapshot
