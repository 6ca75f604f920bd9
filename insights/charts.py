"""Charts as inline SVG, drawn on the server: no script, no CDN, no font download.

Every chart takes already-formatted labels (Babel, in the reader's language) and `rtl`. In a
right-to-left page time runs from right to left and bars grow from the right, as the reader's eye
does; in a left-to-right page the mirror image. Colours are presentation attributes, not style
attributes, so the page's Content-Security-Policy (no inline styles) holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#1f6f8b", "#e07a1f", "#5b8c3a", "#8b3a62", "#6d6d6d")
INK, GRID, MUTED = "#222", "#d9d9d9", "#777"


def _svg(width: int, height: int, label: str, body: list[str], rtl: bool) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" direction="{"rtl" if rtl else "ltr"}" font-family="system-ui, sans-serif" '
        f'font-size="12"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def _x(pos: float, width: float, rtl: bool) -> float:
    return width - pos if rtl else pos


def line_chart(
    label: str, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *, rtl: bool,
    y_format: Sequence[str] | None = None, width: int = 640, height: int = 240,
) -> str:
    """One line per series over the periods; `y_format`: the formatted top and bottom axis values."""
    pad_side, pad_axis, pad_top, pad_bottom = 16, 56, 16, 44
    n = max(len(x_labels), 1)
    top = max([v for _, vs in series for v in vs if v is not None] or [0]) or 1
    plot_w, plot_h = width - pad_side - pad_axis, height - pad_top - pad_bottom

    def px(i: int) -> float:
        pos = pad_axis + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return _x(pos, width, rtl)

    def py(v: float) -> float:
        return pad_top + plot_h * (1 - v / top)

    body = [f'<line x1="{_x(pad_axis, width, rtl)}" x2="{_x(pad_axis + plot_w, width, rtl)}" y1="{py(0)}" y2="{py(0)}" stroke="{GRID}"/>',
            f'<line x1="{_x(pad_axis, width, rtl)}" x2="{_x(pad_axis + plot_w, width, rtl)}" y1="{py(top)}" y2="{py(top)}" stroke="{GRID}"/>']
    anchor = "start" if rtl else "end"
    axis_x = _x(pad_axis - 6, width, rtl)
    if y_format:
        body.append(f'<text x="{axis_x}" y="{py(top) + 4}" text-anchor="{anchor}" fill="{MUTED}">{escape(y_format[0])}</text>')
        body.append(f'<text x="{axis_x}" y="{py(0) + 4}" text-anchor="{anchor}" fill="{MUTED}">{escape(y_format[1])}</text>')
    step = max(1, n // 6)
    for i, lab in enumerate(x_labels):
        # every step-th label, and the last one unless it would sit on the one before it
        if i % step == 0 or (i == n - 1 and i % step > step // 2):
            body.append(f'<text x="{px(i):.1f}" y="{height - pad_bottom + 16}" text-anchor="middle" fill="{MUTED}">{escape(lab)}</text>')
    for k, (name, values) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values) if v is not None)
        if points:
            body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
            for i, v in enumerate(values):
                if v is not None:
                    body.append(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}"/>')
        # legend under the axis, in reading order
        lx = _x(pad_axis + k * 160, width, rtl)
        ly = height - 10
        sx = lx - 14 if rtl else lx
        body.append(f'<rect x="{sx:.1f}" y="{ly - 9}" width="14" height="4" fill="{colour}"/>')
        tx = lx - 20 if rtl else lx + 20
        body.append(f'<text x="{tx:.1f}" y="{ly}" text-anchor="start" fill="{INK}">{escape(name)}</text>')
    return _svg(width, height, label, body, rtl)


def bar_chart(
    label: str, rows: Sequence[tuple[str, float | None, str]], *, rtl: bool, width: int = 640, bar: int = 22,
) -> str:
    """Horizontal bars: (label, value, formatted value); None is drawn as a dash (suppressed)."""
    label_w, value_w, gap = 190, 70, 8
    height = max(len(rows), 1) * (bar + gap) + gap
    top = max([v for _, v, _ in rows if v is not None] or [0]) or 1
    plot_w = width - label_w - value_w
    body = []
    for i, (name, value, shown) in enumerate(rows):
        y = gap + i * (bar + gap)
        # the label sits at the start of the line, the bar grows away from it
        body.append(f'<text x="{_x(label_w - 8, width, rtl)}" y="{y + bar * 0.7}" text-anchor="end" fill="{INK}">{escape(name)}</text>')
        w = plot_w * (value or 0) / top
        x0 = _x(label_w, width, rtl)
        bx = x0 - w if rtl else x0
        body.append(f'<rect x="{bx:.1f}" y="{y}" width="{w:.1f}" height="{bar}" rx="3" fill="{PALETTE[0]}"/>')
        vx = _x(label_w + w + 6, width, rtl)
        body.append(f'<text x="{vx:.1f}" y="{y + bar * 0.7}" text-anchor="start" fill="{INK}">{escape(shown)}</text>')
    return _svg(width, height, label, body, rtl)


def funnel(label: str, steps: Sequence[tuple[str, int, str]], *, rtl: bool, width: int = 640, bar: int = 24) -> str:
    """Centred bars narrowing step by step: (step label, count, formatted count and share)."""
    label_w, gap = 170, 6
    height = max(len(steps), 1) * (bar + gap) + gap
    top = max([c for _, c, _ in steps] or [0]) or 1
    plot_w = width - label_w - 20
    centre = label_w + plot_w / 2
    body = []
    for i, (name, count, shown) in enumerate(steps):
        y = gap + i * (bar + gap)
        w = max(plot_w * count / top, 2)
        x = _x(centre, width, rtl) - w / 2
        body.append(f'<text x="{_x(label_w - 8, width, rtl)}" y="{y + bar * 0.7}" text-anchor="end" fill="{INK}">{escape(name)}</text>')
        body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" rx="3" fill="{PALETTE[2] if i else PALETTE[0]}"/>')
        body.append(f'<text x="{_x(centre, width, rtl):.1f}" y="{y + bar * 0.7}" text-anchor="middle" fill="#fff" '
                    f'font-weight="600">{escape(shown)}</text>')
    return _svg(width, height, label, body, rtl)


def sparkline(label: str, values: Sequence[float | None], *, rtl: bool, width: int = 90, height: int = 24) -> str:
    """A trend in a table cell, no axes; gaps (suppressed or no data) break nothing."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if not pts:
        return ""
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span = (hi - lo) or 1
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{_x(2 + (width - 4) * i / n, width, rtl):.1f},{2 + (height - 4) * (1 - (v - lo) / span):.1f}"

    line = " ".join(xy(i, v) for i, v in pts)
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
            f'<polyline points="{line}" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5"/></svg>')
