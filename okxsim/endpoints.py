"""The served paths: which are private, which permission and account role they need, and
the handler that builds each response's data list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from . import views
from .codes import ApiError
from .exchange import Exchange, LiveKey
from .market import instrument_row
from .scenario import Account

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
        rows.append(instrument_row(inst, req.exchange.start_ms - 400 * 86_400_000))
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
    rows = sorted(ex.subaccounts(), key=lambda a: ex.account_created_ms[a.uid], reverse=True)
    q = req.query
    if q.get("enable") in ("true", "false"):
        rows = [a for a in rows if a.enable == (q["enable"] == "true")]
    if q.get("subAcct"):
        rows = [a for a in rows if a.name == q["subAcct"]]
    # after = created earlier than, before = created later than (creation-ts pagination).
    if q.get("after"):
        rows = [a for a in rows if ex.account_created_ms[a.uid] < _int_param(q, "after")]
    if q.get("before"):
        rows = [a for a in rows if ex.account_created_ms[a.uid] > _int_param(q, "before")]
    limit = _int_param(q, "limit") if q.get("limit") else 100
    if not 1 <= limit <= 100:
        raise ApiError("51000", "limit")
    return [_subaccount_row(ex, a) for a in rows[:limit]]


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
}
