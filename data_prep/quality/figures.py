"""Matplotlib figures on their own Agg canvas, encoded as PNG, and a fast layout for them.

matplotlib is imported inside the functions (the CLI must start fast) and pyplot is never used: every figure is a
plain ``Figure`` on its own Agg canvas, so rendering leaves no global state behind and is safe in threads.
:func:`fit_axes` lays a figure out by measuring only the texts at the edges of its axes; constrained layout, which
measures every artist, took a third of the quality report's rendering time.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

import numpy as np

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

_DPI = 100
_PNG_LEVEL = 3  # zlib level of the PNGs: 2 % larger than at the default level 6, encoded in 80 % of its time
_PAD_PT = 5.0  # blank space at the figure's edges and between neighbouring axes [pt]
_TEXT_HEIGHT = 1.05  # height of a line of text over its font size, as Matplotlib lays it out


def preload() -> None:
    """Import what drawing needs (about 0.35 s of CPU), so that a helper process is ready to draw at once."""
    import importlib

    for module in (
        "matplotlib.figure",
        "matplotlib.backends.backend_agg",
        "matplotlib.dates",
        "PIL.PngImagePlugin",
    ):
        importlib.import_module(module)


def new_figure(
    width_in: float, height_in: float, layout: Literal["constrained"] | None = "constrained"
) -> Figure:
    """A figure on its own Agg canvas; ``layout=None`` for one that :func:`fitted_png` lays out."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=_DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure, drawn once, as PNG.

    ``savefig`` would draw a constrained-layout figure twice (once to lay it out, once to render); one
    ``canvas.draw`` does both, and the pixels are the same. The PNG holds RGB without the alpha channel, at
    zlib level 3: it encodes in 60 % of the time of Matplotlib's RGBA at level 6, and is 8 % smaller.

    Invariants: the figure is opaque (Matplotlib's default white face), so dropping alpha loses nothing.
    """
    from PIL import Image

    canvas = cast("FigureCanvasAgg", fig.canvas)
    canvas.draw()
    rgba = canvas.buffer_rgba()
    image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1).convert("RGB")
    buffer = io.BytesIO()
    # No metadata: the same figures give the same bytes.
    image.save(buffer, format="png", dpi=(fig.dpi, fig.dpi), compress_level=_PNG_LEVEL)
    return buffer.getvalue()


def fitted_png(fig: Figure) -> bytes:
    """:func:`png_bytes` of a figure without layout engine, once :func:`fit_axes` has placed its axes."""
    fit_axes(fig)
    return png_bytes(fig)


def fit_axes(fig: Figure) -> None:
    """Place the figure's grid of subplots so that their tick labels, axis labels and titles just fit.

    Constrained layout gets there by computing the extent of every artist, which costs about as much as
    drawing them all again. Here only the texts at the edges are measured: the labels of the ticks each
    axis will show, the axis labels and titles, and figure legends, which go above the top row. Titles are
    pinned to the top of their axes, in Matplotlib's default style: their automatic placement would lay the
    y tick labels out once more, only to dodge an offset text.

    Invariants: every axes comes from one ``fig.subplots`` grid; the columns share one width and the rows
    one height; the scales are linear (dates and categories included).
    """
    from matplotlib.font_manager import FontProperties

    renderer = cast("FigureCanvasAgg", fig.canvas).get_renderer()

    @functools.cache
    def text_width_pt(text: str, size_pt: float) -> float:
        width = renderer.get_text_width_height_descent(text, FontProperties(size=size_pt), ismath=False)[0]
        return float(width) * 72 / fig.dpi

    for _ in range(2):  # twice: the ticks an axis shows depend on its length, which the first pass sets
        _place_axes(fig, text_width_pt, renderer)
    for ax in fig.axes:
        if title := ax.get_title():
            ax.set_title(title, y=1.0)


def _place_axes(fig: Figure, text_width_pt: Callable[[str, float], float], renderer: Any) -> None:
    width_pt, height_pt = 72 * fig.get_size_inches()
    cells = [(ax, spec) for ax in fig.axes if (spec := ax.get_subplotspec()) is not None]
    nrows, ncols = cells[0][1].get_gridspec().get_geometry()
    left, right, top, bottom = np.zeros(ncols), np.zeros(ncols), np.zeros(nrows), np.zeros(nrows)
    for ax, spec in cells:
        row, col = spec.rowspan.start, spec.colspan.start
        edges = _decorations_pt(ax, (width_pt, height_pt), text_width_pt)
        left[col], right[col] = max(left[col], edges[0]), max(right[col], edges[1])
        top[row], bottom[row] = max(top[row], edges[2]), max(bottom[row], edges[3])
    legends_pt = sum(legend.get_window_extent(renderer).height for legend in fig.legends) * 72 / fig.dpi
    axes_w = (width_pt - left.sum() - right.sum() - (ncols + 1) * _PAD_PT) / ncols
    axes_h = (height_pt - legends_pt - top.sum() - bottom.sum() - (nrows + 1) * _PAD_PT) / nrows
    x0 = _PAD_PT + left + np.r_[0.0, np.cumsum(right + _PAD_PT + left)[:-1]] + axes_w * np.arange(ncols)
    y1 = height_pt - legends_pt - _PAD_PT - top - np.r_[0.0, np.cumsum(bottom + _PAD_PT + top)[:-1]]
    y0 = y1 - axes_h * np.arange(1, nrows + 1)
    for ax, spec in cells:
        x, y = x0[spec.colspan.start], y0[spec.rowspan.start]
        ax.set_position((x / width_pt, y / height_pt, axes_w / width_pt, axes_h / height_pt))


class _TickLabels(NamedTuple):
    """The tick labels an axis will show: where each sits along the axis (0 to 1) and the width and height
    of its box, rotated [pt]; and the height the axis' offset text (e.g. ``1e6``) takes, 0 without one [pt]."""

    at: np.ndarray
    width: np.ndarray
    height: np.ndarray
    offset: float


def _decorations_pt(
    ax: Any, figure_pt: tuple[float, float], text_width_pt: Callable[[str, float], float]
) -> tuple[float, float, float, float]:
    """How far the tick labels, axis labels and title of ``ax`` reach past its left, right, top and bottom
    edges at its current size [pt]."""
    import matplotlib as mpl

    def label(text: Any, pad: float) -> float:
        return _TEXT_HEIGHT * text.get_fontsize() + pad if text.get_text() else 0.0

    position = ax.get_position()
    x, y = _tick_labels_pt(ax.xaxis, text_width_pt), _tick_labels_pt(ax.yaxis, text_width_pt)
    x_len, y_len = position.width * figure_pt[0], position.height * figure_pt[1]
    # A label is centred on its tick, so near an end of the axis it can stand out past the axes.
    x_before, x_after = _overhang(x.at * x_len, x.width / 2), _overhang((1 - x.at) * x_len, x.width / 2)
    y_after = _overhang((1 - y.at) * y_len, y.height / 2)
    x_tick = mpl.rcParams["xtick.major.size"] + mpl.rcParams["xtick.major.pad"]
    y_tick = mpl.rcParams["ytick.major.size"] + mpl.rcParams["ytick.major.pad"]
    labelpad = mpl.rcParams["axes.labelpad"]
    y_side = (y.width.max() + y_tick if y.width.size else 0.0) + label(ax.yaxis.label, labelpad)
    # The x offset text sits under the tick labels at the right end, beside the axis label.
    x_side = x.height.max() + x_tick if x.height.size else 0.0
    x_side += max(label(ax.xaxis.label, labelpad), x.offset)
    title = label(ax.title, mpl.rcParams["axes.titlepad"])
    return max(y_side, x_before), x_after, max(title, y_after, y.offset), x_side


def _overhang(room_pt: np.ndarray, half_pt: np.ndarray) -> float:
    return float(np.max(half_pt - room_pt, initial=0.0))


def _tick_labels_pt(axis: Any, text_width_pt: Callable[[str, float], float]) -> _TickLabels:
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties

    is_x = axis.axis_name == "x"
    params = axis.get_tick_params()
    locs = axis.get_majorticklocs()
    formatter = axis.get_major_formatter()
    texts = formatter.format_ticks(locs)
    start, end = axis.get_view_interval()
    at = (np.asarray(locs, dtype=float) - start) / (end - start)
    shown = (at > -1e-9) & (at < 1 + 1e-9) & np.array([bool(t) for t in texts], dtype=bool)
    shown &= bool(params.get("labelbottom" if is_x else "labelleft", True))
    prop = FontProperties(size=mpl.rcParams["xtick.labelsize" if is_x else "ytick.labelsize"])
    size_pt = prop.get_size_in_points()
    width = np.array([text_width_pt(t, size_pt) for t, keep in zip(texts, shown, strict=True) if keep])
    height = np.full(width.shape, _TEXT_HEIGHT * size_pt)
    angle = np.deg2rad(params.get("rotation", 0.0))
    cos, sin = abs(np.cos(angle)), abs(np.sin(angle))
    # 3 pt: the gap Matplotlib leaves between the tick labels and the offset text.
    offset = _TEXT_HEIGHT * size_pt + 3.0 if shown.any() and formatter.get_offset() else 0.0
    return _TickLabels(at[shown], width * cos + height * sin, width * sin + height * cos, offset)
