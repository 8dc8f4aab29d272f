"""A line chart drawn on the server as inline SVG: readable with JavaScript off and without
hovering (axes labelled, the high, low and last values written beside their points).

Decimal in, strings out: this module computes the geometry and the labels; the markup is in
templates/jinja2/dashboard/_line_chart.html and _chart_values.html (autoescaped). Shapes are
styled by classes (charts.css) and presentation attributes, never by style attributes, which the
Content-Security-Policy forbids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.safestring import SafeString

from dashboard.pages.common import render_partial

WIDTH, HEIGHT = 800, 260
LEFT, RIGHT, TOP, BOTTOM = 92, 24, 28, 34  # room for the value and time labels
Y_TICKS = 4
X_TICKS = 8  # 7 days: one label a day
CENT = Decimal("0.01")


def money(value: Decimal | None, *, sign: bool = False) -> str:
    """12345.6 -> "12,345.60"; with sign, a leading + on gains. None -> "—"."""
    if value is None:
        return "—"
    text = f"{value.quantize(CENT):,.2f}"
    return f"+{text}" if sign and value > 0 else text


@dataclass(frozen=True)
class _Scale:
    t0: float
    t1: float
    low: Decimal
    high: Decimal

    def x(self, when: datetime) -> Decimal:
        span = self.t1 - self.t0
        share = Decimal(str((when.timestamp() - self.t0) / span)) if span else Decimal("0.5")
        return Decimal(LEFT) + share * (WIDTH - LEFT - RIGHT)

    def y(self, value: Decimal) -> Decimal:
        share = (value - self.low) / (self.high - self.low)
        return Decimal(TOP) + (1 - share) * (HEIGHT - TOP - BOTTOM)


@dataclass(frozen=True)
class _Label:
    css_class: str
    x: str
    y: str
    anchor: str
    text: str


@dataclass(frozen=True)
class _Mark:
    kind: str
    x: str
    y: str
    label: _Label


def line_chart(points: list[tuple[datetime, Decimal]], *, label: str, unit: str = "USD") -> SafeString:
    """The SVG for points (oldest first); a plain note when there are none. The geometry is
    computed here; the markup is templates/jinja2/dashboard/_line_chart.html."""
    if not points:
        return render_partial(None, "dashboard/_line_chart.html", {"label": label, "points": None})
    values = [value for _, value in points]
    low, high = _nice_bounds(min(values), max(values))
    scale = _Scale(points[0][0].timestamp(), points[-1][0].timestamp(), low, high)
    context = {
        "label": label,
        "points": points,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right_edge": WIDTH - RIGHT,
        "bottom_edge": HEIGHT - BOTTOM,
        "grid": _y_axis(scale),
        "x_labels": _x_axis(scale, points[0][0], points[-1][0]),
        "line": _line(scale, points),
        "marks": _markers(scale, points, unit),
    }
    return render_partial(None, "dashboard/_line_chart.html", context)


def _nice_bounds(low: Decimal, high: Decimal) -> tuple[Decimal, Decimal]:
    """Round the value range out to a step of 1, 2 or 5 x 10^n so the axis labels read easily."""
    if high == low:
        pad = abs(high) / 100 or Decimal(1)
        low, high = low - pad, high + pad
    step = _nice_step((high - low) / Y_TICKS)
    return (low / step).to_integral_value(ROUND_FLOOR) * step, (high / step).to_integral_value(
        ROUND_CEILING
    ) * step


def _nice_step(raw: Decimal) -> Decimal:
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10


def _label(css_class: str, x: float | Decimal, y: float | Decimal, anchor: str, text: str) -> _Label:
    return _Label(css_class, f"{x:.1f}", f"{y:.1f}", anchor, text)


def _y_axis(scale: _Scale) -> list[tuple[str, _Label]]:
    """(y of a grid line, its value label) for each tick."""
    ticks = []
    step = (scale.high - scale.low) / Y_TICKS
    for i in range(Y_TICKS + 1):
        value = scale.low + step * i
        y = scale.y(value)
        ticks.append((f"{y:.1f}", _label("axis", LEFT - 8, y + 4, "end", _short(value))))
    return ticks


def _short(value: Decimal) -> str:
    """Axis labels: whole units with separators; cents only when the axis needs them."""
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _x_axis(scale: _Scale, start: datetime, end: datetime) -> list[_Label]:
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    span = end - start
    fmt = "%H:%M" if span <= timedelta(hours=26) else "%b %d" if span <= timedelta(days=120) else "%Y-%m-%d"
    bottom = HEIGHT - BOTTOM
    labels = []
    ticks = 1 if span.total_seconds() == 0 else X_TICKS
    for i in range(ticks):
        when = start + span * (i / max(ticks - 1, 1)) if ticks > 1 else start
        labels.append(
            _label("axis", scale.x(when), bottom + 18, "middle", when.astimezone(zone).strftime(fmt))
        )
    zone_label = f"times in {settings.DISPLAY_TIME_ZONE}"
    labels.append(_label("axis zone", WIDTH - RIGHT, TOP - 12, "end", zone_label))
    return labels


def _line(scale: _Scale, points: list[tuple[datetime, Decimal]]) -> dict[str, str]:
    """One point: a dot {"cx", "cy"}; more: a polyline {"points"}."""
    if len(points) == 1:
        x, y = scale.x(points[0][0]), scale.y(points[0][1])
        return {"cx": f"{x:.1f}", "cy": f"{y:.1f}"}
    return {"points": " ".join(f"{scale.x(when):.1f},{scale.y(value):.1f}" for when, value in points)}


def _markers(scale: _Scale, points: list[tuple[datetime, Decimal]], unit: str) -> list[_Mark]:
    """High, low and last written beside their points, so nobody has to hover to read them; a
    point that is both (the last is the high) gets one label naming both."""
    last = len(points) - 1
    names: dict[int, list[str]] = {last: ["last"]}
    if last > 0:
        values = [value for _, value in points]
        names.setdefault(values.index(max(values)), []).append("high")
        names.setdefault(values.index(min(values)), []).append("low")
    marks = []
    for index, labels in sorted(names.items()):
        when, value = points[index]
        x, y = scale.x(when), scale.y(value)
        anchor = "end" if x > WIDTH * 2 / 3 else "start" if x < WIDTH / 3 else "middle"
        # Above the point, except a low point (below it) unless that would hit the time axis.
        below = (labels == ["low"] and y < HEIGHT - BOTTOM - 18) or y < TOP + 14
        dy = 16 if below else -8
        text = f"{' / '.join(labels)} {money(value)} {unit}"
        kind = labels[0]
        marks.append(
            _Mark(kind, f"{x:.1f}", f"{y:.1f}", _label(f"mark-label {kind}", x, y + dy, anchor, text))
        )
    return marks


def values_table(points: list[tuple[datetime, Decimal]], *, unit: str = "USD") -> SafeString:
    """The chart's points as a table, folded away: the numbers behind the picture, newest first."""
    rows = [(when, money(value)) for when, value in reversed(points)]
    context = {"rows": rows, "unit": unit, "zone": settings.DISPLAY_TIME_ZONE}
    return render_partial(None, "dashboard/_chart_values.html", context)
