"""Maps. For now: the print-quality static choropleth (matplotlib + mapclassify)."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np

from fragility._files import atomic_path


def static_map(
    gdf: gpd.GeoDataFrame,
    column: str,
    path: str | os.PathLike,
    *,
    title: str,
    source_line: str,
    legend_title: str | None = None,
    subtitle: str | None = None,
    scheme: str = "quantiles",
    k: int = 5,
    cmap: str = "YlOrRd",
    borders: gpd.GeoDataFrame | None = None,
    fmt: str = "{:,.0f}",
    categories: dict[str, tuple[str, str]] | None = None,
) -> Path:
    """Draw a classed choropleth of one column and write it as PNG (or SVG).

    The map has a title, an optional subtitle (the demo territory says it is synthetic),
    a legend in French, a scale bar, a north arrow and a source line. IRIS without a
    value are drawn in grey and counted in the legend.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        IRIS frame in a projected CRS (metres).
    column : str
        Column to map.
    path : str or os.PathLike
        Output file (``.png`` or ``.svg``), written atomically.
    title, source_line : str
        Title and "Sources : …" line.
    legend_title, subtitle : str, optional
        Legend title and subtitle.
    scheme : str, default "quantiles"
        mapclassify scheme name.
    k : int, default 5
        Number of classes.
    cmap : str, default "YlOrRd"
        Matplotlib colour map.
    borders : geopandas.GeoDataFrame, optional
        Outlines drawn on top (e.g. communes).
    fmt : str, default "{:,.0f}"
        Format of the class bounds in the legend (e.g. ``"{:.2f}"`` for ratios).
    categories : dict, optional
        Categorical map instead of classes: value -> (French label, colour), in legend
        order; other values are drawn as missing.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8.27, 8.27), dpi=150)
    if categories is not None:
        values = gdf[column].where(gdf[column].isin(list(categories)))
        present = gdf[values.notna()]
        handles, labels = [], []
        for value, (label, colour) in categories.items():
            part = gdf[values == value]
            if len(part):
                part.plot(ax=ax, color=colour, edgecolor="white", linewidth=0.2)
            handles.append(Patch(facecolor=colour))
            labels.append(f"{label} ({len(part)})")
        ax.legend(handles, labels, title=legend_title or column, loc="lower left", fontsize=7,
                  title_fontsize=8)
    else:
        values = gdf[column].astype(float)
        present = gdf[values.notna()]
    k_eff = int(min(k, max(1, values.nunique())))
    if len(present) and categories is None:
        present.plot(
            column=column,
            ax=ax,
            scheme=scheme if k_eff > 1 else None,
            k=k_eff,
            cmap=cmap,
            edgecolor="white",
            linewidth=0.2,
            legend=True,
            legend_kwds={
                "title": legend_title or column,
                "loc": "lower left",
                "fontsize": 7,
                "title_fontsize": 8,
                "fmt": fmt,
            },
        )
    absent = gdf[values.isna()]
    if len(absent):
        absent.plot(ax=ax, color="#cccccc", edgecolor="white", linewidth=0.2, hatch="///")
        legend = ax.get_legend()
        handles = list(legend.legend_handles) if legend else []
        labels = [t.get_text() for t in legend.get_texts()] if legend else []
        handles.append(Patch(facecolor="#cccccc", hatch="///"))
        labels.append(f"donnée manquante ({len(absent)})")
        ax.legend(
            handles,
            labels,
            title=legend_title or column,
            loc="lower left",
            fontsize=7,
            title_fontsize=8,
        )
    if borders is not None:
        borders.boundary.plot(ax=ax, color="#333333", linewidth=0.6)
    _scale_bar(ax)
    ax.annotate(
        "N",
        xy=(0.95, 0.95),
        xytext=(0.95, 0.88),
        xycoords="axes fraction",
        ha="center",
        fontsize=11,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black"},
    )
    ax.set_axis_off()
    fig.suptitle(title, fontsize=13, fontweight="bold", x=0.02, ha="left")
    if subtitle:
        ax.set_title(subtitle, fontsize=9, loc="left", color="#a00000")
    fig.text(0.02, 0.015, source_line, fontsize=7, color="#444444")
    with atomic_path(path) as tmp:
        fig.savefig(
            tmp,
            format=path.suffix.lstrip(".") or "png",
            bbox_inches="tight",
            metadata={"Software": None} if path.suffix == ".png" else None,
        )
    plt.close(fig)
    return path


def _scale_bar(ax) -> None:
    """Draw a round-length scale bar (metres) in the lower right corner."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    length = 10 ** np.floor(np.log10(target))
    for step in (5, 2, 1):
        if step * length <= target:
            length *= step
            break
    x_end = x1 - (x1 - x0) * 0.04
    y = y0 + (y1 - y0) * 0.04
    ax.plot([x_end - length, x_end], [y, y], color="black", linewidth=3)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x_end - length / 2, y + (y1 - y0) * 0.012, label, ha="center", fontsize=7)
