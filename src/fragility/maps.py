"""Maps: the print-quality static choropleth and the interactive web map (``carte.html``).

* :func:`static_map` draws one classed (mapclassify) or categorical column with
  matplotlib, with a title, a French legend, a scale bar, a north arrow and a source
  line, as PNG (deterministic) or SVG.
* :func:`interactive_map` builds one Leaflet map (folium) with toggleable layers: the
  isolation and non-recours indices, the coverage ratio and the flags as choropleths
  (one at a time, radio buttons), and QPV outlines, France Services, proposed sites and
  commune borders as overlays (check boxes). Tooltips give the IRIS name and code, the
  commune, the values in French number format, the rank interval, the flag and its
  sentence; counts are the **published** (disclosure-protected) columns only, a
  suppressed cell reads "secret".
* :func:`write_interactive_map` writes it as one self-contained HTML file: Leaflet 1.9.4
  (``fragility/_vendor``, BSD-2-Clause) is inlined, so the data layers render with no
  network at all; only the optional OpenStreetMap base tiles need internet.

Computation stays in the projected CRS (Lambert-93); only the web map is reprojected to
WGS84 (EPSG:4326), after a light simplification for display.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from fragility._files import atomic_path, atomic_write
from fragility.disclosure import DEFAULT_K
from fragility.errors import CRSMismatchError, InputError
from fragility.formatting import fr_number
from fragility.geometry import dissolve
from fragility.underserved import FLAGS

#: Banner of every map of the synthetic demonstration territory.
SYNTHETIC_BANNER = "Territoire de démonstration — données synthétiques"

#: Colour of each flag (shared by the static and the interactive maps).
FLAG_COLOURS = {
    "sous_desservi_probable": "#b2182b",
    "a_surveiller": "#ef8a62",
    "conforme": "#d9f0d3",
    "sur_sollicite": "#5aae61",
    "donnees_insuffisantes": "#bdbdbd",
}

MISSING_COLOUR = "#cccccc"


@dataclass(frozen=True)
class ChoroplethLayer:
    """A classed layer of the interactive map.

    Attributes
    ----------
    column : str
        Column of the IRIS frame.
    name : str
        French layer name (layer control).
    legend_title : str
        French legend title.
    cmap : str
        Matplotlib colour map (low class → first colour).
    digits : int
        Decimals shown (legend and tooltip).
    rank : tuple of str
        Candidate prefixes of the rank columns (``<prefix>``, ``<prefix>_low``,
        ``<prefix>_high``); empty when the layer has no rank.
    note : str
        French note under the legend.
    """

    column: str
    name: str
    legend_title: str
    cmap: str
    digits: int
    rank: tuple[str, ...] = ()
    note: str = ""


_RANK_NOTE = "rang 1 = risque le plus élevé ; entre crochets, l'intervalle d'incertitude du rang"

#: Classed layers available to :func:`interactive_map`, by key.
CHOROPLETHS: dict[str, ChoroplethLayer] = {
    "isolation": ChoroplethLayer(
        "isolation_index", "Indice de risque d'isolement", "indice (0-100)", "OrRd", 1,
        ("isolation_rank",), "indice relatif au territoire ; " + _RANK_NOTE),
    "non_recours": ChoroplethLayer(
        "non_recours_index", "Indice de risque de non-recours (barrières)", "indice (0-100)",
        "PuRd", 1, ("non_recours_barrier_rank", "non_recours_rank"),
        "indice relatif au territoire ; " + _RANK_NOTE),
    "coverage": ChoroplethLayer(
        "coverage_ratio", "Couverture de la médiation (contacts observés / attendus)",
        "rapport lissé (1 = attendu)", "RdYlGn", 2, (),
        "1 = autant de contacts qu'attendu pour ce besoin ; vide quand les effectifs "
        "sont secrets ou l'IRIS non évalué"),
}

#: Key of the categorical flag layer.
FLAG_LAYER = "flag"

#: Thematic layers of :func:`interactive_map` by default, in the order of the control.
DEFAULT_LAYERS: tuple[str, ...] = ("isolation", "non_recours", "coverage", FLAG_LAYER)

#: Deterministic mapclassify schemes accepted by :func:`interactive_map`.
SCHEMES = {"quantiles": "Quantiles", "fisherjenks": "FisherJenks",
           "equalinterval": "EqualInterval"}

_SIMPLIFY_M = 5.0
_DIGITS = 6


# --------------------------------------------------------------------------------------
# Static maps (print quality)
# --------------------------------------------------------------------------------------


def _print_tolerance(gdf: gpd.GeoDataFrame, pixels: float) -> float:
    """Half a pixel of a figure ``pixels`` wide showing ``gdf``, in map units."""
    minx, miny, maxx, maxy = gdf.total_bounds
    extent = max(maxx - minx, maxy - miny)
    return float(extent / pixels / 2) if np.isfinite(extent) and extent > 0 else 0.0


def _simplified(gdf: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoDataFrame:
    """Outlines simplified below ``tolerance``: the same picture, far fewer vertices.

    Douglas-Peucker without topology checks (much faster than with them); a
    polygon it would reduce to nothing (smaller than the tolerance) keeps its outline.
    """
    if tolerance <= 0:
        return gdf
    original = gdf.geometry.to_numpy()
    simplified = shapely.simplify(original, tolerance, preserve_topology=False)
    lost = shapely.is_empty(simplified) & ~shapely.is_empty(original)
    simplified[lost] = original[lost]
    return gdf.set_geometry(gpd.GeoSeries(simplified, index=gdf.index, crs=gdf.crs))


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
        Output file (``.png`` or ``.svg``), written atomically; both are
        byte-for-byte reproducible (no date, software version or random SVG ids).
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
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    path = Path(path)
    fig = Figure(figsize=(8.27, 8.27), dpi=150)
    _deferred_canvas(fig)
    tolerance = _print_tolerance(gdf, pixels=8.27 * 150)
    gdf = _simplified(gdf, tolerance)
    borders = None if borders is None else _simplified(borders, tolerance)
    ax = fig.add_subplot()
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
    fmt_name = path.suffix.lstrip(".").lower() or "png"
    # No software version or date in the file, fixed SVG ids: same inputs, same bytes.
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
    with matplotlib.rc_context({"svg.hashsalt": "fragility", "svg.fonttype": "path"}), \
            atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt_name, bbox_inches="tight", metadata=metadata.get(fmt_name))
    return path


def _deferred_canvas(fig):
    """Attach to ``fig`` an Agg canvas that renders only when the figure is saved.

    geopandas asks for a redraw after every layer it plots (``canvas.draw_idle()``), and
    the Agg canvas then renders the whole figure, ticks and legends included: up to seven
    renders for one map, each thrown away. ``savefig`` renders the final figure from
    scratch anyway (limits and ticks are computed on demand), so the file is byte-for-byte
    the same, three times faster. The figure is not registered with pyplot: nothing to
    close, nothing kept in memory after the call.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    class DeferredCanvas(FigureCanvasAgg):
        def draw_idle(self, *args, **kwargs):
            pass  # savefig draws

    return DeferredCanvas(fig)


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


# --------------------------------------------------------------------------------------
# French formatting
# --------------------------------------------------------------------------------------


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def format_fr(value, digits: int = 1) -> str:
    """A number in French format (decimal comma, narrow no-break space); "—" when missing.

    ``format_fr(12345.678, 1)`` gives ``"12 345,7"`` (U+202F between the thousands);
    the rules are :func:`fragility.formatting.fr_number`'s (true minus sign), a value
    that is not a number giving "—" too.
    """
    return fr_number(_finite(value), digits)


def _int(value) -> int | None:
    value = _finite(value)
    return None if value is None else round(value)


def rank_text(rank, low, high) -> str:
    """"rang 12 [8–17]" (the interval alone, or the rank alone, when one is missing)."""
    rank, low, high = _int(rank), _int(low), _int(high)
    interval = f"[{low}–{high}]" if low is not None and high is not None else ""
    if rank is None and not interval:
        return ""
    return " ".join(p for p in ("rang", "" if rank is None else str(rank), interval) if p)


# --------------------------------------------------------------------------------------
# Classes and colours
# --------------------------------------------------------------------------------------


def _scheme_name(scheme: str) -> str:
    key = str(scheme).lower().replace("_", "").replace("-", "").replace(" ", "")
    if key not in SCHEMES:
        raise InputError(
            f"méthode de classement inconnue : « {scheme} » (méthodes : "
            f"{', '.join(SCHEMES.values())}).", field="scheme")
    return SCHEMES[key]


def classify(values, scheme: str = "quantiles", k: int = 5):
    """Classify the non-missing values with mapclassify (deterministic schemes only).

    Parameters
    ----------
    values : array-like
        Values (missing ones are dropped).
    scheme : {"quantiles", "fisherjenks", "equalinterval"}
        mapclassify scheme (case and underscores ignored). FisherJenks is exact and
        deterministic, but slow on large territories without numba.
    k : int, default 5
        Number of classes (at most the number of distinct values).

    Returns
    -------
    mapclassify classifier or None
        ``None`` when there is no value; ``.bins`` are the upper bounds, ``.yb`` the
        class of each value.
    """
    import mapclassify

    name = _scheme_name(scheme)
    y = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    if len(y) == 0:
        return None
    k_eff = int(max(1, min(int(k), len(np.unique(y)))))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numba not installed")
        return getattr(mapclassify, name)(y, k=k_eff)


def _colours(cmap: str, n: int) -> list[str]:
    import matplotlib
    from matplotlib.colors import to_hex

    colormap = matplotlib.colormaps[cmap]
    if n <= 1:
        return [to_hex(colormap(0.75))]
    return [to_hex(colormap(x)) for x in np.linspace(0, 1, n)]


# --------------------------------------------------------------------------------------
# Geometry for the web
# --------------------------------------------------------------------------------------


def _projected(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise CRSMismatchError("couche sans système de coordonnées : impossible de la "
                               "reprojeter pour la carte web.")
    if frame.crs.is_geographic:
        return frame.to_crs(frame.estimate_utm_crs())
    return frame


def _to_web(frame: gpd.GeoDataFrame, crs, *, simplify: float | None = _SIMPLIFY_M
            ) -> gpd.GeoSeries:
    """Geometries in EPSG:4326, simplified (metres) in ``crs`` and rounded to 6 decimals."""
    geometry = frame.geometry
    if frame.crs is None:
        raise CRSMismatchError("couche sans système de coordonnées : impossible de la "
                               "reprojeter pour la carte web.")
    geometry = geometry.to_crs(crs)
    if simplify:
        geometry = geometry.simplify(simplify, preserve_topology=True)
    geometry = geometry.to_crs(4326)
    rounded = shapely.transform(geometry.to_numpy(), lambda xy: np.round(xy, _DIGITS))
    return gpd.GeoSeries(rounded, index=frame.index, crs=4326)


def _feature(geometry, properties: dict) -> dict | None:
    if geometry is None or geometry.is_empty:
        return None
    return {"type": "Feature", "geometry": geometry.__geo_interface__,
            "properties": properties}


def _js(value) -> str:
    """JSON for a ``<script>``: no ``</script>``, ``<!--`` or ``&`` can close it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# --------------------------------------------------------------------------------------
# Tooltips
# --------------------------------------------------------------------------------------


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()


def published_counts(row: Mapping, *, k: int = DEFAULT_K) -> tuple[str, str]:
    """The contacts and persons of one IRIS as shown: published value or "secret".

    Only the published columns ``contacts`` and ``persons`` are read. A missing count is
    "secret" (suppressed by the disclosure gate) — or "sans journal" in potential mode.
    As a last safeguard, a count between 1 and ``k - 1`` is never shown.
    """
    contacts, persons = _finite(row.get("contacts")), _finite(row.get("persons"))
    status = _text(row.get("counts_status"))
    if contacts is None and persons is None and (
            _text(row.get("mode")) == "potentiel" and not status.startswith("secret")):
        return "sans journal", "sans journal"
    small = any(v is not None and 0 < v < k for v in (contacts, persons))
    if small or status.startswith("secret") or contacts is None or persons is None:
        return "secret", "secret"
    return format_fr(contacts, 0), format_fr(persons, 0)


def _tooltip(row: Mapping, code: str, ranks: dict[str, tuple[str, ...]], k: int) -> str:
    e = html.escape
    name = _text(row.get("iris_name")) or code
    commune = _text(row.get("commune_name"))
    commune_code = _text(row.get("commune"))
    head = f"<div class='fragility-tip-title'><b>{e(name)}</b> · IRIS {e(code)}</div>"
    if commune or commune_code:
        label = f"{commune} ({commune_code})" if commune and commune_code else (
            commune or commune_code)
        head += f"<div class='fragility-tip-commune'>{e(label)}</div>"
    rows: list[tuple[str, str]] = []
    for key in ("isolation", "non_recours"):
        spec = CHOROPLETHS[key]
        if spec.column not in row:
            continue
        value = format_fr(row.get(spec.column), spec.digits)
        prefix = ranks.get(key)
        rank = rank_text(*(row.get(f"{prefix}{s}") for s in ("", "_low", "_high"))) \
            if prefix else ""
        rows.append((spec.name.replace("Indice de risque", "Risque"),
                     value + (f" · {rank}" if rank else "")))
    if "coverage_ratio" in row:
        ratio = _finite(row.get("coverage_ratio"))
        if ratio is not None:
            low, high = row.get("coverage_ratio_low"), row.get("coverage_ratio_high")
            interval = (f" [{format_fr(low, 2)}–{format_fr(high, 2)}]"
                        if _finite(low) is not None and _finite(high) is not None else "")
            rows.append(("Contacts observés / attendus", format_fr(ratio, 2) + interval))
    if any(c in row for c in ("contacts", "persons")):
        contacts, persons = published_counts(row, k=k)
        expected = _finite(row.get("expected_contacts"))
        rows.append(("Contacts (attendus)", contacts + (
            f" ({format_fr(expected, 1)})" if expected is not None else "")))
        rows.append(("Personnes distinctes", persons))
    distance = _finite(row.get("fs_distance_m"))
    if distance is not None:
        rows.append(("France Services la plus proche", f"{format_fr(distance / 1000, 1)} km"))
    qpv = _text(row.get("qpv_codes"))
    if qpv:
        share = _finite(row.get("qpv_share"))
        rows.append(("QPV", qpv.replace(",", ", ") + (
            f" ({format_fr(100 * share, 0)} % de la surface)" if share is not None else "")))
    flag = _text(row.get("flag"))
    if flag:
        label = FLAGS.get(flag, flag)
        confidence = _text(row.get("confidence"))
        if confidence and confidence != "-":
            label += f" (confiance {confidence})"
        if _text(row.get("mode")) == "potentiel":
            label += " — mode potentiel"
        rows.append(("Signalement", label))
    table = "".join(f"<tr><th>{e(a)}</th><td>{e(b)}</td></tr>" for a, b in rows)
    out = head + (f"<table>{table}</table>" if table else "")
    phrase = _text(row.get("phrase"))
    if phrase:
        out += f"<p class='fragility-tip-phrase'>{e(phrase)}</p>"
    return out


# --------------------------------------------------------------------------------------
# Raw folium elements (no jinja on the data, no external link)
# --------------------------------------------------------------------------------------


def _elements():
    """The folium element classes (folium imported lazily: it is slow to import)."""
    from branca.element import Element

    class Raw(Element):
        """Literal HTML/JS, never parsed as a template."""

        def __init__(self, text: str, name: str = "fragility_raw"):
            super().__init__()
            self._name = name
            self.text = text

        def render(self, **kwargs) -> str:
            return self.text

    class Script(Element):
        """A script computed at render time, appended to the figure's script."""

        def __init__(self, build, name: str):
            super().__init__()
            self._name = name
            self.build = build

        def render(self, **kwargs):
            figure = self.get_root()
            figure.script.add_child(Raw(self.build(self)), name=self.get_name())
            for child in self._children.values():
                child.render(**kwargs)

    return Raw, Script


@functools.lru_cache(maxsize=1)
def _vendor_assets() -> tuple[str, str]:
    """Leaflet's CSS (images as data: URIs) and JS, from ``fragility/_vendor``."""
    root = resources.files("fragility") / "_vendor"
    css = (root / "leaflet.css").read_text(encoding="utf-8")
    for image in ("layers.png", "layers-2x.png", "marker-icon.png"):
        data = base64.b64encode((root / image).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{image})", f"url(data:image/png;base64,{data})")
    js = (root / "leaflet.js").read_text(encoding="utf-8")
    return css, js


_STYLE = """
.fragility-title{position:fixed;top:10px;left:56px;z-index:1000;max-width:calc(100% - 420px);
 background:rgba(255,255,255,.92);padding:6px 14px;border-radius:4px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:600 15px/1.3 system-ui,sans-serif;}
.leaflet-control-layers{font:12px/1.4 system-ui,sans-serif;}
.fragility-banner{color:#a00000;font-weight:700;font-size:13px;}
.fragility-legend{background:rgba(255,255,255,.94);padding:8px 10px;border-radius:4px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:12px/1.35 system-ui,sans-serif;max-width:300px;
 max-height:60vh;overflow:auto;}
.fragility-legend h4{margin:0 0 4px;font-size:13px;}
.fragility-legend .item{display:flex;align-items:center;gap:6px;margin:1px 0;}
.fragility-legend .swatch{display:inline-block;width:18px;height:12px;border:1px solid #777;
 flex:none;}
.fragility-legend .note{color:#555;font-size:11px;margin-top:3px;}
.fragility-legend section+section{margin-top:8px;border-top:1px solid #ddd;padding-top:6px;}
.leaflet-tooltip.fragility-tip{white-space:normal;width:330px;font:12px/1.35 system-ui,sans-serif;}
.fragility-tip table{border-collapse:collapse;margin-top:4px;}
.fragility-tip th{text-align:left;font-weight:normal;color:#555;padding:1px 8px 1px 0;
 vertical-align:top;}
.fragility-tip td{font-weight:600;padding:1px 0;}
.fragility-tip-phrase{margin:5px 0 0;font-style:italic;}
.fragility-tip-commune{color:#444;}
"""


# --------------------------------------------------------------------------------------
# The interactive map
# --------------------------------------------------------------------------------------


def _legend_rows(items: Sequence[tuple[str, str, str]]) -> str:
    """``(colour, label, extra css)`` rows of a legend section."""
    e = html.escape
    return "".join(
        f"<div class='item'><span class='swatch' style='background:{colour};{css}'></span>"
        f"<span>{e(label)}</span></div>"
        for colour, label, css in items)


def _section(section_id: str, title: str, rows: str, note: str = "") -> str:
    e = html.escape
    return (f"<section id='{section_id}'><h4>{e(title)}</h4>{rows}"
            + (f"<div class='note'>{e(note)}</div>" if note else "") + "</section>")


def _name_column(frame, candidates=("name", "nom", "label", "libelle")) -> str | None:
    return next((c for c in candidates if c in frame.columns), None)


def _near(frame: gpd.GeoDataFrame, iris: gpd.GeoDataFrame, margin: float) -> gpd.GeoDataFrame:
    """Rows of ``frame`` within ``margin`` metres of one of the ``iris`` (projected).

    A spatial-index query: no union of the IRIS, which at national scale takes longer
    than the whole map.
    """
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.crs is None:
        raise CRSMismatchError("couche sans système de coordonnées : impossible de la "
                               "placer sur la carte.")
    projected = frame.to_crs(iris.crs)
    hits = iris.sindex.query(projected.geometry.to_numpy(), predicate="dwithin",
                             distance=margin)
    keep = np.zeros(len(frame), dtype=bool)
    keep[np.unique(hits[0])] = True
    return frame[keep]


def _tooltip_columns(frame: gpd.GeoDataFrame) -> list[str]:
    """The columns :func:`_tooltip` reads, among those of ``frame``."""
    wanted = {"iris_name", "commune_name", "commune", "coverage_ratio", "coverage_ratio_low",
              "coverage_ratio_high", "contacts", "persons", "counts_status",
              "expected_contacts", "fs_distance_m", "qpv_codes", "qpv_share", "flag",
              "confidence", "mode", "phrase"}
    for key in ("isolation", "non_recours"):
        wanted.add(CHOROPLETHS[key].column)
        for prefix in CHOROPLETHS[key].rank:
            wanted.update({prefix, f"{prefix}_low", f"{prefix}_high"})
    return [c for c in frame.columns if c in wanted]


def interactive_map(
    gdf: gpd.GeoDataFrame,
    *,
    layers: Sequence[str] = DEFAULT_LAYERS,
    scheme: str = "quantiles",
    k: int = 5,
    services: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame] | None = None,
    qpv: gpd.GeoDataFrame | None = None,
    communes: gpd.GeoDataFrame | bool | None = None,
    sites: pd.DataFrame | None = None,
    title: str | None = None,
    source_line: str | None = None,
    synthetic: bool = False,
    tiles: bool = True,
    disclosure_k: int = DEFAULT_K,
):
    """Build the interactive Leaflet map of a diagnostic (self-contained, offline-safe).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The published IRIS frame (index: IRIS code), in a projected CRS: the indices,
        their rank columns and the published columns of :mod:`fragility.assessment`.
        Only ``contacts``/``persons`` are shown as counts, "secret" when suppressed.
    layers : sequence of str, default :data:`DEFAULT_LAYERS`
        Thematic layers, in order: keys of :data:`CHOROPLETHS` and ``"flag"``. Layers
        whose column is absent or empty are left out; the first one is shown on opening.
    scheme : {"quantiles", "fisherjenks", "equalinterval"}
        mapclassify classification (deterministic schemes only).
    k : int, default 5
        Number of classes.
    services : GeoDataFrame or mapping of name to GeoDataFrame, optional
        Service points: a frame is shown as "France Services"; a mapping gives one layer
        per French name (e.g. ``{"France Services": ..., "CCAS": ...}``). A name column
        (``name``/``nom``) and ``commune`` are used in the tooltips. Points more than
        10 km from the territory are left out.
    qpv : geopandas.GeoDataFrame, optional
        QPV contours (index or column ``qpv``, optional ``qpv_name``); those touching
        the territory are outlined.
    communes : GeoDataFrame, bool or None
        Commune borders; ``None`` (default) dissolves ``gdf`` by ``commune``; ``False``:
        no commune layer.
    sites : pandas.DataFrame, optional
        Proposed permanences (``SitingResult.sites``: ``rank``, ``name``, ``x``, ``y``
        in ``gdf``'s CRS, ``covered_share``), or a GeoDataFrame of points.
    title : str, optional
        Title shown at the top of the map and as the page title.
    source_line : str, optional
        "Sources : …" line, shown in the attribution.
    synthetic : bool, default False
        Show the banner "Territoire de démonstration — données synthétiques".
    tiles : bool, default True
        Add the OpenStreetMap base tiles (an overlay; they simply fail offline, the data
        layers do not need them).
    disclosure_k : int, default DEFAULT_K
        Last safeguard: a published count between 1 and ``disclosure_k - 1`` is shown
        as "secret".

    Returns
    -------
    folium.Map
        With ``fragility_classes``: the mapclassify classifier of each classed layer
        (by key), and ``fragility_layers``: the French name of each layer (by key).

    Raises
    ------
    InputError
        Unknown layer key or classification scheme, or an empty frame.
    CRSMismatchError
        A frame without CRS.
    """
    import folium

    Raw, Script = _elements()
    if len(gdf) == 0:
        raise InputError("aucun IRIS à cartographier.")
    for key in layers:
        if key not in CHOROPLETHS and key != FLAG_LAYER:
            raise InputError(
                f"couche inconnue : « {key} » (couches : "
                f"{', '.join([*CHOROPLETHS, FLAG_LAYER])}).", field="layers")
    _scheme_name(scheme)
    work = _projected(gdf)
    crs = work.crs
    web = _to_web(work, crs)
    bounds = web.total_bounds  # minx, miny, maxx, maxy
    codes = [str(c) for c in work.index]
    records = dict(zip(codes, work[_tooltip_columns(work)].to_dict("records"), strict=True))

    # thematic layers ------------------------------------------------------------------
    ranks = {}
    for key in ("isolation", "non_recours"):
        prefix = next((p for p in CHOROPLETHS[key].rank if f"{p}_low" in work
                       or p in work), None)
        if prefix:
            ranks[key] = prefix
    colours: dict[str, dict] = {code: {} for code in codes}
    classes, names, legends = {}, {}, {}
    thematic = []
    for key in layers:
        if key == FLAG_LAYER:
            if "flag" not in work or work["flag"].isna().all():
                continue
            flags = work["flag"].astype(object)
            potential = "mode" in work and (work["mode"] == "potentiel").all()
            name = "Zones sous-desservies (signalements)" + (
                " — mode potentiel" if potential else "")
            for code, value in zip(codes, flags, strict=True):
                colours[code][key] = FLAG_COLOURS.get(value, MISSING_COLOUR)
            counts = flags.value_counts()
            rows = [(colour, f"{FLAGS[flag]} ({int(counts.get(flag, 0))})", "")
                    for flag, colour in FLAG_COLOURS.items() if counts.get(flag, 0)]
            other = int((~flags.isin(list(FLAG_COLOURS))).sum())
            if other:
                rows.append((MISSING_COLOUR, f"sans signalement ({other})", ""))
            note = ("évaluation potentielle (besoin × accessibilité, sans journal) : "
                    "confiance faible" if potential else
                    "contacts observés comparés aux contacts attendus pour le besoin")
            legends[key] = (name, _legend_rows(rows), note)
        else:
            spec = CHOROPLETHS[key]
            if spec.column not in work:
                continue
            values = pd.to_numeric(work[spec.column], errors="coerce")
            if values.notna().sum() == 0:
                continue
            classifier = classify(values, scheme, k)
            bins = np.asarray(classifier.bins, dtype=float)
            palette = _colours(spec.cmap, len(bins))
            present = values.notna().to_numpy()
            yb = np.asarray(classifier.yb, dtype=int)
            for code, cls in zip(np.asarray(codes)[present], yb, strict=True):
                colours[code][key] = palette[cls]
            lows = [float(np.min(classifier.y)), *bins[:-1]]
            rows = []
            for i, (low, high) in enumerate(zip(lows, bins, strict=True)):
                count = int((yb == i).sum())
                rows.append((palette[i], f"de {format_fr(low, spec.digits)} à "
                             f"{format_fr(high, spec.digits)} ({count})", ""))
            missing = int((~present).sum())
            if missing:
                rows.append((MISSING_COLOUR, f"donnée manquante ou secret ({missing})",
                             "opacity:.6"))
            method = {"Quantiles": "quantiles", "FisherJenks": "seuils naturels "
                      "(Fisher-Jenks)", "EqualInterval": "intervalles égaux"}[
                          _scheme_name(scheme)]
            legends[key] = (f"{spec.name} — {spec.legend_title}", _legend_rows(rows),
                            f"Classes : {method}. {spec.note[:1].upper()}{spec.note[1:]}.")
            classes[key] = classifier
            name = spec.name
        names[key] = name
        thematic.append(key)

    features = []
    for code, geometry in zip(codes, web, strict=True):
        feature = _feature(geometry, {
            "id": code, "c": colours[code],
            "t": _tooltip(records[code], code, ranks, disclosure_k)})
        if feature is not None:
            features.append(feature)

    # the map --------------------------------------------------------------------------
    center = [(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2]
    m = folium.Map(location=center, zoom_start=11, tiles=None, control_scale=False,
                   prefer_canvas=False)
    m.default_js = []  # instance lists: folium's class-level defaults stay untouched
    m.default_css = []
    figure = m.get_root()
    figure.title = title or "Carte interactive — fragility"
    css, js = _vendor_assets()
    figure.header.add_child(Raw(f"<style>{css}</style>"), name="leaflet_css")
    figure.header.add_child(Raw(f"<script>{js}</script>"), name="leaflet_js")
    figure.header.add_child(Raw(f"<style>{_STYLE}</style>"), name="fragility_css")
    if title or synthetic:
        banner = (f"<div class='fragility-banner'>{html.escape(SYNTHETIC_BANNER)}</div>"
                  if synthetic else "")
        heading = f"<div>{html.escape(title)}</div>" if title else ""
        figure.html.add_child(Raw(f"<div class='fragility-title'>{heading}{banner}</div>"),
                              name="fragility_title")
    for pane, z in (("fragility-outlines", 450), ("fragility-points", 460)):
        folium.map.CustomPane(pane, z_index=z, pointer_events=False).add_to(m)

    data = Script(lambda self: f"var {self.get_name()} = "
                  f"{_js({'type': 'FeatureCollection', 'features': features})};",
                  "fragility_iris")
    m.add_child(data)

    groups: dict[str, object] = {}
    for position, key in enumerate(thematic):
        group = folium.FeatureGroup(name=names[key], overlay=False, show=position == 0)

        def build(self, key=key):
            return (
                f"(function(){{var layer = L.geoJSON({data.get_name()}, {{"
                f"style: function(f){{var c = f.properties.c[{_js(key)}];"
                "return {fillColor: c || '" + MISSING_COLOUR + "', fillOpacity: c ? 0.75 : 0.45,"
                "color: '#ffffff', weight: 0.6, opacity: 1};},"
                "onEachFeature: function(f, l){"
                "l.bindTooltip(f.properties.t, {sticky: true, opacity: 0.97,"
                "className: 'fragility-tip'});"
                "l.on('mouseover', function(){l.setStyle({weight: 2.5, color: '#222222'});"
                "l.bringToFront();});"
                "l.on('mouseout', function(){layer.resetStyle(l);});}"
                f"}}).addTo({self._parent.get_name()});}})();"
            )

        group.add_child(Script(build, f"fragility_layer_{key}"))
        group.add_to(m)
        groups[key] = group

    overlay_legends = []
    if qpv is not None and len(qpv):
        frame = qpv.reset_index() if "qpv" not in qpv.columns else qpv
        frame = _near(frame, work, 100.0)
        if len(frame):
            qweb = _to_web(frame, crs)
            qfeatures = []
            for (_, row), geometry in zip(frame.iterrows(), qweb, strict=True):
                label = " — ".join(p for p in (
                    f"QPV {_text(row.get('qpv'))}" if _text(row.get("qpv")) else "QPV",
                    _text(row.get("qpv_name"))) if p)
                feature = _feature(geometry, {"t": html.escape(label)})
                if feature is not None:
                    qfeatures.append(feature)
            group = folium.FeatureGroup(name="Quartiers prioritaires (QPV)", overlay=True)
            payload = _js({"type": "FeatureCollection", "features": qfeatures})
            group.add_child(Script(lambda self, payload=payload: (
                f"L.geoJSON({payload}, {{pane: 'fragility-outlines', style: {{color: '#6a1b9a',"
                "weight: 2.2, dashArray: '6 4', fill: false}, onEachFeature: function(f, l){"
                "l.bindTooltip(f.properties.t, {sticky: true});}})"
                f".addTo({self._parent.get_name()});"), "fragility_qpv"))
            group.add_to(m)
            groups["qpv"] = group
            names["qpv"] = group.layer_name
            overlay_legends.append(("qpv", "Quartiers prioritaires", _legend_rows(
                [("transparent", f"contour d'un QPV ({len(qfeatures)})",
                  "border:2px dashed #6a1b9a")]), ""))

    commune_names = {}
    if "commune" in work and "commune_name" in work:
        commune_names = dict(zip(work["commune"].astype(str), work["commune_name"],
                                 strict=False))
    point_layers: list[tuple[str, gpd.GeoDataFrame, str, str]] = []
    if services is not None:
        mapping = services if isinstance(services, Mapping) else {"France Services": services}
        palette = ["#1f4e9c", "#00897b", "#6d4c41", "#546e7a"]
        for i, (label, frame) in enumerate(mapping.items()):
            if frame is not None and len(frame):
                point_layers.append((str(label), frame, palette[i % len(palette)], "service"))
    if sites is not None and len(sites):
        frame = sites
        if not isinstance(frame, gpd.GeoDataFrame):
            frame = gpd.GeoDataFrame(frame.copy(), geometry=gpd.points_from_xy(
                frame["x"], frame["y"]), crs=crs)
        point_layers.append(("Sites proposés (nouvelles permanences)", frame, "#e65100",
                             "site"))
    for index, (label, frame, colour, kind) in enumerate(point_layers):
        frame = _near(frame, work, 10_000.0)
        if not len(frame):
            continue
        pweb = _to_web(frame, crs, simplify=None)
        name_col = _name_column(frame)
        pfeatures = []
        for (_, row), geometry in zip(frame.iterrows(), pweb, strict=True):
            name = _text(row.get(name_col)) if name_col else ""
            if kind == "site":
                rank = _int(row.get("rank"))
                lines = [(f"Site proposé n° {rank}" if rank is not None else "Site proposé")
                         + (f" — {name}" if name else "")]
                share = _finite(row.get("covered_share"))
                if share is not None:
                    lines.append(f"couvre {format_fr(100 * share, 0)} % du besoin non "
                                 "satisfait des IRIS signalés")
            else:
                lines = [name or label]
                commune = _text(row.get("commune"))
                if commune:
                    lines.append(f"{commune_names.get(commune, '')} ({commune})".strip())
            feature = _feature(geometry, {"t": "<br>".join(html.escape(t) for t in lines)})
            if feature is not None:
                pfeatures.append(feature)
        key = f"points_{index}"
        group = folium.FeatureGroup(name=label, overlay=True)
        radius = 7 if kind == "site" else 6
        payload = _js({"type": "FeatureCollection", "features": pfeatures})
        group.add_child(Script(lambda self, payload=payload, colour=colour, radius=radius: (
            f"L.geoJSON({payload}, {{pointToLayer: function(f, ll){{return L.circleMarker(ll,"
            f"{{pane: 'fragility-points', radius: {radius}, color: '#ffffff', weight: 1.5,"
            f"fillColor: {_js(colour)}, fillOpacity: 0.95}});}}, onEachFeature: "
            "function(f, l){l.bindTooltip(f.properties.t);}})"
            f".addTo({self._parent.get_name()});"), f"fragility_{key}"))
        group.add_to(m)
        groups[key] = group
        names[key] = label
        overlay_legends.append((key, label, _legend_rows(
            [(colour, f"{label} ({len(pfeatures)})", "border-radius:50%;width:12px")]), ""))

    if communes is not False:
        frame = communes
        if frame is None and "commune" in work:
            columns = ["commune_name"] if "commune_name" in work else []
            frame = dissolve(work, "commune", columns).reset_index()
        if frame is not None and len(frame):
            cweb = _to_web(frame, crs)
            cfeatures = [f for f in (_feature(g, {}) for g in cweb) if f is not None]
            payload = _js({"type": "FeatureCollection", "features": cfeatures})
            group = folium.FeatureGroup(name="Limites des communes", overlay=True)
            group.add_child(Script(lambda self, payload=payload: (
                f"L.geoJSON({payload}, {{pane: 'fragility-outlines', interactive: false,"
                "style: {color: '#333333', weight: 1.6, fill: false}})"
                f".addTo({self._parent.get_name()});"), "fragility_communes"))
            group.add_to(m)
            groups["communes"] = group
            names["communes"] = group.layer_name
            overlay_legends.append(("communes", "Communes", _legend_rows(
                [("transparent", f"limite de commune ({len(cfeatures)})",
                  "border:0;border-top:2px solid #333;height:0")]), ""))

    if tiles:
        folium.TileLayer("OpenStreetMap", name="Fond de carte OpenStreetMap", overlay=True,
                         control=True, show=True).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])

    # legend (one section per layer, shown with its layer) and source line -------------
    sections, pairs = [], []
    for i, key in enumerate(thematic):
        legend_title, rows, note = legends[key]
        sections.append(_section(f"fragility-legend-{i}", legend_title, rows, note))
        pairs.append((key, f"fragility-legend-{i}"))
    for i, (key, legend_title, rows, note) in enumerate(overlay_legends):
        sections.append(_section(f"fragility-legend-o{i}", legend_title, rows, note))
        pairs.append((key, f"fragility-legend-o{i}"))
    if any(c in work for c in ("contacts", "persons")):
        sections.append(
            "<section><div class='note'>« secret » : effectif non diffusable (secret "
            f"statistique, moins de {disclosure_k} personnes ou déductible par "
            "différence).</div></section>")
    legend_html = "".join(sections)

    def legend_script(self):
        pair_js = ",".join(f"[{groups[key].get_name()}, {_js(section)}]"
                           for key, section in pairs)
        attribution = ""
        if source_line:
            attribution = (f"{m.get_name()}.attributionControl.addAttribution("
                           f"{_js(html.escape(source_line))});")
        return (
            "(function(){"
            f"var map = {m.get_name()}; var pairs = [{pair_js}];"
            "var control = L.control({position: 'bottomright'});"
            "control.onAdd = function(){var div = L.DomUtil.create('div', 'fragility-legend');"
            f"div.innerHTML = {_js(legend_html)};"
            "L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);"
            "return div;};"
            "control.addTo(map);"
            "function sync(){pairs.forEach(function(p){var el = document.getElementById(p[1]);"
            "if (el) {el.style.display = map.hasLayer(p[0]) ? '' : 'none';}});}"
            "map.on('baselayerchange overlayadd overlayremove', sync); sync();"
            "L.control.scale({imperial: false, position: 'bottomleft'}).addTo(map);"
            f"{attribution}}})();"
        )

    m.add_child(Script(legend_script, "fragility_legend"))
    _stable_ids(m)
    m.fragility_classes = classes
    m.fragility_layers = names
    return m


def _stable_ids(m) -> None:
    """Give every element a sequential id, so the same inputs write the same HTML."""
    seen = 0
    stack = [m.get_root()]
    while stack:
        element = stack.pop(0)
        element._id = f"{seen:08x}"
        seen += 1
        stack.extend(element._children.values())


def write_interactive_map(gdf: gpd.GeoDataFrame, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`interactive_map` as one self-contained HTML file, atomically.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The published IRIS frame (see :func:`interactive_map`).
    path : str or os.PathLike
        Output file (``carte.html``), or an existing folder (``<folder>/carte.html``).
    **kwargs
        Passed to :func:`interactive_map`.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "carte.html"
    m = interactive_map(gdf, **kwargs)
    text = m.get_root().render()
    text = text.replace("<html>", '<html lang="fr">', 1)
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path
