"""Page speed at scale: server time and SQL queries of the pages and the API with a year of history.

    .venv/bin/python -m dashboard.runtime.launcher run -- .venv/bin/python -m bench.pages [--accounts 500]

Data: --accounts accounts (a master and sub-accounts, each with a key), each with a year of
history after retention (bench/history.py: 12,347 snapshots and 37,041 balance lines per
account), one open position on every third account's latest snapshot, and 100,000 ApiError rows.
Requests go through Django's test Client in this process (middleware, views, templates, the
database; no network), signed in as a viewer, with DEBUG off for the views. Each page is asked
--repeat times after two warm-up requests (the first, cold time is shown too); the SQL count is
taken again with only --small accounts active, to show it does not grow with N.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

from bench import harness

ERROR_ROWS = 100_000
CODES = ("50011", "50113", "50102", "50001", "50105", "50100", "50110", "51000")
TARGET_P95_MS = 100  # issue 22


def seed(n_accounts: int, history_accounts: int) -> dict[str, float]:
    """Accounts, history, positions and errors; returns the seconds each part took."""
    from accounts.models import Account, Credential
    from bench.accounts import create_accounts
    from bench.history import copy_template, write_template
    from okxsim import Scenario

    took: dict[str, float] = {}
    started = time.monotonic()
    ids = create_accounts(
        Scenario.generate(n_accounts - 1), "http://127.0.0.1:9", prefix="pages", own_keys=True
    )
    _key_health(Credential)
    took["accounts"] = time.monotonic() - started
    started = time.monotonic()
    now = _now()
    empty = database_bytes()
    template = write_template(Account.objects.get(pk=ids[0]), now)
    took["template"] = time.monotonic() - started
    copy_template(template, ids[0], ids[1:history_accounts])
    took["history"] = time.monotonic() - started
    took["history_bytes"] = database_bytes() - empty
    started = time.monotonic()
    _positions(ids)
    _errors(ids)
    took["errors"] = time.monotonic() - started
    _analyze()
    return took


def _analyze() -> None:
    """PostgreSQL's statistics of the tables just filled, as autovacuum keeps them on a running
    site: without them the first plans are made for empty tables."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")


def _now():
    from django.utils import timezone

    # A minute ahead: the pages are read a few minutes after seeding; the data must still be fresh.
    return timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)


def _key_health(credential_model) -> None:
    """Some keys in grace or failing with warnings, as a keys page would show."""
    warning = {
        "code": "rotation_due",
        "message": "Rotate this key (older than 90 days).",
        "date": "2026-01-01",
        "severity": "warning",
    }
    pks = list(credential_model.objects.values_list("pk", flat=True))
    credential_model.objects.filter(pk__in=pks[::7]).update(health_status="grace", warnings=[warning])
    credential_model.objects.filter(pk__in=pks[3::11]).update(health_status="failing", warnings=[warning])
    credential_model.objects.exclude(health_status__in=("grace", "failing")).update(health_status="ok")


def _positions(ids: list[int]) -> None:
    from snapshots.models import PositionLine, Snapshot

    latest = Snapshot.objects.filter(account_id__in=ids[::3]).order_by("account_id", "-taken_at")
    newest: dict[int, int] = {}
    for account_id, sid in latest.values_list("account_id", "id").iterator():
        newest.setdefault(account_id, sid)
    PositionLine.objects.bulk_create(
        PositionLine(
            snapshot_id=sid, inst_id="BTC-USDT-SWAP", inst_type="SWAP", side="net", size=5,
            avg_price=64000, mark_price=65000, upl=50, upl_ratio="0.01", leverage=3,
            margin_mode="cross", notional_usd=3250,
        )
        for sid in newest.values()
    )  # fmt: skip


def _errors(ids: list[int]) -> None:
    """ERROR_ROWS rows: a thousand written from Python, then copied inside the database onto the
    other accounts (ids are contiguous: they were bulk-created)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.history import ApiError
    from bench.history import copy_sql
    from okxapi import diagnose

    rng, now, block = random.Random(5), timezone.now(), 1000
    diagnoses = {code: diagnose(code) for code in CODES}
    rows = []
    for i in range(block):
        code, seen = CODES[i % len(CODES)], now - timedelta(minutes=rng.randint(0, 365 * 1440))
        d = diagnoses[code]
        rows.append(
            ApiError(
                account_id=ids[i % len(ids)], endpoint="/api/v5/account/balance", http_status=400, code=code,
                message=f"bench error {code}", category=d.category, meaning=d.meaning, steps=list(d.steps),
                first_seen=seen, last_seen=seen, count=1 + i % 4, acknowledged=i % 3 == 0,
            )
        )  # fmt: skip
    ApiError.objects.bulk_create(rows)
    shifted = "(e.account_id - %(first)s + %(k)s) %% %(n)s + %(first)s"
    sql = copy_sql(ApiError, "e", {"id": None, "account_id": shifted, "credential_id": "NULL"})
    sql += " WHERE e.id <= %(last)s"
    last = ApiError.objects.order_by("-id").values_list("id", flat=True).first()
    with transaction.atomic(), connection.cursor() as cursor:
        for k in range(1, ERROR_ROWS // block):
            cursor.execute(sql, {"first": ids[0], "n": len(ids), "k": k * 7, "last": last})


def pages(account_id: int) -> list[tuple[str, str]]:
    from django.urls import reverse

    return [
        ("overview", reverse("pages:overview")),
        ("overview fragment (polled)", reverse("pages:overview_fragment")),
        ("account, 90-day chart", reverse("pages:account", args=[account_id]) + "?range=90d"),
        ("keys", reverse("pages:keys")),
        ("errors (100,000 rows)", reverse("pages:errors")),
        ("API accounts", "/api/v1/accounts"),
    ]


def timed(client, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed, len(response.content)


def queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        timed(client, url)
    return len(captured)


def measure(client, account_id: int, repeat: int) -> list[dict[str, object]]:
    results = []
    for name, url in pages(account_id):
        cold, size = timed(client, url)
        timed(client, url)
        times = sorted(timed(client, url)[0] for _ in range(repeat))
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        results.append({"name": name, "url": url, "cold": cold, "p50": statistics.median(times), "p95": p95,
                        "queries": queries(client, url), "size": size})  # fmt: skip
        print(f"  {name}: p50 {results[-1]['p50']:.0f} ms, p95 {p95:.0f} ms", flush=True)
    return results


def warm() -> tuple[float, float]:
    """What beat's warm-charts and warm-pnl tasks do before the pages are read (snapshots/tasks.py,
    dashboard/tasks.py); the seconds each took."""
    from dashboard.tasks import warm_pnl
    from snapshots.tasks import warm_charts

    started = time.perf_counter()
    ranges = warm_charts()
    charts = time.perf_counter() - started
    print(f"  warm-charts ({', '.join(ranges)}): {charts:.1f} s", flush=True)
    started = time.perf_counter()
    warm_pnl()
    pnl = time.perf_counter() - started
    print(f"  warm-pnl: {pnl:.1f} s", flush=True)
    return charts, pnl


def small_query_counts(client, account_id: int, keep: int) -> dict[str, int]:
    """The same pages with only `keep` accounts active (the SQL count must not change)."""
    from accounts.models import Account

    active = list(Account.objects.filter(active=True).order_by("pk").values_list("pk", flat=True))
    Account.objects.filter(pk__in=active[keep:]).update(active=False)
    try:
        return {name: queries(client, url) for name, url in pages(account_id)}
    finally:
        Account.objects.filter(pk__in=active).update(active=True)


def database_bytes() -> int:
    """Bytes of the snapshot and balance-line tables with their indexes."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = ("dashboard_snapshot", "dashboard_balanceline")
            cursor.execute("SELECT pg_total_relation_size(%s) + pg_total_relation_size(%s)", tables)
            return int(cursor.fetchone()[0])
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(settings.DATABASES["default"]["NAME"])


HEADERS = [
    "page",
    "p50",
    "p95",
    "first (cold)",
    "SQL queries",
    "SQL queries with {small} accounts",
    "response size",
]


def report(
    args, database: str, took: dict[str, float], results, small: dict[str, int], size: int, total: float
) -> str:
    from snapshots.models import BalanceLine, Snapshot

    snapshots, lines = Snapshot.objects.count(), BalanceLine.objects.count()
    days = args.history_accounts * 365
    headers = [h.format(small=args.small) for h in HEADERS]
    rows = [
        [r["name"], f"{r['p50']:.0f} ms", f"{r['p95']:.0f} ms", f"{r['cold']:.0f} ms", r["queries"],
         small[r["name"]], f"{r['size'] / 1024:.0f} KiB"]
        for r in results
    ]  # fmt: skip
    misses = [r["name"] for r in results if r["p95"] >= TARGET_P95_MS]
    verdict = f"p95 target {TARGET_P95_MS} ms: " + (
        f"missed by {', '.join(misses)}" if misses else "met by every page"
    )
    return "\n\n".join(
        [
            f"## Pages at scale ({database})",
            harness.header(database),
            f"{args.accounts} accounts; {args.history_accounts} of them with a year of history after "
            "retention: "
            f"{snapshots:,} snapshots and {lines:,} balance lines; {ERROR_ROWS:,} ApiError rows. "
            + _seeding(took)
            + f" Django test Client in-process, DEBUG off, {args.repeat} requests per page after 2 warm-ups.",
            harness.table(headers, rows),
            verdict + ".",
            (
                f"Before the requests, the warm-charts task (run by beat every refresh interval) computed "
                f"the cached all-accounts series of every range in {args.warm_seconds[0]:.1f} s, and "
                f"the warm-pnl task the overview's PnL (every account's, the team's and its calendar) in "
                f"{args.warm_seconds[1]:.1f} s; the "
                "overview's first (cold) time is the first request after it."
                if args.warm_seconds is not None
                else "Without the warm-charts and warm-pnl tasks: the overview's first request computes "
                'the series, and its PnL says "computing".'
            ),
            (
                f"Database size: {size / 1e9:.2f} GB for the history, "
                f"{size / days / 1024:.1f} KiB per account "
                f"per day of history (snapshots, balance lines and their indexes"
                + (
                    ")."
                    if "PostgreSQL" in database
                    else "; growth of the SQLite file, after WAL checkpoints)."
                )
                if size
                else "Database size: not measured (database kept from an earlier run)."
            ),
            f"Run time of this benchmark: {total:.0f} s.",
        ]
    )


def _seeding(took: dict[str, float]) -> str:
    if took.get("reused"):
        moved = took["history"]
        return f"Database kept from an earlier run (--reuse), its history moved forward in {moved:.0f} s."
    return (
        f"Seeding took {took['accounts']:.0f} s (accounts), {took['history']:.0f} s (history), "
        f"{took['errors']:.0f} s (positions, errors)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument(
        "--history-accounts", type=int, default=None, help="accounts with history (default all)"
    )
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--no-warm",
        dest="warm",
        action="store_false",
        help="do not run the warm-charts and warm-pnl tasks first (the first overview then computes the\n"
        "cached series, and its PnL says computing)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep var/bench-pages.sqlite3 (or the <name>_pages_bench database) and, when it is already\n"
        "seeded, skip seeding (its history is moved forward to end now); implies --no-docs",
    )
    args = parser.parse_args()
    args.history_accounts = min(args.history_accounts or args.accounts, args.accounts)
    args.no_docs = args.no_docs or args.reuse
    started = time.monotonic()
    database = reuse_django() if args.reuse else harness.setup_django("pages")
    took = reseed() if args.reuse and _seeded() else seed(args.accounts, args.history_accounts)
    size = int(took.pop("history_bytes"))
    print(f"[bench] seeded: {took} (seconds)", flush=True)
    results, small = run_requests(args)
    text = report(args, database, took, results, small, size, time.monotonic() - started)
    print(text)
    if not args.no_docs:
        harness.write_section("pages-" + ("postgresql" if "PostgreSQL" in database else "sqlite"), text)


def reuse_django() -> str:
    """The previous run's database, migrated (a kept database saves minutes of seeding)."""
    if os.environ.get("DATABASE_URL"):
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(os.environ["DATABASE_URL"])
        name = f"{parts.path.lstrip('/') or 'okxdash'}_pages_bench"
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    else:
        os.environ["SQLITE_PATH"] = str(harness.BASE_DIR / "var" / "bench-pages.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    # The benchmarks' simulators run on 127.0.0.1: accounts may send keys there only through this.
    os.environ.setdefault("OKX_EXTRA_BASE_URLS", "http://127.0.0.1")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection

    if connection.vendor == "postgresql":
        return f"PostgreSQL {connection.cursor().connection.info.server_version // 10000}, reused"
    return "SQLite (WAL), reused"


def _seeded() -> bool:
    from snapshots.models import Snapshot

    return Snapshot.objects.exists()


def reseed() -> dict[str, float]:
    """Move the kept history forward so its newest snapshot is a minute ahead again (as seeded)."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import Max

    from snapshots.models import Snapshot

    started = time.monotonic()
    User.objects.filter(username="bench-viewer").delete()
    shift = int((_now() - Snapshot.objects.aggregate(m=Max("taken_at"))["m"]).total_seconds())
    if shift > 0:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "UPDATE dashboard_snapshot SET taken_at = taken_at + make_interval(secs => %s)", [shift]
                )
            else:
                moved = "strftime('%%Y-%%m-%%d %%H:%%M:%%S', taken_at, %s)"
                sql = f"UPDATE dashboard_snapshot SET taken_at = {moved}"  # noqa: S608 (constant text)
                cursor.execute(sql, [f"+{shift} seconds"])
        # Every row was just rewritten: without this the pages read a table of dead rows and stale
        # statistics, as no running site does (autovacuum would, minutes later).
        _analyze()
    took = time.monotonic() - started
    return {"accounts": 0.0, "history": took, "errors": 0.0, "history_bytes": 0.0, "reused": 1.0}


def run_requests(args) -> tuple[list[dict[str, object]], dict[str, int]]:
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.test.utils import override_settings

    from accounts.models import Account
    from accounts.roles import VIEWER
    from dashboard import gctuning

    user = User.objects.create_user("bench-viewer", password=None)
    user.groups.add(Group.objects.get(name=VIEWER))
    client = Client()
    client.force_login(user)
    account_id = Account.objects.filter(active=True).order_by("pk").values_list("pk", flat=True)[1]
    with override_settings(DEBUG=False):
        args.warm_seconds = warm() if args.warm else None
        gctuning.tune()  # as a web worker does once loaded (dashboard/wsgi.py)
        results = measure(client, account_id, args.repeat)
        small = small_query_counts(client, account_id, args.small)
    return results, small


if __name__ == "__main__":
    main()
