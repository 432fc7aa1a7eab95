"""The training curve of a run as a self-contained SVG: loss and dev precision, recall and F1 per epoch.

The picture has two panels over one epoch axis: the training loss on top, the dev scores (percent)
below, each with ticks, a grid and a labelled axis; one legend; a dashed line at the epoch whose
model is kept. Without dev data there is only the loss panel, and the kept epoch is the last.

Every series is one ``<polyline data-series="...">`` with one point per epoch (plus a marker per
point, whose tooltip gives the value), so the file is easy to test and to read back.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from html import escape

from ..files import atomic_open

CURVE_FILE = "training.svg"  # beside metrics.jsonl in the model directory (ModelDir.curve_file)

# Okabe-Ito colours: told apart with the common colour-vision deficiencies.
LOSS = ("loss", "training loss", "#0072b2")
SCORES = (("precision", "dev precision", "#e69f00"), ("recall", "dev recall", "#009e73"),
          ("f1", "dev F1", "#d55e00"))
BEST_COLOUR = "#555555"

WIDTH, HEIGHT = 760, 520
LEFT, RIGHT, TOP, BOTTOM = 72, 28, 78, 48  # margins: tick labels and axis titles live in them
GAP = 40                                    # between the two panels
PAD = 12                                    # inside a panel, left and right: no marker is cut by the frame
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def best_epoch(history: Sequence[Mapping]) -> int | None:
    """The epoch whose model training keeps: the first with the highest dev F1, else the last."""
    scored = [row for row in history if row.get("dev")]
    if scored:
        return max(scored, key=lambda row: (row["dev"]["f1"], -row["epoch"]))["epoch"]
    return history[-1]["epoch"] if history else None


def write_curve(path: str | os.PathLike, history: Sequence[Mapping]) -> None:
    """Write :func:`curve_svg` of ``history`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_open(path) as f:
        f.write(curve_svg(history))


def curve_svg(history: Sequence[Mapping]) -> str:
    """The SVG document of a run's curve.

    Parameters
    ----------
    history : sequence of mappings
        One row per epoch, as in ``metrics.jsonl``: ``epoch``, ``loss`` and, with dev data, ``dev``
        holding ``precision``, ``recall`` and ``f1`` in percent.

    Returns
    -------
    str
        A complete SVG document (UTF-8 text, no external references).
    """
    history = [row for row in history if _finite(row.get("loss"))]
    epochs = [row["epoch"] for row in history]
    best = best_epoch(history)
    scored = [row for row in history if row.get("dev")]
    title = escape(_title(history, best, bool(scored)))
    size = f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" {size} {FONT} font-size="12">',
           f"<title>{title}</title>",
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
           f'<text x="{LEFT}" y="24" font-size="15" font-weight="bold" fill="#222222">{title}</text>']
    if not history:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#666666">'
                   f"no finished epoch yet</text>")
        return "\n".join(out + ["</svg>"]) + "\n"
    out += _legend(bool(scored))
    x_scale = _Scale(*_epoch_domain(epochs), LEFT + PAD, WIDTH - RIGHT - PAD)
    panels = [("loss", "training loss per sentence")] + ([("dev", "dev score (%)")] if scored else [])
    height = (HEIGHT - TOP - BOTTOM - GAP * (len(panels) - 1)) / len(panels)
    for i, (kind, label) in enumerate(panels):
        top = TOP + i * (height + GAP)
        if kind == "loss":
            series = [(LOSS, epochs, [row["loss"] for row in history])]
            lo, hi = 0.0, max(row["loss"] for row in history)
        else:
            values = {key: [row["dev"][key] for row in scored] for key, _, _ in SCORES}
            series = [(s, [row["epoch"] for row in scored], values[s[0]]) for s in SCORES]
            every = [v for vs in values.values() for v in vs]
            lo, hi = min(every), max(every)
            # at least 5 points of the 0-100 scale: flat scores (all 0 early on) sit on a readable axis
            lo = max(0.0, min(lo, hi - 5))
            hi = min(100.0, max(hi, lo + 5))
        ticks = nice_ticks(lo, hi)
        y_scale = _Scale(ticks[0], ticks[-1], top + height, top)
        out += _axes(x_scale, y_scale, _epoch_ticks(epochs), ticks, label, last=i == len(panels) - 1)
        if best is not None:
            mark = f"{'best' if scored else 'kept'} epoch {best}" if i == 0 else None
            out.append(_best_line(x_scale(best), top, top + height, mark))
        for (key, name, colour), xs, ys in series:
            out += _series(key, name, colour, xs, ys, x_scale, y_scale, best)
    return "\n".join(out + ["</svg>"]) + "\n"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _title(history: Sequence[Mapping], best: int | None, scored: bool) -> str:
    if not history:
        return "nertag training curve"
    n = len(history)
    head = f"nertag training: {n} epoch{'s' if n != 1 else ''}"
    if not scored:
        return f"{head}, no dev data (the last epoch's model is kept)"
    row = next(row for row in history if row["epoch"] == best)
    return f"{head}, best dev F1 {row['dev']['f1']:.2f} at epoch {best}"


class _Scale:
    """A linear map of data values in [lo, hi] onto pixels [a, b] (b < a for a y axis)."""

    def __init__(self, lo: float, hi: float, a: float, b: float):
        self.lo, self.hi, self.a, self.b = lo, hi if hi > lo else lo + 1, a, b

    def __call__(self, value: float) -> float:
        return self.a + (value - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not hi > lo:  # one value: a small range around it
        margin = abs(lo) * 0.1 or 1.0
        lo, hi = (lo - margin if lo != 0 else 0.0), hi + margin
    step = _nice_step((hi - lo) / count)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))


def _epoch_domain(epochs: Sequence[int]) -> tuple[float, float]:
    lo, hi = min(epochs), max(epochs)
    return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)


def _epoch_ticks(epochs: Sequence[int]) -> list[int]:
    """Whole epochs, about 10 of them, at multiples of a round step (and the first epoch)."""
    lo, hi = min(epochs), max(epochs)
    step = max(1, round(_nice_step((hi - lo) / 10))) if hi > lo else 1
    ticks = list(range(math.ceil(lo / step) * step, hi + 1, step))
    return ticks if ticks and ticks[0] - lo <= step / 2 else [lo, *ticks]


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.1e}"


def _axes(x: _Scale, y: _Scale, x_ticks: Sequence[int], y_ticks: Sequence[float], y_label: str,
          last: bool) -> list[str]:
    """Grid, frame, tick marks and labels of one panel; the x tick labels and title on the last panel only."""
    left, right, bottom, top = x.a - PAD, x.b + PAD, y.a, y.b  # the frame; the data stay PAD inside it
    out = ['<g class="axes" stroke="#cccccc" stroke-width="1">']
    out += [f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eeeeee"/>'
            for t in y_ticks]
    out.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" height="{bottom - top:.1f}" '
               f'fill="none" stroke="#888888"/>')
    out += [f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{bottom:.1f}" y2="{bottom + 5:.1f}" stroke="#888888"/>'
            for t in x_ticks]
    out += [f'<line x1="{left - 5:.1f}" x2="{left:.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#888888"/>'
            for t in y_ticks]
    out.append("</g>")
    out.append('<g class="tick-labels" fill="#444444">')
    out += [f'<text x="{left - 8:.1f}" y="{y(t) + 4:.1f}" text-anchor="end">{_label(t)}</text>' for t in y_ticks]
    if last:
        out += [f'<text x="{x(t):.1f}" y="{bottom + 19:.1f}" text-anchor="middle">{t}</text>' for t in x_ticks]
        out.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 38:.1f}" text-anchor="middle" '
                   f'font-size="13" fill="#222222">epoch</text>')
    middle = (top + bottom) / 2
    out.append(f'<text x="20" y="{middle:.1f}" transform="rotate(-90 20 {middle:.1f})" text-anchor="middle" '
               f'font-size="13" fill="#222222">{escape(y_label)}</text>')
    out.append("</g>")
    return out


def _best_line(x: float, top: float, bottom: float, label: str | None) -> str:
    """The dashed line at the kept epoch; with its ``label`` in the top panel."""
    line = (f'<line class="best" x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" '
            f'stroke="{BEST_COLOUR}" stroke-width="1.5" stroke-dasharray="5 4"/>')
    if label is None:
        return line
    anchor = "end" if x > (LEFT + WIDTH - RIGHT) / 2 else "start"
    shift = -5 if anchor == "end" else 5
    return line + (f'\n<text x="{x + shift:.1f}" y="{top + 14:.1f}" text-anchor="{anchor}" fill="{BEST_COLOUR}">'
                   f"{escape(label)}</text>")


def _series(key: str, name: str, colour: str, xs: Sequence[int], ys: Sequence[float], x: _Scale, y: _Scale,
            best: int | None) -> list[str]:
    """One polyline with a marker per point; the kept epoch's marker ringed."""
    points = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in zip(xs, ys))
    width = 2.5 if key in ("loss", "f1") else 1.6
    line = (f'<polyline data-series="{escape(key)}" points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}" stroke-linejoin="round"/>')
    out = [line, f'<g data-markers="{escape(key)}" fill="{colour}">']
    radius = 2.8 if len(xs) <= 60 else 1.6
    for e, v in zip(xs, ys):
        ring = ' stroke="#222222" stroke-width="1.5"' if e == best and key in ("loss", "f1") else ""
        out.append(f'<circle cx="{x(e):.1f}" cy="{y(v):.1f}" r="{radius + (1.6 if ring else 0)}"{ring}>'
                   f"<title>{escape(f'epoch {e}: {name} {v:.4g}')}</title></circle>")
    out.append("</g>")
    return out


def _legend(scored: bool) -> list[str]:
    """One row under the title: a short line of each series' colour and its name, then the kept epoch."""
    items = [LOSS, *(SCORES if scored else ())]
    out, at = ['<g class="legend" fill="#222222">'], LEFT
    for key, name, colour in items:
        width = 2.5 if key in ("loss", "f1") else 1.6
        out.append(f'<line x1="{at}" x2="{at + 22}" y1="48" y2="48" stroke="{colour}" stroke-width="{width}"/>'
                   f'<circle cx="{at + 11}" cy="48" r="2.8" fill="{colour}"/>'
                   f'<text x="{at + 28}" y="52">{escape(name)}</text>')
        at += 48 + 7 * len(name)
    kept = "best epoch" if scored else "kept epoch"
    out.append(f'<line x1="{at}" x2="{at + 22}" y1="48" y2="48" stroke="{BEST_COLOUR}" stroke-width="1.5" '
               f'stroke-dasharray="5 4"/><text x="{at + 28}" y="52">{kept}</text>')
    out.append("</g>")
    return out
