"""The boxes and controls over a map: title with the key figures, legend, search, full-screen, layers."""

from __future__ import annotations

from typing import Any

import branca.element
import folium
import folium.plugins
import numpy as np
import pandas as pd
from folium.template import Template

from siting.maps._format import (
    DENSITY_COLOURS,
    LEVEL_LABELS,
    OKABE_ITO,
    OVERFLOW_RING,
    SEARCH_AREA_STYLE,
    UTILIZATION_CLASSES,
    _esc,
    _fmt,
    _num,
)
from siting.maps.data import _MapData, _scenario_name
from siting.maps.years import plan_legend
from siting.standards import LEVELS


class _Html(branca.element.MacroElement):
    """A fixed box of (already escaped) HTML over the map: legend or title."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .siting-box { position: absolute; z-index: 1000; background: rgba(255,255,255,0.92); padding: 6px 9px;
          border-radius: 5px; box-shadow: 0 1px 5px rgba(0,0,0,0.4); font: 12px/1.35 system-ui, sans-serif; }
        .siting-box h4 { margin: 0 0 3px; font-size: 14px; }
        .siting-box i { display: inline-block; width: 14px; height: 11px; margin-right: 5px;
          vertical-align: middle; border: 1px solid #333; }
        .siting-box i.dot { border-radius: 50%; width: 11px; }
        .siting-box th, .siting-popup th { text-align: left; }
        .siting-popup table { border-collapse: collapse; } .siting-popup th {
          font-weight: 600; padding: 1px 8px 1px 0; } .siting-popup td { padding: 1px 0; }
        .leaflet-container { background: #eef0ea; }
        .siting-legend { box-sizing: border-box; } .siting-legend h4 { cursor: pointer; user-select: none; }
        .siting-legend h4::after { content: " \\25BE"; }
        .siting-legend.siting-folded h4::after { content: " \\25B8"; }
        .siting-legend.siting-folded .siting-legend-body { display: none; }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="siting-box {{ this.css_class }}" style="{{ this.position }}">
        {{ this.body }}
        </div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function() {
          var box = document.getElementById("{{ this.get_name() }}");
          var map = document.getElementById("{{ this._parent.get_name() }}");
          if (box && map && box.parentNode !== map) { map.appendChild(box); }
          if (box) { L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box); }
          if (box && map && box.classList.contains("siting-legend")) {
            // the legend takes the room below the layer control: folded to its heading when that room is
            // small (a click on the heading unfolds it), never over the control; it scrolls when it must
            var fit = function () {
              var ctl = map.querySelector(".leaflet-top.leaflet-right .leaflet-control-layers");
              var area = map.getBoundingClientRect();
              var top = ctl ? ctl.getBoundingClientRect().bottom - area.top + 8 : 10;
              var room = area.height - top - 24;
              box.style.maxHeight = Math.max(room, 24) + "px";
              if (box.dataset.chosen !== "1") { box.classList.toggle("siting-folded", room < 160); }
            };
            box.querySelector("h4").addEventListener("click", function () {
              box.dataset.chosen = "1"; box.classList.toggle("siting-folded");
            });
            window.addEventListener("resize", fit); window.addEventListener("load", fit); setTimeout(fit, 0);
          }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, body: str, *, position: str, css_class: str) -> None:
        super().__init__()
        self._name = "SitingBox"
        self.body = body
        self.position = position
        self.css_class = css_class


def _legend_html(data: _MapData, levels: list[str], density_breaks: np.ndarray | None) -> str:
    def swatch(colour: str, label: str, *, dot: bool = False, extra: str = "") -> str:
        cls = " class='dot'" if dot else ""
        return f"<div><i{cls} style='background:{colour};{extra}'></i>{_esc(label)}</div>"

    parts = ["<h4 title='fold or unfold'>Legend</h4><div class='siting-legend-body'>"]
    parts.append("<b>Schools: utilization (pupils ÷ seats)</b>")
    parts += [swatch(c, label, dot=True) for _, c, label in UTILIZATION_CLASSES]
    parts.append("<div style='margin-top:2px'>circle size = seats; thick ring = new school</div>")
    ring = OVERFLOW_RING["color"]
    label = "ring: pupils above standard capacity (overflow)"
    parts.append(swatch("#FFFFFF", label, dot=True, extra=f"border:3px solid {ring}"))
    parts.append("<b>Reserved sites</b>")
    parts.append(swatch("#009E73", "chosen (parcel)", extra="border:2px solid #000"))
    parts.append(swatch("#DDDDDD", "not chosen", extra="border:2px dashed #666"))
    if data.frame("search_areas") is not None:
        style = SEARCH_AREA_STYLE
        veil = f"rgba(0,0,0,{style['fillOpacity']})"
        extra = f"border:3px dashed {style['color']}"
        label = "search area: pupils above standard capacity (new school land, or more classes)"
        parts.append(swatch(veil, label, extra=extra))
    parts.append("<b>Catchments</b>")
    parts.append(swatch(OKABE_ITO[0], "one colour per school (hover for its name)"))
    parts.append(swatch("#FFFFFF", "home zone changing school", extra="border:2px solid #000"))
    parts.append(swatch("transparent", "district boundary", extra="border:2px dashed #333;height:0"))
    radii = ", ".join(
        f"{LEVEL_LABELS[lvl].lower()} {data.standards.service_radius_m[lvl]:,.0f} m" for lvl in levels
    )
    parts.append(
        swatch("transparent", f"service radius ({radii})", dot=True, extra="border:1px dashed #0072B2")
    )
    parts += plan_legend(data, swatch)
    if density_breaks is not None:
        parts.append("<b>Population density (people/km²)</b>")
        edges = [0.0, *density_breaks.tolist()]
        for i, colour in enumerate(DENSITY_COLOURS):
            label = (
                f"{_fmt(edges[i])}–{_fmt(edges[i + 1])}" if i + 1 < len(edges) else f"over {_fmt(edges[i])}"
            )
            parts.append(swatch(colour, label))
    parts.append("</div>")
    return "".join(parts)


def _title_html(data: _MapData, heading: str | None) -> str:
    t = data.table
    new = t[(t["status"] == "site") & t["opened"]]
    changes = data.changes()
    large = {w: sum(_num(t, f"large_{w}_{lvl}").sum() for lvl in LEVELS) for w in ("before", "after")}
    figures = [
        ("New schools", f"{len(new)} ({_fmt((new['cap_after'] - new['cap_before']).sum())} seats)"),
        ("Seats added in all", _fmt((t["cap_after"] - t["cap_before"]).clip(lower=0).sum())),
        ("Pupils changing school", _fmt(pd.to_numeric(changes["pupils"]).sum() if len(changes) else 0)),
        ("Home zones affected", _fmt(changes["unit_id"].nunique() if len(changes) else 0)),
    ]
    if any(t[f"over_after_{lvl}"].notna().any() for lvl in LEVELS):  # results saved before overflow: none
        before, after = _fmt(t["over_before"].sum()), _fmt(t["over_after"].sum())
        figures.append(
            ("Pupils above standard capacity", f"{before} in today's catchments → {after} planned")
        )
    search = data.frame("search_areas")
    if search is not None:
        pupils = _fmt(pd.to_numeric(search["pupils"], errors="coerce").sum())
        schools = search[search["need"] != "classes"] if "need" in search else search
        text = f"{len(schools)} for a new school, {len(search) - len(schools)} for more classes"
        figures.append(("Search areas", f"{text} ({pupils} pupils above standard capacity)"))
    figures.append(
        (
            f"Large classes ({data.standards.large_class_min}+ pupils)",
            f"{_fmt(large['before'])} today → {_fmt(large['after'])} planned",
        )
    )
    solution = getattr(data.result, "solution", None)
    status = getattr(solution, "status", None)
    if status is not None:
        gap = getattr(solution, "gap", None)
        gap_text = f", gap {100 * float(gap):.2f} %" if gap is not None and not pd.isna(gap) else ""
        figures.append(("Solution", f"{status}{gap_text}"))
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in figures)
    title = heading or _scenario_name(data)
    return f"<h4>{_esc(title)}</h4><table class='siting-figures'>{rows}</table>"


def _finish(
    m: folium.Map,
    data: _MapData,
    levels: list[str],
    *,
    search_layer: folium.GeoJson | folium.FeatureGroup,
    extra: list[Any],
    heading: str | None = None,
    side: str = "single",
) -> None:
    """Add title, legend, search, full-screen and layer control to ``m``."""
    breaks = next((getattr(x, "_siting_legend", (None, None))[1] for x in extra), None)
    title_pos = "top: 10px; left: 60px; max-width: 340px;" if side != "right" else "top: 10px; left: 60px;"
    _Html(_title_html(data, heading), position=title_pos, css_class="siting-title").add_to(m)
    if side != "left":
        _Html(
            _legend_html(data, levels, breaks),
            position="bottom: 24px; right: 10px; overflow-y: auto;",
            css_class="siting-legend",
        ).add_to(m)
    if isinstance(search_layer, folium.GeoJson):
        folium.plugins.Search(
            layer=search_layer,
            search_label="name",
            geom_type="Point",
            placeholder="Search school name",
            collapsed=True,
            position="topleft",
            search_zoom=16,
        ).add_to(m)
    folium.plugins.Fullscreen(position="topleft").add_to(m)
    if not any(isinstance(c, folium.LayerControl) for c in m._children.values()):
        folium.LayerControl(collapsed=side != "single").add_to(m)
