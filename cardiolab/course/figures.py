"""Small plotly figures the lessons share: an image slice with its labels, a grid of slices, curves.

Each function returns a ``plotly.graph_objects.Figure``; call ``.show()`` on it. Rows go
down the screen and columns to the right, as the ``(Y, X)`` array is stored, so a
short-axis slice looks the way a scanner console shows it.
"""
from __future__ import annotations

import numpy as np

from cardiolab import LABEL_NAMES

# One colour per label: LV cavity red, myocardium green, RV cavity blue (background transparent).
LABEL_COLOURS = {1: "rgba(230, 60, 60, 0.45)", 2: "rgba(60, 190, 90, 0.45)", 3: "rgba(70, 120, 240, 0.45)"}


def _label_overlay(labels_yx: np.ndarray):
    import plotly.graph_objects as go

    masked = np.where(labels_yx > 0, labels_yx, np.nan).astype(np.float32)  # NaN is drawn transparent
    colours = [[0.0, LABEL_COLOURS[1]], [1 / 3, LABEL_COLOURS[1]], [1 / 3, LABEL_COLOURS[2]], [2 / 3, LABEL_COLOURS[2]],
               [2 / 3, LABEL_COLOURS[3]], [1.0, LABEL_COLOURS[3]]]
    return go.Heatmap(z=masked, zmin=0.5, zmax=3.5, colorscale=colours, showscale=False, hoverinfo="skip")


def slice_figure(image_yx, labels_yx=None, title: str = "", height: int = 360):
    """One grey-level slice, with the label map drawn over it when given."""
    return slices_figure([image_yx], None if labels_yx is None else [labels_yx], [title], columns=1, height=height)


def slices_figure(images, labels=None, titles=None, columns: int = 4, height: int | None = None,
                  colorscale: str = "gray", zmin=None, zmax=None):
    """A grid of 2D images (each ``(Y, X)``), optionally with label maps over them."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    images = [np.asarray(image, dtype=np.float32) for image in images]  # float32: half the figure's size
    columns = max(1, min(columns, len(images)))
    rows = int(np.ceil(len(images) / columns))
    titles = list(titles) if titles is not None else [""] * len(images)
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.02,
                           vertical_spacing=0.06)
    for index, image in enumerate(images):
        row, column = index // columns + 1, index % columns + 1
        figure.add_trace(go.Heatmap(z=image, colorscale=colorscale, showscale=False, zmin=zmin, zmax=zmax,
                                    hovertemplate="row %{y}, column %{x}: %{z:.3g}<extra></extra>"), row, column)
        if labels is not None and labels[index] is not None:
            figure.add_trace(_label_overlay(np.asarray(labels[index])), row, column)
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")  # row 0 at the top
    for index in range(1, len(images)):
        figure.update_yaxes(scaleanchor=f"x{index + 1}", row=index // columns + 1, col=index % columns + 1)
    figure.update_layout(height=height or 260 * rows + 40, margin=dict(l=10, r=10, t=40, b=10),
                         template="plotly_white")
    return figure


def curves_figure(x, curves: dict, title: str = "", xaxis_title: str = "frame", yaxis_title: str = "volume (ml)",
                  marks: dict | None = None):
    """Lines ``{name: y values}`` over ``x``; ``marks`` = ``{label: x}`` draws dashed vertical lines."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, values in curves.items():
        y = list(np.asarray(values, dtype=float))
        figure.add_trace(go.Scatter(x=list(x), y=y, mode="lines+markers", name=name))
    for label, position in (marks or {}).items():
        figure.add_vline(x=position, line_dash="dash", annotation_text=label)
    figure.update_layout(title=title, xaxis_title=xaxis_title, yaxis_title=yaxis_title, template="plotly_white",
                         height=360, margin=dict(l=10, r=10, t=50, b=10))
    return figure


def legend_text() -> str:
    """The overlay colours in words, for a caption."""
    names = {1: "red", 2: "green", 3: "blue"}
    return ", ".join(f"{names[value]} = {LABEL_NAMES[value]}" for value in (1, 2, 3))
