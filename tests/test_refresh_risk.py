"""The refresh stores OKX's risk figures (issue 20): what a trader checks on the account page is
what OKX reports, read with the account's own key or, for a sub-account without one, through its
master (the same balance schema): margin ratio, adjusted equity, initial and maintenance margin;
per position the ADL rank, margin ratio and distance to the liquidation price; a derived figure
too large to store is unknown with its reason and never costs the snapshot. Then how
snapshots.risk reads them back: the account's nearest liquidation is unknown when a position's
distance is unknown for a data reason; positions that cannot be liquidated by themselves do not
make it unknown."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from okxapi import Balance
from okxapi.validation import Fields
from okxsim import Scenario
from snapshots.models import PositionLine, Snapshot
from snapshots.refresh import (
    FUTURES_RATIO,
    NO_RATIO,
    NO_RATIO_FUTURES,
    NO_RATIO_NO_MMR,
    UPL_BEYOND,
    margin_ratio,
    refresh_account,
)
from snapshots.risk import DISTANCE_BEYOND, NO_LIQ_PRICE, NO_MARK, account_risk, liq_distance_pct, percent
from tests.alerts_support import reading
from tests.workers_support import add_account, direct_client, frozen

pytestmark = pytest.mark.django_db

FUTURES, MULTI_CURRENCY = "2", "3"  # acctLv (okx-reference.md 8.4)


def in_mode(acct_lv: str, *names: str) -> Scenario:
    """The demo, prices held still, with the named accounts in account mode `acct_lv`."""
    scenario = frozen()
    accounts = [replace(a, acct_lv=acct_lv) if a.name in names else a for a in scenario.accounts]
    return replace(scenario, accounts=accounts)


def latest(account) -> Snapshot:
    return Snapshot.objects.filter(account=account).latest("taken_at")


def refreshed(account, cycle: int = 1) -> Snapshot:
    outcome = refresh_account(account.pk, cycle=cycle)
    assert outcome.status == "ok", outcome
    return latest(account)


def account_figures(snapshot: Snapshot) -> tuple:
    return (snapshot.adj_equity_usd, snapshot.imr_usd, snapshot.mmr_usd, snapshot.margin_ratio)


def okx_figures(balance: Balance) -> tuple:
    return (balance.adj_eq, balance.imr, balance.mmr, balance.mgn_ratio)


def test_an_own_key_refresh_stores_the_accounts_margin_figures_as_okx_reports_them(make_simulator):
    sim = make_simulator(frozen())  # the demo's master is in Multi-currency margin mode
    main = add_account(sim, "main")

    snapshot = refreshed(main)

    okx = direct_client(sim, "main").get_balance()
    assert okx.mgn_ratio is not None and okx.mmr  # it has cross positions
    assert account_figures(snapshot) == okx_figures(okx)
    assert snapshot.risk_note == ""


@pytest.mark.parametrize("acct_lv", [MULTI_CURRENCY, FUTURES])
def test_a_sub_account_without_a_key_gets_its_figures_from_the_masters_sub_account_balance(
    make_simulator, acct_lv
):
    sim = make_simulator(in_mode(acct_lv, "alpha-desk"))
    main = add_account(sim, "main")
    alpha = add_account(sim, "alpha-desk", master=main, keyless=True)

    snapshot = refreshed(alpha)

    okx = direct_client(sim, "main").get_subaccount_balance("alpha-desk")
    assert snapshot.via_master
    assert (snapshot.adj_equity_usd, snapshot.imr_usd, snapshot.mmr_usd) == okx_figures(okx)[:3]
    assert (snapshot.margin_ratio, snapshot.risk_note) == margin_ratio(okx)
    assert snapshot.margin_ratio is not None  # its cross BTC-USD-SWAP has a ratio in either mode


def test_an_account_without_maintenance_margin_has_no_ratio_and_says_why(make_simulator):
    sim = make_simulator(in_mode(MULTI_CURRENCY, "beta-readonly"))
    main = add_account(sim, "main")
    beta = add_account(sim, "beta-readonly", master=main)  # no positions in the demo

    snapshot = refreshed(beta)

    assert direct_client(sim, "beta-readonly").get_balance().mmr == 0
    assert (snapshot.margin_ratio, snapshot.risk_note) == (None, NO_RATIO_NO_MMR)


def test_in_futures_mode_the_per_currency_ratio_is_stored_and_named(make_simulator):
    sim = make_simulator(frozen())  # alpha-desk is in Futures mode (acctLv 2)
    main = add_account(sim, "main")
    alpha = add_account(sim, "alpha-desk", master=main)

    snapshot = refreshed(alpha)

    okx = direct_client(sim, "alpha-desk").get_balance()
    (btc,) = [d for d in okx.details if d.mgn_ratio is not None]  # its cross positions margin BTC
    assert okx_figures(okx) == (None, None, None, None)
    assert account_figures(snapshot) == (None, None, None, btc.mgn_ratio)
    assert snapshot.risk_note == FUTURES_RATIO.format(ccy="BTC")


def test_in_futures_mode_without_a_cross_position_there_is_no_ratio_and_the_note_says_so(make_simulator):
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    beta = add_account(sim, "beta-readonly", master=main)  # Futures mode, no position

    snapshot = refreshed(beta)

    assert account_figures(snapshot) == (None, None, None, None)
    assert snapshot.risk_note == NO_RATIO_FUTURES


def balance(details: list[dict] | None = None, **fields: str) -> Balance:
    row = {"totalEq": "1000", "uTime": "1700000000000", "details": details or [], **fields}
    return Balance.from_okx(Fields(row, "data[0]"))


def test_in_futures_mode_the_lowest_of_several_currency_ratios_is_the_accounts():
    details = [{"ccy": "BTC", "eq": "1", "mgnRatio": "8.5"}, {"ccy": "USDT", "eq": "900", "mgnRatio": "2.25"}]

    assert margin_ratio(balance(details)) == (Decimal("2.25"), FUTURES_RATIO.format(ccy="USDT"))


@pytest.mark.parametrize(
    ("fields", "ratio", "note"),
    [
        ({"mgnRatio": "12.5", "adjEq": "1000", "mmr": "80"}, Decimal("12.5"), ""),
        ({"mgnRatio": "", "adjEq": "1000", "mmr": "0"}, None, NO_RATIO_NO_MMR),
        ({"mgnRatio": "", "adjEq": "", "mmr": ""}, None, NO_RATIO_FUTURES),
        ({"mgnRatio": "", "adjEq": "1000", "mmr": "80"}, None, NO_RATIO),
    ],
)
def test_the_ratio_is_picked_as_okxs_balance_table_says(fields, ratio, note):
    assert margin_ratio(balance(**fields)) == (ratio, note)


def distance(side: str, mark: Decimal, liq: Decimal) -> Decimal:
    """How far the mark may move against the position before it reaches liqPx, in % of the mark
    (4 places, rounded down: never shown farther than it is)."""
    gap = mark - liq if side == "long" else liq - mark
    return (gap / mark * 100).quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)


def test_each_position_stores_its_adl_rank_margin_ratio_and_distance_to_liquidation(make_simulator):
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    alpha = add_account(sim, "alpha-desk", master=main)
    refreshed(main)
    refreshed(alpha)

    okx = {
        p.inst_id: p
        for name in ("main", "alpha-desk")
        for p in direct_client(sim, name).get_positions()
        if p.is_open
    }
    lines = {line.inst_id: line for line in PositionLine.objects.filter(snapshot__account__in=[main, alpha])}
    # The inverse BTC-USD-SWAP long (cross) and the ETH-USDT-SWAP short (isolated) have a liqPx;
    # the option has none ("Not applicable to OPTION").
    long, short = lines["BTC-USD-SWAP"], lines["ETH-USDT-SWAP"]
    option = lines["BTC-USD-270326-60000-C"]
    assert (long.side, short.side, option.inst_type) == ("long", "short", "OPTION")
    for line in (long, short):
        p = okx[line.inst_id]
        assert line.liq_price is not None and line.mark_price is not None
        assert line.liq_distance_pct == distance(line.side, p.mark_px, p.liq_px) > 0
        assert line.liq_distance_note == ""
    assert long.liq_price < long.mark_price  # a long is liquidated below the mark
    assert short.liq_price > short.mark_price  # a short is liquidated above the mark
    for line in lines.values():  # whatever has no liqPx (an option, a cross position its account
        if okx[line.inst_id].liq_px is None:  # can carry at any price) is not applicable, not 0
            assert (line.liq_distance_pct, line.liq_distance_note) == (None, NO_LIQ_PRICE)
    assert option.liq_distance_pct is None
    for line in lines.values():
        assert (line.adl, line.margin_ratio) == (okx[line.inst_id].adl, okx[line.inst_id].mgn_ratio)


POSITIONS = "/api/v5/account/positions"


def test_a_short_far_from_its_liquidation_price_does_not_cost_the_account_its_snapshot(make_simulator):
    """A short on a coin priced 0.00000001 whose liqPx is 100: both pass okxapi's checks; the
    distance, 999,999,999,900 %, is stored (the default 28-digit context could not round it to
    the column's places, and the whole reading was refused)."""
    sim = make_simulator(frozen())
    main = add_account(sim, "main")  # holds an ETH-USDT-SWAP short
    sim.inject_fault(POSITIONS, fields={"markPx": "0.00000001", "liqPx": "100"})

    snapshot = refreshed(main)

    short = snapshot.positions.get(inst_id="ETH-USDT-SWAP")
    assert (short.side, short.liq_distance_pct, short.liq_distance_note) == (
        "short",
        Decimal("999999999900"),
        "",
    )


def test_a_pnl_in_usd_beyond_what_can_be_stored_is_unknown_with_why_and_the_snapshot_stands(make_simulator):
    sim = make_simulator(frozen())
    main = add_account(sim, "main")
    sim.inject_fault(POSITIONS, fields={"upl": "99999999999999999999", "usdPx": "100000"})

    snapshot = refreshed(main)

    swap = snapshot.positions.get(inst_id="ETH-USDT-SWAP")
    assert (swap.upl, swap.upl_usd, swap.upl_usd_basis) == (Decimal("99999999999999999999"), None, UPL_BEYOND)


@pytest.mark.parametrize(
    ("side", "mark", "liq", "expected"),
    [
        ("short", "3000", "3150", (Decimal(5), "")),
        ("long", "60000", "66000", (Decimal(0), "")),  # past it
        ("short", "0.000000000000000001", "99999999999999999999", (None, DISTANCE_BEYOND)),
        ("long", "60000", "0", (None, NO_LIQ_PRICE)),  # OKX's "0": cannot be liquidated
    ],
)
def test_the_distance_to_liquidation_never_raises_and_says_why_it_is_none(side, mark, liq, expected):
    assert liq_distance_pct(side, Decimal(mark), Decimal(liq)) == expected


def test_a_margin_ratio_in_percent_keeps_every_digit():
    ratio = Decimal("12345678901234567890.123456789012345678")  # as large and long as OKX may send
    assert percent(ratio) == Decimal("1234567890123456789012.3456789012345678")


# -- reading back: snapshots.risk.account_risk ------------------------------------------------------
NEAR = ("BTC-USDT-SWAP", "long", "60000", "57000")  # 5 % away
FAR = ("ETH-USDT-SWAP", "short", "3000", "4500")  # 50 % away


def unknown_line(snapshot: Snapshot, inst_id: str, note: str) -> None:
    """A long whose distance the refresh could not take (e.g. no mark price), with its reason."""
    PositionLine.objects.create(
        snapshot=snapshot,
        inst_id=inst_id,
        inst_type="SWAP",
        side="long",
        size=Decimal(2),
        size_unit="contracts",
        mark_price=None,
        liq_price=Decimal("57000"),
        margin_mode="cross",
        liq_distance_pct=None,
        liq_distance_note=note,
    )


@pytest.fixture
def desk():
    return Account.objects.create(name="desk")


def test_the_nearest_positions_unknown_reason_is_the_one_the_refresh_stored(desk):
    unknown_line(reading(desk, timezone.now(), margin_ratio="3"), "BTC-USDT-SWAP", NO_MARK)

    risk = account_risk([desk.pk])[desk.pk]

    assert (risk.nearest_distance_pct, risk.nearest_inst_id, risk.nearest_note) == (
        None,
        "BTC-USDT-SWAP",
        NO_MARK,
    )
    assert risk.distance_level == "unknown" and not risk.liquidation_not_applicable


def test_a_far_position_is_not_the_nearest_while_another_ones_distance_is_unknown(desk):
    """The position without a mark price may be the nearest: the account's nearest is unknown."""
    unknown_line(reading(desk, timezone.now(), positions=(FAR,)), "SOL-USDT-SWAP", NO_MARK)

    risk = account_risk([desk.pk])[desk.pk]

    assert (risk.nearest_distance_pct, risk.nearest_inst_id, risk.nearest_note) == (
        None,
        "SOL-USDT-SWAP",
        NO_MARK,
    )


def test_positions_that_cannot_be_liquidated_by_themselves_leave_the_nearest_known(desk):
    cannot = ("SOL-USDT-SWAP", "long", "150", "0")  # OKX's liqPx "0"
    reading(desk, timezone.now(), positions=(NEAR, FAR, cannot))
    other = Account.objects.create(name="cannot be liquidated")
    reading(other, timezone.now(), positions=(cannot,))

    risks = account_risk([desk.pk, other.pk])

    assert (risks[desk.pk].nearest_distance_pct, risks[desk.pk].nearest_inst_id) == (Decimal(5), NEAR[0])
    alone = risks[other.pk]
    assert (alone.nearest_distance_pct, alone.nearest_note) == (None, NO_LIQ_PRICE)
    assert alone.liquidation_not_applicable and alone.distance_level == "unknown"
