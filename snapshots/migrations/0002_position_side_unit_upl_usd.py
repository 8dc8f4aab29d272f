"""Positions as a trader reads them: side in words, the size's unit, the PnL's currency and its
USD value (issue 16).

Rows stored before this keep every value; what can be derived for them is derived, the rest is
left unknown (never zero):
- `pos_side` <- the old `side` (it held OKX's posSide).
- `side`: long/short mode kept; net mode from the sign of `size` for SWAP/FUTURES/OPTION; "" for
  MARGIN (its side is in posCcy, which was not stored) and for a zero or missing size.
- `size_unit`: "contracts" for SWAP/FUTURES/OPTION; "" for MARGIN (posCcy was not stored).
- `upl_ccy`: from the instrument id, for SWAP/FUTURES/OPTION only: `BASE-QUOTE-...` with QUOTE
  USDT or USDC is margined in QUOTE (linear), with QUOTE USD in BASE (inverse, coin-margined);
  anything else (USD_UM, MARGIN) stays "".
- `upl_usd`: upl x the USD price of `upl_ccy` that OKX gave in the same snapshot's trading
  balance (BalanceLine usd_value / equity of that currency); unknown (null) with the reason
  otherwise. OKX's usdPx was not stored, so it cannot be used here.
"""

from decimal import Decimal

from django.db import migrations, models

CONTRACTS = {"SWAP", "FUTURES", "OPTION"}
QUANT = Decimal(1).scaleb(-18)
OLD_ROW = "stored before positions kept their currency; "
FIELDS = ["pos_side", "side", "size_unit", "upl_ccy", "upl_usd", "upl_usd_price", "upl_usd_basis"]


def _margin_ccy(inst_type: str, inst_id: str) -> str:
    parts = inst_id.split("-")
    if inst_type not in CONTRACTS or len(parts) < 3:
        return ""
    base, quote = parts[0], parts[1]
    if quote in ("USDT", "USDC"):
        return quote
    return base if quote == "USD" else ""


def _side(pos_side: str, inst_type: str, size) -> str:
    if pos_side in ("long", "short"):
        return pos_side
    if inst_type not in CONTRACTS or size is None or size == 0:
        return ""
    return "long" if size > 0 else "short"


def forward(apps, schema_editor):
    PositionLine = apps.get_model("snapshots", "PositionLine")
    BalanceLine = apps.get_model("snapshots", "BalanceLine")
    rows = PositionLine.objects.order_by("snapshot_id", "pk")
    prices: dict = {}
    current = None
    batch: list = []
    for line in rows.iterator(chunk_size=2000):
        if line.snapshot_id != current:
            current = line.snapshot_id
            prices = {
                b.ccy: b.usd_value / b.equity
                for b in BalanceLine.objects.filter(snapshot_id=current, wallet="trading")
                if b.equity and b.usd_value is not None
            }
        line.pos_side = line.side
        line.side = _side(line.pos_side, line.inst_type, line.size)
        line.size_unit = "contracts" if line.inst_type in CONTRACTS else ""
        line.upl_ccy = _margin_ccy(line.inst_type, line.inst_id)
        price = prices.get(line.upl_ccy) if line.upl_ccy else None
        if line.upl is None:
            line.upl_usd_basis = "OKX sent no unrealised PnL"
        elif not line.upl_ccy:
            line.upl_usd_basis = OLD_ROW + "its margin currency is not known"
        elif price is None:
            line.upl_usd_basis = OLD_ROW + f"no USD price of {line.upl_ccy} in that snapshot"
        else:
            line.upl_usd_price = price.quantize(QUANT)
            line.upl_usd = (line.upl * price).quantize(QUANT)
            line.upl_usd_basis = f"upl x eqUsd/eq of {line.upl_ccy} in the trading account"
        batch.append(line)
        if len(batch) >= 1000:
            PositionLine.objects.bulk_update(batch, FIELDS)
            batch = []
    if batch:
        PositionLine.objects.bulk_update(batch, FIELDS)


def backward(apps, schema_editor):
    """The old `side` held posSide: put it back before the new columns go."""
    PositionLine = apps.get_model("snapshots", "PositionLine")
    PositionLine.objects.exclude(pos_side="").update(side=models.F("pos_side"))


class Migration(migrations.Migration):
    dependencies = [("snapshots", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="positionline",
            name="pos_side",
            field=models.CharField(
                blank=True, default="", help_text="OKX's posSide: long, short or net.", max_length=8
            ),
        ),
        migrations.AlterField(
            model_name="positionline",
            name="side",
            field=models.CharField(
                help_text='"long" or "short"; "" when OKX\'s answer does not say.', max_length=8
            ),
        ),
        migrations.AddField(
            model_name="positionline",
            name="size_unit",
            field=models.CharField(
                blank=True,
                default="",
                help_text='"contracts", or the coin (posCcy) for MARGIN.',
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="positionline",
            name="upl_ccy",
            field=models.CharField(
                blank=True,
                default="",
                help_text="OKX's ccy (margin).",
                max_length=32,
                verbose_name="currency of the unrealised PnL",
            ),
        ),
        migrations.AddField(
            model_name="positionline",
            name="upl_usd",
            field=models.DecimalField(
                blank=True, decimal_places=18, max_digits=38, null=True, verbose_name="unrealised PnL (USD)"
            ),
        ),
        migrations.AddField(
            model_name="positionline",
            name="upl_usd_price",
            field=models.DecimalField(
                blank=True,
                decimal_places=18,
                max_digits=38,
                null=True,
                verbose_name="USD price of the PnL currency",
            ),
        ),
        migrations.AddField(
            model_name="positionline",
            name="upl_usd_basis",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.RunPython(forward, backward),
    ]
