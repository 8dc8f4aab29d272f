"""A line chart drawn on the server as inline SVG: readable with JavaScript off and without
hovering (axes labelled, the high, low and last values written beside their points).

Decimal in, strings out: this module computes the geometry and the labels; the markup is in
templates/jinja2/dashboard/_line_chart.html and _chart_values.html (autoescaped). Shapes are
styled by classes (charts.css) and presentation attributes, never by style attributes, which the
Content-Security-Policy forbids.

Each chart is drawn twice, for a wide and for a narrow (phone) layout; charts.css shows one of
them by the screen's width. An SVG scales its text with its width, so the phone's drawing has a
smaller canvas (its 12-unit labels render at about 11 px on a 390 px screen) and fewer ticks.
Time ticks fall on round times in the display zone, at a step chosen from the span (1 min ...
1 day ... months), so no two labels read alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString

from dashboard.pages.common import render_partial
from snapshots import numbers, queries


@dataclass(frozen=True)
class Layout:
    """The canvas of one drawing, in SVG units (the CSS px of a screen as wide as `width`)."""

    name: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: int
    x_ticks: int  # at most this many time labels


WIDE = Layout("wide", 800, 260, 92, 24, 28, 34, 4, 8)
NARROW = Layout("narrow", 360, 240, 70, 10, 28, 32, 4, 4)
LAYOUTS = (WIDE, NARROW)
# Time-axis steps: seconds within a day, then days, then months.
SECOND_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
DAY_STEPS = (1, 2, 7, 14)
MONTH_STEPS = (1, 2, 3, 6, 12)


def money(value: Decimal | None, *, sign: bool = False) -> str:
    """12345.6 -> "12,345.60"; with sign, a leading + on gains; a loss with the minus sign
    ("\u22125.00"). None -> "—" (snapshots.numbers.format_amount in USD)."""
    return numbers.format_amount(value, "USD", sign=sign, minus=numbers.MINUS)


@dataclass(frozen=True)
class _Scale:
    layout: Layout
    t0: float
    t1: float
    low: Decimal
    high: Decimal
    step: Decimal  # between grid lines: 1, 2 or 5 x 10^n, so every axis label is a round value

    def x(self, when: datetime) -> Decimal:
        span = self.t1 - self.t0
        share = Decimal(str((when.timestamp() - self.t0) / span)) if span else Decimal("0.5")
        return Decimal(self.layout.left) + share * (self.layout.width - self.layout.left - self.layout.right)

    def y(self, value: Decimal) -> Decimal:
        share = (value - self.low) / (self.high - self.low)
        plot = self.layout.height - self.layout.top - self.layout.bottom
        return Decimal(self.layout.top) + (1 - share) * plot


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


Point = tuple[datetime, Decimal]


def anchored(
    series: list[Point], *, first: Point | None, last: Point | None
) -> tuple[list[Point], frozenset[int]]:
    """The chart's points and the indexes of those that are real readings.

    `series` is snapshots.queries.equity_series: one point per time slot, each the mean of the
    readings in the slot drawn at the slot's start (the newest one the latest total). `first`
    (the reading a change figure on the page counts from: its baseline at its time) replaces the
    slots up to its time; `last` (the newest reading: the total the page shows, at the time it was
    read) replaces the newest slot. So the line starts and ends on the figures beside it, and only
    the points in between are means. (time aware, value Decimal USD)"""
    inner = series[:-1] if last is not None else list(series)
    if first is not None:
        inner = [point for point in inner if point[0] > first[0]]
    if last is not None:
        inner = [point for point in inner if point[0] < last[0]]
    points = [*([first] if first else []), *inner]
    if last is not None and not (points and points[0][0] >= last[0]):
        points.append(last)
    readings = {0} if first is not None else set()
    if last is not None and points:
        readings.add(len(points) - 1)
    return points, frozenset(readings)


def chart_start(
    range_key: str, changes: dict[str, queries.Change | None], latest: Decimal | None = None
) -> Point | None:
    """The reading a chart of `range_key` starts on: the baseline of the change figure of the same
    span ("1d": the 24 h change, "7d": the 7 d change), at its time (the first data's when the
    history is shorter; else the start of the span). With `latest` (the total the chart ends on,
    as the page shows it), the value is latest minus the change, in cents, so the line's two ends
    differ by exactly the change printed beside it (a sum of rounded rows and an exact baseline
    could differ by a cent). None for the other ranges, or without that change: the chart then
    starts on its first slot's mean. (time aware, value Decimal USD)"""
    span = queries.RANGES.get(range_key)
    period = {timedelta(days=1): "24h", timedelta(days=7): "7d"}.get(span) if span else None
    change = changes.get(period) if period else None
    if change is None or span is None:
        return None
    at = change.since if change.since is not None and not change.mixed else timezone.now() - span
    value = change.baseline_usd if latest is None else latest - change.usd.quantize(queries.CENT)
    return at, value.quantize(queries.CENT)


def line_chart(
    points: list[Point],
    *,
    label: str,
    unit: str = "USD",
    readings: frozenset[int] | None = None,
    signed: bool = False,
    what: str = "equity",
) -> SafeString:
    """The SVGs (wide and narrow) for points (oldest first); a plain note when there are none.
    `readings`: the indexes of the points that are real readings (see anchored); the others are
    means over their time slot and their labels say so. None: every point is a reading.
    `signed`: the values are gains and losses (a PnL): their labels carry a sign and the zero
    line is drawn. `what` names the values in the note for no points ("No PnL history ...").
    The geometry is computed here; the markup is templates/jinja2/dashboard/_line_chart.html."""
    if not points:
        empty: dict[str, Any] = {"label": label, "drawings": None, "what": what}
        return render_partial(None, "dashboard/_line_chart.html", empty)
    if readings is None:
        readings = frozenset(range(len(points)))
    values = [value for _, value in points]
    drawings = []
    for layout in LAYOUTS:
        low, high, step = _nice_bounds(min(values), max(values), layout.y_ticks)
        scale = _Scale(layout, points[0][0].timestamp(), points[-1][0].timestamp(), low, high, step)
        drawings.append(
            {
                "layout": layout,
                "right_edge": layout.width - layout.right,
                "bottom_edge": layout.height - layout.bottom,
                "grid": _y_axis(scale),
                "x_labels": _x_axis(scale, points[0][0], points[-1][0]),
                "line": _line(scale, points),
                "marks": _markers(scale, points, unit, readings, signed),
                "zero": f"{scale.y(Decimal(0)):.1f}" if signed and low < 0 < high else None,
            }
        )
    context = {
        "label": label,
        "drawings": drawings,
        "means": len(readings) < len(points),
        "first_reading": 0 in readings,
        "last_reading": len(points) - 1 in readings,
    }
    return render_partial(None, "dashboard/_line_chart.html", context)


def _nice_bounds(low: Decimal, high: Decimal, ticks: int) -> tuple[Decimal, Decimal, Decimal]:
    """(low, high, step): the value range rounded out to a step of 1, 2 or 5 x 10^n (about `ticks`
    steps), so the axis labels read easily."""
    if high == low:
        pad = abs(high) / 100 or Decimal(1)
        low, high = low - pad, high + pad
    step = _nice_step((high - low) / ticks)
    return (
        (low / step).to_integral_value(ROUND_FLOOR) * step,
        (high / step).to_integral_value(ROUND_CEILING) * step,
        step,
    )


def _nice_step(raw: Decimal) -> Decimal:
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10


def _label(css_class: str, x: float | Decimal, y: float | Decimal, anchor: str, text: str) -> _Label:
    return _Label(css_class, f"{x:.1f}", f"{y:.1f}", anchor, text)


def _y_axis(scale: _Scale) -> list[tuple[str, _Label]]:
    """(y of a grid line, its value label) for each multiple of the scale's step (round values:
    "841,550", not "841,587.50")."""
    ticks = []
    layout = scale.layout
    count = int((scale.high - scale.low) / scale.step)
    for i in range(count + 1):
        value = scale.low + scale.step * i
        y = scale.y(value)
        ticks.append((f"{y:.1f}", _label("axis", layout.left - 6, y + 4, "end", _short(value))))
    return ticks


def _short(value: Decimal) -> str:
    """Axis labels: whole units with separators; cents only when the axis needs them."""
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _x_axis(scale: _Scale, start: datetime, end: datetime) -> list[_Label]:
    layout = scale.layout
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    bottom = layout.height - layout.bottom
    labels = [
        _label("axis", scale.x(when), bottom + 18, _anchor(scale.x(when), layout), text)
        for when, text in time_ticks(start, end, zone, layout.x_ticks)
    ]
    labels.append(_zone_label(layout))
    return labels


def _zone_label(layout: Layout) -> _Label:
    """ "times in UTC" at the top right, above the plot."""
    zone = f"times in {settings.DISPLAY_TIME_ZONE}"
    return _label("axis zone", layout.width - layout.right, layout.top - 12, "end", zone)


def _anchor(x: Decimal, layout: Layout) -> str:
    """Labels near an edge grow inwards, so none is cut off by the canvas."""
    if x < layout.left + 24:
        return "start"
    return "end" if x > layout.width - layout.right - 24 else "middle"


def time_ticks(start: datetime, end: datetime, zone: ZoneInfo, most: int) -> list[tuple[datetime, str]]:
    """At most `most` (time, label) pairs on round times of `zone` between start and end (aware),
    at the smallest step of SECOND_STEPS, DAY_STEPS or MONTH_STEPS that fits; labels are
    distinct: "09:00", a day's start as "Nov 29", "Nov 29", "Nov 2026". One point: its time.
    Readings seconds apart with no round time between them (07:10:12 to 07:10:18): the two ends,
    to the second ("07:10:12", "07:10:18"), so the axis is never bare."""
    span = (end - start).total_seconds()
    if span <= 0:
        return [(start, start.astimezone(zone).strftime("%Y-%m-%d %H:%M"))]
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    step = next((s for s in SECOND_STEPS if span / s < most), None)
    if step is not None:
        ticks = _clock_ticks(local_start, local_end, step)
        if not ticks:  # readings seconds apart, between two round times: label the two ends
            return _ends(local_start, local_end)
        return _labelled(ticks, "%H:%M:%S" if step < 60 else "%H:%M")
    days = next((d for d in DAY_STEPS if span / 86400 / d < most), None)
    if days is not None:
        return _labelled(_day_ticks(local_start, local_end, days), "%b %d")
    years = math.ceil(span / 86400 / 365 / most)
    months = next((m for m in MONTH_STEPS if span / (86400 * 30.44) / m < most), 12 * years)
    return _labelled(_month_ticks(local_start, local_end, months), "%b %Y")


def _ends(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """The first and last moment to the second; one label when they read alike (under 1 s)."""
    labelled = _labelled([start, end], "%H:%M:%S")
    return labelled if labelled[0][1] != labelled[1][1] else labelled[-1:]


def _clock_ticks(start: datetime, end: datetime, step: int) -> list[datetime]:
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = math.ceil((start - midnight).total_seconds() / step) * step
    when = midnight + timedelta(seconds=offset)
    found = []
    while when <= end:
        found.append(when)
        when += timedelta(seconds=step)
    return found


def _day_ticks(start: datetime, end: datetime, days: int) -> list[datetime]:
    when = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if when < start:
        when += timedelta(days=1)
    # Weeks start on Mondays; other steps on days whose ordinal the step divides.
    while (when.weekday() if days == 7 else when.toordinal()) % days:
        when += timedelta(days=1)
    found = []
    while when <= end:
        found.append(when)
        when += timedelta(days=days)
    return found


def _month_ticks(start: datetime, end: datetime, months: int) -> list[datetime]:
    when = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    found = []
    while when <= end:
        if when >= start and (when.month - 1) % months == 0:
            found.append(when)
        when = when.replace(year=when.year + when.month // 12, month=when.month % 12 + 1)
    return found


def _labelled(ticks: list[datetime], fmt: str) -> list[tuple[datetime, str]]:
    """Labels in `fmt`; a day's start by its date; with the date too if two would read alike."""

    def text(when: datetime, with_date: bool) -> str:
        if fmt.startswith("%H") and when.hour == when.minute == when.second == 0:
            return when.strftime("%b %d")
        return when.strftime(f"%b %d {fmt}" if with_date else fmt)

    labels = [text(when, False) for when in ticks]
    if len(set(labels)) < len(labels):
        labels = [text(when, True) for when in ticks]
    return list(zip(ticks, labels, strict=True))


def _line(scale: _Scale, points: list[tuple[datetime, Decimal]]) -> dict[str, str]:
    """One point: a dot {"cx", "cy"}; more: a polyline {"points"}."""
    if len(points) == 1:
        x, y = scale.x(points[0][0]), scale.y(points[0][1])
        return {"cx": f"{x:.1f}", "cy": f"{y:.1f}"}
    return {"points": " ".join(f"{scale.x(when):.1f},{scale.y(value):.1f}" for when, value in points)}


def _markers(
    scale: _Scale,
    points: list[tuple[datetime, Decimal]],
    unit: str,
    readings: frozenset[int],
    signed: bool = False,
) -> list[_Mark]:
    """High, low and last written beside their points, so nobody has to hover to read them; a
    point that is several (the last is the high) gets one label naming them all; a point that is a
    slot's mean, not a reading, says "(mean)". On a chart of means between readings, the first
    reading is labelled too ("first": what the change figure counts from).

    No two labels print on top of each other: a high or low reached more than once is marked
    where it was last reached (the last point, when it is that too); a flat chart has one label
    ("first / last / high / low 781,484.87 USD"); a label that would still cover an earlier one
    goes to the other side of its point (below instead of above, or above instead of below)
    when that side is free and on the canvas, above the time axis."""
    layout = scale.layout
    last = len(points) - 1
    values = [value for _, value in points]
    names: dict[int, list[str]] = {last: ["last"]}
    if last > 0 and 0 in readings and len(readings) < len(points):
        if max(values) == min(values):
            names[last].insert(0, "first")  # a flat chart: one label
        else:
            names[0] = ["first"]
    if last > 0:
        for name, extreme in (("high", max(values)), ("low", min(values))):
            names.setdefault(_last_index(values, extreme), []).append(name)
    marks: list[_Mark] = []
    zone = _zone_label(layout)
    taken = [_label_box(float(zone.x), float(zone.y), zone.anchor, zone.text)]
    for index, labels in sorted(names.items()):
        when, value = points[index]
        x, y = scale.x(when), scale.y(value)
        anchor = "end" if x > layout.width * 2 / 3 else "start" if x < layout.width / 3 else "middle"
        kind_of = "" if index in readings else " (mean)"
        text = f"{' / '.join(labels)}{kind_of} {money(value, sign=signed)} {unit}"
        # Above the point, except a low point (below it) unless that would hit the time axis.
        below = (labels == ["low"] and y < layout.height - layout.bottom - 18) or y < layout.top + 14
        box = _label_box(float(x), float(y) + (16 if below else -8), anchor, text)
        if any(_overlap(box, other) for other in taken):
            other_side = _label_box(float(x), float(y) + (-8 if below else 16), anchor, text)
            # On the canvas, and above the time axis.
            fits = other_side[1] >= 0 and other_side[3] <= layout.height - layout.bottom
            if fits and not any(_overlap(other_side, other) for other in taken):
                below, box = not below, other_side
        taken.append(box)
        dy = 16 if below else -8
        kind = "last" if index == last else labels[0]
        marks.append(
            _Mark(kind, f"{x:.1f}", f"{y:.1f}", _label(f"mark-label {kind}", x, y + dy, anchor, text))
        )
    return marks


# A mark label's box, in SVG units: 12-unit bold text (charts.css), about 7 units a character
# (a digit of a bold sans-serif is 0.55-0.6 em), 11 above the baseline and 3 below.
LABEL_CHAR_WIDTH = 7.0
LABEL_ASCENT = 11.0
LABEL_DESCENT = 3.0


def _last_index(values: list[Decimal], value: Decimal) -> int:
    """Where `value` occurs last in `values`."""
    return len(values) - 1 - values[::-1].index(value)


def _label_box(x: float, baseline: float, anchor: str, text: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a label drawn at (x, baseline) with `anchor`."""
    width = len(text) * LABEL_CHAR_WIDTH
    left = {"start": x, "end": x - width}.get(anchor, x - width / 2)
    return left, baseline - LABEL_ASCENT, left + width, baseline + LABEL_DESCENT


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def values_table(
    points: list[Point],
    *,
    unit: str = "USD",
    readings: frozenset[int] | None = None,
    signed: bool = False,
    what: str = "equity",
) -> SafeString:
    """The chart's points as a table, folded away: the numbers behind the picture, newest first,
    each marked a reading or a slot's mean (`readings` as for line_chart; None: all readings).
    `signed` and `what` (the value column's name) as for line_chart."""
    rows = [
        (when, money(value, sign=signed), readings is None or index in readings)
        for index, (when, value) in reversed(list(enumerate(points)))
    ]
    context = {"rows": rows, "unit": unit, "zone": settings.DISPLAY_TIME_ZONE, "what": what}
    return render_partial(None, "dashboard/_chart_values.html", context)
