"""`vigil preview`: each generated dashboard drawn to a PNG from a live Prometheus, no Grafana needed.

Panels are placed on Grafana's 24-column grid by their gridPos and filled from the panel's own
queries (`query_range` for series, instant queries for tables), with threshold steps as lines (and
areas where the dashboard asks for them), alert annotations as shaded spans, overrides for the
trend projection and the anomaly band. It is a reviewer's picture of the dashboard, not a Grafana:
text is plain, and only the options vigil's generators use are drawn.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from vigil.check.dashboards import flat_panels
from vigil.errors import VigilError
from vigil.layout import DASHBOARDS_DIR
from vigil.prometheus_api import PrometheusAPI, QueryError, Series

# Grafana's dark theme and named colours, so that the picture reads like the dashboard.
COLOURS = {
    "red": "#f2495c",
    "orange": "#ff9830",
    "green": "#73bf69",
    "yellow": "#fade2a",
    "purple": "#b877d9",
    "blue": "#5794f2",
    "text": "#ccccdc",
    "transparent": "none",
}
SERIES = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0"]
BACKGROUND, CARD, GRID, TEXT = "#111217", "#181b1f", "#2c3235", "#ccccdc"
COLUMN_INCHES, ROW_INCHES = 0.8, 0.3  # Grafana: ~80 px per column on a wide screen, 30 px per row


def colour(name: str) -> str:
    return COLOURS.get(name, name)


@dataclass
class PanelDrawn:
    id: int
    title: str
    type: str
    series: int = 0  # how many series (or table rows) it drew
    error: str | None = None  # a query Prometheus refused


@dataclass
class Preview:
    uid: str
    path: Path
    panels: list[PanelDrawn] = field(default_factory=list)


# ------------------------------------------------------------------------------ values and units
def format_value(value: float, unit: str, decimals: int | None = None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if unit == "percentunit":
        return _number(value * 100, decimals) + "%"
    if unit == "s":
        for size, suffix in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= size or size == 1e-6 or (value == 0 and size == 1):
                return f"{_number(value / size, decimals)} {suffix}"
    if unit in ("bytes", "Bps"):
        n, prefixes = value, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        i = 0
        while abs(n) >= 1024 and i < len(prefixes) - 1:
            n, i = n / 1024, i + 1
        return f"{_number(n, decimals)} {prefixes[i]}" + ("/s" if unit == "Bps" else "")
    if unit.startswith("suffix:"):
        return _number(value, decimals) + unit[7:]
    for size, suffix in ((1e9, " Bil"), (1e6, " Mil"), (1e3, " K")):
        if abs(value) >= size and decimals is None:
            return _number(value / size, None) + suffix
    return _number(value, decimals) + (" ops/s" if unit == "ops" else "")


def _number(x: float, decimals: int | None) -> str:
    """Three significant digits (no exponent below a million), or fixed decimals when the panel says."""
    if decimals is not None:
        return f"{x:.{decimals}f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def _field_config(panel: dict[str, Any], ref_id: str) -> dict[str, Any]:
    """The field config one query's series get: defaults, then the overrides matching its refId."""
    out = dict(panel.get("fieldConfig", {}).get("defaults", {}))
    for o in panel.get("fieldConfig", {}).get("overrides", []):
        if o["matcher"]["id"] == "byFrameRefID" and o["matcher"].get("options") == ref_id:
            for prop in o["properties"]:
                out[prop["id"]] = prop["value"]
    return out


def step_colour(value: float, thresholds: dict[str, Any]) -> str:
    current = "green"
    for s in thresholds.get("steps", []):
        if s["value"] is None or value >= s["value"]:
            current = s["color"]
    return colour(current)


def legend(fmt: str, labels: dict[str, str]) -> str:
    if fmt:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def substitute(expr: str, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        expr = re.sub(r"\$\{" + name + r"\}|\$" + name + r"\b", value, expr)
    return expr


# ------------------------------------------------------------------------------ data
@dataclass
class Query:
    ref_id: str
    legend: str
    series: list[Series]


def fetch(
    api: PrometheusAPI, panel: dict[str, Any], variables: dict[str, str], start: float, end: float, step: float
) -> list[Query]:
    out = []
    for t in panel.get("targets", []):
        expr = substitute(t["expr"], variables)
        if t.get("instant") or panel["type"] == "table":
            series = api.query(expr, end)
        else:
            series = api.query_range(expr, start, end, step)
        out.append(Query(t["refId"], t.get("legendFormat", ""), series))
    return out


def firing_spans(
    api: PrometheusAPI, doc: dict[str, Any], variables: dict[str, str], start: float, end: float, step: float
) -> list[tuple[float, float, str]]:
    """(from, to, colour) of every firing period of the dashboard's Prometheus annotations."""
    spans = []
    for a in doc["annotations"]["list"]:
        if not a.get("expr") or not a.get("enable", True):
            continue
        # One span per stretch of time when any of the annotation's alerts fires: overlapping alerts
        # of the same kind do not darken the panel further.
        times = sorted(
            {t for s in api.query_range(substitute(a["expr"], variables), start, end, step) for t in s.times}
        )
        if not times:
            continue
        begin = prev = times[0]
        for t in times[1:] + [math.inf]:
            if t - prev > 2 * step:
                spans.append((begin, prev, colour(a.get("iconColor", "red"))))
                begin = t
            prev = t
    return spans


# ------------------------------------------------------------------------------ drawing
def _card(fig: Figure, rect: tuple[float, float, float, float], title: str) -> Axes:
    card = fig.add_axes(rect)
    card.set_facecolor(CARD)
    card.set_xticks([])
    card.set_yticks([])
    for spine in card.spines.values():
        spine.set_color(GRID)
    card.text(
        0.01,
        0.98,
        title,
        transform=card.transAxes,
        va="top",
        ha="left",
        color=TEXT,
        fontsize=8,
        fontweight="bold",
        clip_on=True,
    )
    return card


def _inner(
    fig: Figure,
    rect: tuple[float, float, float, float],
    inches: tuple[float, float],
    pad: tuple[float, float, float, float],
) -> Axes:
    """An axes inside rect, padded by (left, bottom, right, top) inches."""
    x, y, w, h = rect
    fw, fh = inches
    left, bottom, right, top = pad
    ax = fig.add_axes(
        (x + left / fw, y + bottom / fh, max(w - (left + right) / fw, 0.01), max(h - (bottom + top) / fh, 0.01))
    )
    ax.set_facecolor(CARD)
    ax.tick_params(colors=TEXT, labelsize=6, length=2)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.grid(color=GRID, linewidth=0.5)
    return ax


def draw_timeseries(
    ax: Axes,
    panel: dict[str, Any],
    queries: list[Query],
    spans: list[tuple[float, float, str]],
    start: float,
    end: float,
) -> int:
    defaults = panel["fieldConfig"]["defaults"]
    custom_defaults = defaults.get("custom", {})
    unit = defaults.get("unit", "")
    # x is matplotlib's date number (_x), on an axis told it holds UTC dates: the locator and
    # formatter that datetime data would have set up, and numbers that Axes' types accept.
    ax.xaxis_date(UTC)
    lines = []  # (name, times, values, field config, custom)
    for q in queries:
        fc = _field_config(panel, q.ref_id)
        custom = {**custom_defaults, **{k[7:]: v for k, v in fc.items() if k.startswith("custom.")}}
        lines += [(legend(q.legend, s.labels), [_x(t) for t in s.times], s.values, fc, custom) for s in q.series]
    by_name = {name: (times, values) for name, times, values, _, _ in lines}
    finite: list[float] = []
    for i, (name, times, values, fc, custom) in enumerate(lines):
        fixed = fc.get("color", {}).get("mode") == "fixed"
        c = colour(fc["color"]["fixedColor"]) if fixed else SERIES[i % len(SERIES)]
        ax.plot(
            times,
            values,
            color=c,
            linewidth=custom.get("lineWidth", 1),
            linestyle="--" if custom.get("lineStyle", {}).get("fill") == "dash" else "-",
            label=None if custom.get("hideFrom", {}).get("legend") else name,
        )
        lower = by_name.get(custom.get("fillBelowTo", ""))
        if lower and len(lower[0]) == len(times):  # the anomaly band: Grafana's fillBelowTo
            ax.fill_between(times, lower[1], values, color=c, alpha=custom.get("fillOpacity", 10) / 100, linewidth=0)
        finite += [v for v in values if math.isfinite(v)]
    steps = [s for s in defaults.get("thresholds", {}).get("steps", []) if s["value"] is not None]
    mode = custom_defaults.get("thresholdsStyle", {}).get("mode", "off")
    shown = steps if mode != "off" else []
    # Like Grafana: the axis fits the data and the soft limits (vigil sets them to show thresholds).
    lo = min(finite + [custom_defaults.get("axisSoftMin", math.inf)], default=0.0)
    hi = max(finite + [custom_defaults.get("axisSoftMax", -math.inf)], default=1.0)
    hi = min(hi if hi > lo else lo + 1, defaults.get("max", math.inf))
    lo = max(lo, defaults.get("min", -math.inf))
    ax.set_ylim(lo - (hi - lo) * 0.05 * (lo < 0), hi + (hi - lo) * 0.08)
    for s in shown:
        ax.axhline(s["value"], color=colour(s["color"]), linewidth=1, linestyle="--" if "dashed" in mode else "-")
    if "area" in mode:
        edges = [ax.get_ylim()[0]] + [s["value"] for s in shown] + [ax.get_ylim()[1]]
        colours = [defaults["thresholds"]["steps"][0]["color"]] + [s["color"] for s in shown]
        for (a, b), c in zip(itertools.pairwise(edges), colours):
            ax.axhspan(a, b, color=colour(c), alpha=0.08, linewidth=0)
    for begin, stop, c in spans:
        ax.axvspan(_x(begin), _x(stop), color=c, alpha=0.15, linewidth=0)
    ax.set_xlim(_x(start), _x(end))
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S" if end - start <= 900 else "%H:%M"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    if lines:
        ax.legend(
            loc="upper left", fontsize=5.5, facecolor=CARD, edgecolor=GRID, labelcolor=TEXT, ncol=min(4, len(lines))
        )
    else:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", va="center", color=TEXT, fontsize=9)
    return len(lines)


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _x(t: float) -> float:
    """Unix time t as a position on a date axis: the number matplotlib converts a datetime to."""
    return float(date2num(_time(t)))


def _last(values: list[float]) -> float:
    """Grafana's lastNotNull reducer."""
    return next((v for v in reversed(values) if not math.isnan(v)), math.nan)


def _display(value: float, fc: dict[str, Any]) -> tuple[str, str]:
    """(text, colour) of one value: value mappings first, then unit and threshold colour."""
    for m in fc.get("mappings", []):
        hit = (
            m.get("options", {}).get(format(value, "g")) if m.get("type") == "value" and not math.isnan(value) else None
        )
        if hit:
            return hit["text"], colour(hit.get("color", "text"))
    text = format_value(value, fc.get("unit", ""), fc.get("decimals"))
    return text, (step_colour(value, fc["thresholds"]) if "thresholds" in fc and not math.isnan(value) else TEXT)


def draw_values(card: Axes, panel: dict[str, Any], queries: list[Query]) -> int:
    """Stat and gauge: the last value of each series side by side (a gauge gets a bar under it)."""
    items = [
        (legend(q.legend, s.labels), _last(s.values), _field_config(panel, q.ref_id)) for q in queries for s in q.series
    ]
    background = panel.get("options", {}).get("colorMode") == "background"
    if not items:
        card.text(0.5, 0.45, "No data", transform=card.transAxes, ha="center", va="center", color=TEXT, fontsize=10)
    for i, (name, value, fc) in enumerate(items):
        text, c = _display(value, fc)
        x0, width = i / len(items), 1 / len(items)
        if background and c != TEXT:
            card.add_patch(_rect((x0 + 0.01, 0.04), width - 0.02, 0.78, c, card))
        ink = BACKGROUND if background and c != TEXT else c
        card.text(
            x0 + width / 2,
            0.45,
            text,
            transform=card.transAxes,
            ha="center",
            va="center",
            color=ink,
            fontsize=14 if len(items) < 3 else 10,
            fontweight="bold",
        )
        if len(items) > 1 or panel.get("options", {}).get("textMode") == "value_and_name":
            card.text(
                x0 + width / 2,
                0.16,
                name,
                transform=card.transAxes,
                ha="center",
                va="center",
                color=ink if background else TEXT,
                fontsize=6,
            )
        if panel["type"] == "gauge" and not math.isnan(value):
            lo, hi = fc.get("min", 0), fc.get("max", 1)
            share = min(max((value - lo) / ((hi - lo) or 1), 0), 1)
            card.add_patch(_rect((x0 + 0.05, 0.68), (width - 0.1), 0.05, GRID, card))
            card.add_patch(_rect((x0 + 0.05, 0.68), (width - 0.1) * share, 0.05, c, card))
    return len(items)


def _rect(xy: tuple[float, float], w: float, h: float, c: str, ax: Axes) -> Rectangle:
    return Rectangle(xy, w, h, transform=ax.transAxes, color=c, linewidth=0)


def draw_table(card: Axes, panel: dict[str, Any], queries: list[Query]) -> int:
    include = next(
        (t["options"]["include"]["names"] for t in panel.get("transformations", []) if t["id"] == "filterFieldsByName"),
        None,
    )
    rows = [s.labels for q in queries for s in q.series]
    columns = [c for c in include or sorted({k for r in rows for k in r}) if any(c in r for r in rows)]
    if not rows:
        card.text(
            0.5,
            0.45,
            panel["fieldConfig"]["defaults"].get("noValue", "No data"),
            transform=card.transAxes,
            ha="center",
            va="center",
            color=TEXT,
            fontsize=9,
        )
        return 0
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in columns}
    lines = ["  ".join(f"{c:<{widths[c]}}" for c in columns)] + [
        "  ".join(f"{r.get(c, ''):<{widths[c]}}" for c in columns) for r in rows
    ]
    card.text(
        0.02,
        0.86,
        "\n".join(lines[:14]),
        transform=card.transAxes,
        ha="left",
        va="top",
        color=TEXT,
        fontsize=6,
        family="monospace",
    )
    return len(rows)


def draw_text(card: Axes, panel: dict[str, Any], width_inches: float) -> None:
    text = panel["options"]["content"]
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("**", "").replace("`", "")
    wrapped = "\n".join(
        textwrap.fill(line, max(int(width_inches * 17), 20)) if line else "" for line in text.splitlines()
    )
    card.text(0.02, 0.88, wrapped, transform=card.transAxes, ha="left", va="top", color=TEXT, fontsize=6.5)


def draw_chart(
    path: Path,
    title: str,
    panel: dict[str, Any],
    queries: list[Query],
    spans: list[tuple[float, float, str]],
    start: float,
    end: float,
    size: tuple[float, float] = (9.6, 3.0),
) -> int:
    """One timeseries panel alone, drawn as the dashboard draws it, to a PNG (postmortem charts)."""
    fig = Figure(figsize=size, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    rect = (0.005, 0.01, 0.99, 0.98)
    _card(fig, rect, title)
    drawn = draw_timeseries(_inner(fig, rect, size, (0.7, 0.3, 0.15, 0.3)), panel, queries, spans, start, end)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, facecolor=BACKGROUND)
    return drawn


# ------------------------------------------------------------------------------ a dashboard
def draw_dashboard(
    doc: dict[str, Any], api: PrometheusAPI, path: Path, start: float, end: float, step: float
) -> Preview:
    variables = {v["name"]: v.get("allValue") or ".*" for v in doc["templating"]["list"] if v["type"] == "query"}
    panels = doc["panels"]
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1) + 2  # + a title band
    inches = (24 * COLUMN_INCHES, rows * ROW_INCHES)
    fig = Figure(figsize=inches, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    fig.text(
        0.01,
        1 - 0.9 / rows,
        f"{doc['title']}   ·   {_time(start):%Y-%m-%d %H:%M} – {_time(end):%H:%M} UTC",
        color=TEXT,
        fontsize=12,
        fontweight="bold",
        va="center",
    )
    spans = firing_spans(api, doc, variables, start, end, step)
    preview = Preview(doc["uid"], path)
    for panel in flat_panels(doc):
        g = panel["gridPos"]
        gap_x, gap_y = 0.04 / inches[0], 0.04 / inches[1]  # inches between cards
        rect = (
            g["x"] / 24 + gap_x,
            1 - (g["y"] + 2 + g["h"]) / rows + gap_y,
            g["w"] / 24 - 2 * gap_x,
            g["h"] / rows - 2 * gap_y,
        )
        drawn = PanelDrawn(panel["id"], panel.get("title", ""), panel["type"])
        preview.panels.append(drawn)
        if panel["type"] == "row":
            fig.text(
                rect[0], rect[1] + rect[3] / 2, panel["title"], color=TEXT, fontsize=10, fontweight="bold", va="center"
            )
            continue
        card = _card(fig, rect, drawn.title)
        try:
            queries = fetch(api, panel, variables, start, end, step)
        except QueryError as e:
            drawn.error = str(e)
            card.text(
                0.02,
                0.5,
                textwrap.fill("query failed: " + str(e), 60),
                transform=card.transAxes,
                color=COLOURS["red"],
                fontsize=6,
                va="center",
            )
            continue
        if panel["type"] == "timeseries":
            ax = _inner(fig, rect, inches, (0.55, 0.25, 0.1, 0.25))
            drawn.series = draw_timeseries(ax, panel, queries, spans, start, end)
        elif panel["type"] in ("stat", "gauge"):
            drawn.series = draw_values(card, panel, queries)
        elif panel["type"] == "table":
            drawn.series = draw_table(card, panel, queries)
        elif panel["type"] == "text":
            draw_text(card, panel, g["w"] * COLUMN_INCHES)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, facecolor=BACKGROUND)
    return preview


def preview(
    out: Path,
    prometheus_url: str,
    dest: Path,
    *,
    uids: Sequence[str] = (),
    range_seconds: float = 3600,
    end: float | None = None,
) -> list[Preview]:
    """Draw the dashboards under out/ (all, or those in `uids`) to dest/<uid>.png."""
    files = sorted((out / DASHBOARDS_DIR).glob("*.json"))
    wanted = set(uids)
    missing = wanted - {f.stem for f in files}
    if missing:
        raise VigilError(f"no dashboard {', '.join(sorted(missing))} under {out / DASHBOARDS_DIR}")
    api = PrometheusAPI(prometheus_url)
    end = time.time() if end is None else end
    start = end - range_seconds
    step = max(range_seconds / 300, 1.0)  # ~300 points across, as Grafana asks for a panel's width
    return [
        draw_dashboard(json.loads(f.read_text(encoding="utf-8")), api, dest / f"{f.stem}.png", start, end, step)
        for f in files
        if not wanted or f.stem in wanted
    ]
