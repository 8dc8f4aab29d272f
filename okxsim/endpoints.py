"""The served paths: which are private, which permission and account role they need, and
the handler that builds each response's data list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl

from . import candles, views
from .codes import ApiError
from .exchange import DAY_MS, Exchange, LiveKey
from .ledger import (
    FUNDING,
    TRADING,
    account_bill_row,
    deposit_row,
    funding_bill_row,
    sub_transfer_row,
    withdrawal_row,
)
from .market import instrument_row
from .risk import history_row
from .scenario import Account

T = TypeVar("T")

MAX_CCYS = 20


@dataclass
class Request:
    exchange: Exchange
    query: dict[str, str]
    key: LiveKey | None  # None on public endpoints

    @property
    def account(self) -> Account:
        assert self.key is not None
        return self.exchange.accounts[self.key.key.uid]

    def ccys(self) -> set[str] | None:
        raw = self.query.get("ccy", "")
        return {c.strip() for c in raw.split(",") if c.strip()} or None

    def required(self, name: str) -> str:
        value = self.query.get(name, "")
        if not value:
            raise ApiError("50014", name)
        return value

    def subaccount(self, missing_code: str) -> Account:
        account = self.exchange.subaccount(self.required("subAcct"))
        if account is None:
            raise ApiError(missing_code)
        return account


@dataclass(frozen=True)
class Endpoint:
    handler: Callable[[Request], list]
    private: bool = True
    perm: str | None = "read_only"  # the permission the key must carry; None = any key
    master_only: bool = False


def parse_query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True))


# -- handlers ------------------------------------------------------------------------------
def server_time(req: Request) -> list:
    return [{"ts": str(req.exchange.clock.server_ms())}]


def instruments(req: Request) -> list:
    inst_type = req.required("instType")
    if inst_type == "OPTION" and not (req.query.get("instFamily") or req.query.get("uly")):
        raise ApiError("50014", "instFamily")
    family = req.query.get("instFamily") or req.query.get("uly")
    rows = []
    for inst in req.exchange.instruments.values():
        if inst.inst_type != inst_type or req.query.get("instId", inst.inst_id) != inst.inst_id:
            continue
        if family and f"{inst.base}-{inst.quote}" != family:
            continue
        rows.append(instrument_row(inst, req.exchange.listed_ms))
    return rows


def currencies(req: Request) -> list:
    wanted = req.ccys()
    return [_currency_row(c) for c in req.exchange.prices.currencies() if wanted is None or c in wanted]


def _currency_row(ccy: str) -> dict[str, object]:
    return {
        "ccy": ccy,
        "name": ccy,
        "logoLink": "",
        "chain": f"{ccy}-{ccy}",
        "ctAddr": "",
        "canDep": True,
        "canWd": True,
        "canInternal": True,
        "depEstOpenTime": "",
        "wdEstOpenTime": "",
        "minDep": "0.00000001",
        "minWd": "0.001",
        "minInternal": "0.0001",
        "maxWd": "1000000",
        "wdTickSz": "8",
        "wdQuota": "10000000",
        "usedWdQuota": "0",
        "fee": "0.0001",
        "minFee": "0.0001",
        "maxFee": "0.0001",
        "mainNet": True,
        "needTag": False,
        "minDepArrivalConfirm": "1",
        "minWdUnlockConfirm": "2",
        "depQuotaFixed": "",
        "usedDepQuotaFixed": "",
        "depQuoteDailyLayer2": "",
    }


def balance(req: Request) -> list:
    return [views.balance_row(req.exchange, req.account, _ccys(req))]


def positions(req: Request) -> list:
    ex, account, now = req.exchange, req.account, req.exchange.clock.sim_ms()
    inst_type = req.query.get("instType", "")
    inst_ids = {i for i in req.query.get("instId", "").split(",") if i}
    rows = []
    for index, p in enumerate(account.positions):
        if inst_type and views.position_inst_type(ex, p) != inst_type:
            continue
        if inst_ids and p.instId not in inst_ids:
            continue
        rows.append(views.position_row(ex, account, index, p, now))
    return rows


def config(req: Request) -> list:
    assert req.key is not None
    key, account = req.key.key, req.account
    return [
        {
            "uid": account.uid,
            "mainUid": req.exchange.master_uid,
            "acctLv": account.acct_lv,
            "acctStpMode": "cancel_maker",
            "posMode": account.pos_mode,
            "autoLoan": False,
            "greeksType": "PA",
            "feeType": "0",
            "level": "Lv1",
            "levelTmp": "",
            "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic",
            "spotOffsetType": "",
            "roleType": "0",
            "traderInsts": [],
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "opAuth": "0",
            "kycLv": "2",
            "label": key.label,
            "ip": key.ip,
            "perm": key.perm,
            "liquidationGear": "-1",
            "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False,
            "type": "0" if account.is_master else "1",
            "settleCcy": "USDT",
            "settleCcyList": ["USD", "USDC", "USDT"],
        }
    ]


def funding_balances(req: Request) -> list:
    return views.funding_rows(req.account, _ccys(req))


def asset_valuation(req: Request) -> list:
    return [views.valuation_row(req.exchange, req.account, req.query.get("ccy") or "BTC")]


def account_rate_limit(req: Request) -> list:
    ts = str(req.exchange.clock.server_ms())
    return [{"fillRatio": "", "mainFillRatio": "", "accRateLimit": "1000", "nextAccRateLimit": "", "ts": ts}]


def subaccount_list(req: Request) -> list:
    ex = req.exchange
    rows, q = ex.subaccounts(), req.query
    if q.get("enable") in ("true", "false"):
        rows = [a for a in rows if a.enable == (q["enable"] == "true")]
    if q.get("subAcct"):
        rows = [a for a in rows if a.name == q["subAcct"]]
    # after = created earlier than, before = created later than (creation-ts pagination).
    return [_subaccount_row(ex, a) for a in _page(q, rows, lambda a: ex.account_created_ms[a.uid])]


def _subaccount_row(ex: Exchange, a: Account) -> dict[str, object]:
    return {
        "type": "1",
        "enable": a.enable,
        "subAcct": a.name,
        "uid": a.uid,
        "label": a.label,
        "mobile": "",
        "gAuth": False,
        "frozenFunc": [] if a.enable else ["trading"],
        "canTransOut": True,
        "ts": str(ex.account_created_ms[a.uid]),
        "subAcctLv": "1",
        "firstLvSubAcct": a.name,
        "ifDma": False,
    }


def subaccount_trading_balances(req: Request) -> list:
    return [views.balance_row(req.exchange, req.subaccount("59510"), None)]


def subaccount_funding_balances(req: Request) -> list:
    return views.funding_rows(req.subaccount("58115"), _ccys(req))


def subaccount_apikeys(req: Request) -> list:
    account = req.subaccount("59510")
    wanted = req.query.get("apiKey")
    env = req.key.key.env if req.key else "live"  # a live master sees live keys, a demo master demo keys
    return [
        {
            "label": k.key.label,
            "apiKey": k.key.api_key,
            "perm": k.key.perm,
            "ip": k.key.ip,
            "ts": str(k.created_ms),
        }
        for k in req.exchange.keys_of(account.uid)
        if k.key.env == env and (not wanted or k.key.api_key == wanted)
    ]


def market_tickers(req: Request) -> list:
    """GET /api/v5/market/tickers: `instType` required (SPOT, SWAP, FUTURES, OPTION); optional
    `instFamily` for derivatives. The simulator's listed instruments of that type."""
    inst_type = req.required("instType")
    if inst_type not in ("SPOT", "SWAP", "FUTURES", "OPTION"):
        raise ApiError("51000", "instType")
    family = req.query.get("instFamily", "")
    now = req.exchange.clock.sim_ms()
    rows = []
    for inst in req.exchange.instruments.values():
        if inst.inst_type != inst_type or (family and f"{inst.base}-{inst.quote}" != family):
            continue
        rows.append(views.ticker_row(req.exchange, inst.inst_id, inst_type, now))
    return rows


# "Currently there is only an index with USD/USDT/BTC/USDC as the quote currency."
INDEX_QUOTES = ("USD", "USDT", "BTC", "USDC")


def market_index_tickers(req: Request) -> list:
    """GET /api/v5/market/index-tickers: "Either quoteCcy or instId is required" (50014 when
    neither). One index per priced currency in that quote (a stablecoin has its own USD index,
    so USDT-USD and USDC-USD are listed); `instId` (e.g. BTC-USD) picks one."""
    quote, inst_id = req.query.get("quoteCcy", ""), req.query.get("instId", "")
    if not quote and not inst_id:
        raise ApiError("50014", "quoteCcy")
    if inst_id:
        base, _, inst_quote = inst_id.partition("-")
        if quote and inst_quote != quote:
            return []
        quote = inst_quote
    if quote not in INDEX_QUOTES:
        return []
    ex, now = req.exchange, req.exchange.clock.sim_ms()
    bases = [c for c in ex.prices.currencies() if c != quote and c != "USD"]
    if inst_id:
        bases = [b for b in bases if b == base]
    return [views.index_row(ex, b, quote, now) for b in bases]


# -- money movements and candles (okx-reference 8.7) --------------------------------------------
ASSET_BILLS_MS = 30 * DAY_MS  # "Query the billing record in the past month"
BILLS_MS = 7 * DAY_MS  # "This endpoint can retrieve data from the last 7 days"
BILLS_ARCHIVE_MS = 90 * DAY_MS  # "... from the last 3 months"
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")


def subaccount_transfers(req: Request) -> list:
    """GET /api/v5/asset/subaccount/bills ("Get history of sub-account transfer", master only):
    filters `ccy`, `type` ("0" master -> sub, "1" sub -> master), `subAcct`; paged on `ts`."""
    q = _enum(req.query, type=("0", "1"))
    ledger = req.exchange.ledger
    with ledger.lock:
        rows = [t for t in ledger.sub_transfers if _matches(q, ccy=t.ccy, type=t.type, subAcct=t.sub)]
    return [sub_transfer_row(t) for t in _page(q, rows, lambda t: t.ts)]


def deposit_history(req: Request) -> list:
    """GET /api/v5/asset/deposit-history: the caller's deposits, newest first, paged on `ts`;
    filters `ccy`, `depId`, `fromWdId`, `txId`, `type` (every one here is "4", on-chain), `state`."""
    q, ledger, uid = _enum(req.query, type=("3", "4")), req.exchange.ledger, req.account.uid
    with ledger.lock:
        rows = [deposit_row(d) for d in ledger.deposits if d.uid == uid]
    keys = ("ccy", "depId", "fromWdId", "txId", "state")
    return _page(q, [r for r in rows if _matches(q, **_fields(r, *keys), type="4")], lambda r: int(r["ts"]))


def withdrawal_history(req: Request) -> list:
    """GET /api/v5/asset/withdrawal-history: the caller's withdrawals, newest first, paged on
    `ts`; filters `ccy`, `wdId`, `clientId`, `txId`, `type` (here "4", on-chain), `state`."""
    q, ledger, uid = _enum(req.query, type=("3", "4")), req.exchange.ledger, req.account.uid
    with ledger.lock:
        rows = [withdrawal_row(w) for w in ledger.withdrawals if w.uid == uid]
    keys = ("ccy", "wdId", "clientId", "txId", "state")
    return _page(q, [r for r in rows if _matches(q, **_fields(r, *keys), type="4")], lambda r: int(r["ts"]))


def asset_bills(req: Request) -> list:
    """GET /api/v5/asset/bills ("Asset bills details"): the caller's funding bills of the past
    month; filters `ccy`, `type`, `clientId`; paged on `ts`."""
    q, ledger, uid = req.query, req.exchange.ledger, req.account.uid
    since = req.exchange.clock.sim_ms() - ASSET_BILLS_MS
    with ledger.lock:
        rows = [b for b in ledger.bills if b.uid == uid and b.wallet == FUNDING and b.ts >= since]
    rows = [b for b in rows if _matches(q, ccy=b.ccy, type=b.type, clientId="")]
    return [funding_bill_row(b) for b in _page(q, rows, lambda b: b.ts)]


def account_bills(window_ms: int) -> Callable[[Request], list]:
    """GET /api/v5/account/bills (7 days) and bills-archive (3 months): the caller's trading
    bills, newest first, paged on `billId`; filters `instType`, `instId`, `ccy`, `mgnMode`,
    `ctType` (FUTURES/SWAP), `type`, `subType`, and `begin`/`end` on `ts` (inclusive)."""

    def handler(req: Request) -> list:
        q = _enum(req.query, instType=INST_TYPES, mgnMode=("isolated", "cross"), ctType=("linear", "inverse"))
        ex, uid = req.exchange, req.account.uid
        begin = max(_int_param(q, "begin") if q.get("begin") else 0, ex.clock.sim_ms() - window_ms)
        end = _int_param(q, "end") if q.get("end") else None
        with ex.ledger.lock:
            bills = [b for b in ex.ledger.bills if b.uid == uid and b.wallet == TRADING and b.ts >= begin]
        rows = [account_bill_row(b) for b in bills if end is None or b.ts <= end]
        keys = ("instType", "instId", "ccy", "mgnMode", "type", "subType")
        rows = [r for r in rows if _matches(q, **_fields(r, *keys), ctType=_ct_type(ex, r))]
        return _page(q, rows, lambda r: int(r["billId"]))

    return handler


def _ct_type(ex: Exchange, row: dict[str, str]) -> str:
    if row["instType"] not in ("FUTURES", "SWAP"):
        return ""
    return "linear" if ex.instrument(row["instId"]).linear else "inverse"


POSITIONS_HISTORY_MS = 90 * DAY_MS  # "Retrieve the updated position data for the last 3 months"
CLOSE_TYPES = ("1", "2", "3", "4", "5", "6")


def positions_history(req: Request) -> list:
    """GET /api/v5/account/positions-history (okx-reference 8.8.4): the caller's closed and
    partly closed positions updated in the last 3 months, newest `uTime` first, paged on `uTime`
    (`after` older than, `before` newer than; `limit` 1..100, default 100; every row sharing
    the page's last `uTime` comes along, so a page can exceed `limit`); filters `instType`
    (MARGIN, SWAP, FUTURES, OPTION), `instId`, `mgnMode`, `type` ("1".."6"), `posId`. A value
    outside the docs' lists, or a non-integer paging parameter, is 51000."""
    kinds = ("MARGIN", "SWAP", "FUTURES", "OPTION")
    q = _enum(req.query, instType=kinds, mgnMode=("cross", "isolated"), type=CLOSE_TYPES)
    ex, uid = req.exchange, req.account.uid
    since = ex.clock.sim_ms() - POSITIONS_HISTORY_MS
    with ex.ledger.lock:
        records = [r for r in ex.ledger.closer.records if r.uid == uid and r.u_time >= since]
    rows = [history_row(r) for r in records]
    keys = ("instType", "instId", "mgnMode", "type", "posId")
    rows = [r for r in rows if _matches(q, **_fields(r, *keys))]
    page = _page(q, rows, lambda r: int(r["uTime"]))
    if len(page) == _limit(q):  # the rows sharing the last one's uTime come along
        page += [r for r in rows if r["uTime"] == page[-1]["uTime"] and r not in page]
    return page


def history_index_candles(req: Request) -> list:
    """GET /api/v5/market/history-index-candles (public): `instId` an index such as BTC-USD
    (required; unknown -> 51001), `bar` (default 1m), `after`/`before` on the candle's `ts`,
    `limit` <= 100; rows [ts,o,h,l,c,confirm], newest first (okxsim/candles.py)."""
    ex, q = req.exchange, req.query
    base, _, quote = req.required("instId").partition("-")
    if quote not in INDEX_QUOTES or base == quote or base not in ex.prices.currencies():
        raise ApiError("51001")
    bar = q.get("bar") or "1m"
    if bar not in candles.BARS:
        raise ApiError("51000", "bar")
    after, before = (_int_param(q, name) if q.get(name) else None for name in ("after", "before"))
    now = ex.clock.sim_ms()
    return candles.history(
        ex.prices, base, quote, bar, now=now, listed=ex.listed_ms, after=after, before=before, limit=_limit(q)
    )


def _page(query: dict[str, str], rows: list[T], key: Callable[[T], int]) -> list[T]:
    """OKX's paging (okx-reference 8.7.5): newest first; `after` = older than, `before` = newer
    than (both exclusive, on the endpoint's key); at most `limit` (1..100, default 100), so
    `before` alone gives the newest rows newer than it."""
    after, before = (_int_param(query, name) if query.get(name) else None for name in ("after", "before"))
    limit = _limit(query)
    found = [r for r in rows if (after is None or key(r) < after) and (before is None or key(r) > before)]
    return sorted(found, key=key, reverse=True)[:limit]


def _limit(query: dict[str, str]) -> int:
    limit = _int_param(query, "limit") if query.get("limit") else 100
    if not 1 <= limit <= 100:
        raise ApiError("51000", "limit")
    return limit


def _matches(query: dict[str, str], **fields: str) -> bool:
    """Every filter the request gives equals the row's field (absent or empty filters pass)."""
    return all(not query.get(name) or query[name] == value for name, value in fields.items())


def _fields(row: Mapping[str, object], *names: str) -> dict[str, str]:
    return {name: str(row[name]) for name in names}


def _enum(query: dict[str, str], **allowed: tuple[str, ...]) -> dict[str, str]:
    """The query, after refusing (51000) a parameter outside the values OKX lists for it."""
    for name, values in allowed.items():
        if query.get(name) and query[name] not in values:
            raise ApiError("51000", name)
    return query


def _ccys(req: Request) -> set[str] | None:
    wanted = req.ccys()
    if wanted is not None and len(wanted) > MAX_CCYS:
        raise ApiError("51000", "ccy")
    return wanted


def _int_param(query: dict[str, str], name: str) -> int:
    try:
        return int(query[name])
    except ValueError:
        raise ApiError("51000", name) from None


ENDPOINTS: dict[str, Endpoint] = {
    "/api/v5/public/time": Endpoint(server_time, private=False, perm=None),
    "/api/v5/public/instruments": Endpoint(instruments, private=False, perm=None),
    "/api/v5/asset/currencies": Endpoint(currencies),
    "/api/v5/account/balance": Endpoint(balance),
    "/api/v5/account/positions": Endpoint(positions),
    "/api/v5/account/config": Endpoint(config),
    "/api/v5/asset/balances": Endpoint(funding_balances),
    "/api/v5/asset/asset-valuation": Endpoint(asset_valuation),
    "/api/v5/trade/account-rate-limit": Endpoint(account_rate_limit, perm=None),
    "/api/v5/users/subaccount/list": Endpoint(subaccount_list, master_only=True),
    "/api/v5/account/subaccount/balances": Endpoint(subaccount_trading_balances, master_only=True),
    "/api/v5/asset/subaccount/balances": Endpoint(subaccount_funding_balances, master_only=True),
    "/api/v5/users/subaccount/apikey": Endpoint(subaccount_apikeys, master_only=True),
    "/api/v5/market/tickers": Endpoint(market_tickers, private=False, perm=None),
    "/api/v5/market/index-tickers": Endpoint(market_index_tickers, private=False, perm=None),
    "/api/v5/market/history-index-candles": Endpoint(history_index_candles, private=False, perm=None),
    "/api/v5/asset/subaccount/bills": Endpoint(subaccount_transfers, master_only=True),
    "/api/v5/asset/deposit-history": Endpoint(deposit_history),
    "/api/v5/asset/withdrawal-history": Endpoint(withdrawal_history),
    "/api/v5/asset/bills": Endpoint(asset_bills),
    "/api/v5/account/bills": Endpoint(account_bills(BILLS_MS)),
    "/api/v5/account/bills-archive": Endpoint(account_bills(BILLS_ARCHIVE_MS)),
    "/api/v5/account/positions-history": Endpoint(positions_history),
}
