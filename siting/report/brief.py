"""The hearing brief: per reserved parcel, chosen or not, the case with its numbers.

For every parcel (``status == "site"``): where it is, its land, and the land the standard requires for each
size its kind could take. For a chosen parcel: its size, the homes it serves, the pupils it relieves from
which overcrowded schools, walks before and after, cost and subsidy. For one not chosen: why, in the first of
these that holds (each backed by numbers):

1. ``not_available`` — it becomes available only after the design year;
2. ``too_small`` — no class module fits its land at the land-per-pupil standard;
3. ``no_demand`` — no pupil of its levels lives within the hard walking limit;
4. ``outranked`` — a chosen parcel nearer to the same pupils takes them (at least a quarter of those within
   reach, walking no farther on average than they would to this parcel);
5. ``limit`` — the plan already opens the most new schools allowed, or the budget left is below its
   cheapest size;
6. ``cost`` — the schools around it seat its pupils at a lower total cost (walk, building, disruption).

Optionally each parcel is re-solved with it forced open (any parcel that could open) and, for a chosen one,
forced closed (its options dropped): :func:`siting.report.counterfactual.resolve_parcels`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.report.hearing import _arrivals, _flag, _land_figures, _Plan, _plan, _relief, _text, _value
from siting.report.labels import level_label
from siting.report.places import SheetGrid, grid_references, nearest_roads
from siting.standards import LEVELS, LEVELS_SERVED

OUTRANK_SHARE = 0.25
"""A chosen parcel out-ranks another when it takes at least this share of the pupils within its reach."""

REASONS: tuple[str, ...] = ("not_available", "too_small", "no_demand", "outranked", "limit", "cost")
"""Why a parcel is not chosen, in the order they are tested (see the module docstring)."""


def hearing_brief(
    result: Any,
    *,
    roads: gpd.GeoDataFrame | None = None,
    grid: SheetGrid | None = None,
    resolve: bool = False,
    time_limit_s: float = 30.0,
    parcels: Iterable[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Return the hearing brief's tables, one row per reserved parcel.

    Parameters
    ----------
    result
        A run result (``pipeline.RunResult``): ``units``, ``schools``, ``costs``, ``standards``, and for
        the full case ``sites`` (parcels), ``options``, ``solution`` and ``summary``.
    roads
        Named road lines (:func:`siting.report.places.roads_from_graph`) to name the nearest road.
    grid
        The sheet grid for grid references; default that of the result's units.
    resolve
        Re-solve the plan with each parcel forced open / closed (bounded by ``time_limit_s`` per solve).
    time_limit_s
        Solver time limit of each re-solve, seconds.
    parcels
        Only these parcels (``school_id``); default all.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``parcels``: one row per parcel (chosen first), the columns listed in :func:`_parcel_row`.
        ``sizes``: per parcel and size its kind allows: ``school_id, option, classes_primary,
        classes_junior, seats, land_needed_m2, fits_land, within_cap, can_open, cost_yuan``.
        ``relief``: per chosen parcel and source school: ``school_id, level, from_school, from_name,
        pupils, over_before, relieved``.
        ``counterfactual``: :func:`siting.report.counterfactual.resolve_parcels` (empty unless ``resolve``).
    """
    plan = _plan(result)
    schools = plan.schools
    sites = schools[(_text(schools, "status") == "site").to_numpy()]
    if parcels is not None:
        wanted = {str(p) for p in parcels}
        sites = sites[sites.index.astype(str).isin(wanted)]
    grid = grid or SheetGrid.for_units(plan.units)
    ctx = _Context.of(result, plan, sites, grid, roads)
    rows, sizes, relief = [], [], []
    for sid, row in sites.iterrows():
        size_rows = _sizes(str(sid), row, ctx)
        sizes += size_rows
        rows.append(_parcel_row(str(sid), row, ctx, size_rows, relief))
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["chosen", "school_id"], ascending=[False, True], ignore_index=True)
    tables = {
        "parcels": table,
        "sizes": pd.DataFrame(sizes, columns=list(_SIZE_COLUMNS)),
        "relief": pd.DataFrame(relief, columns=list(_RELIEF_COLUMNS)),
        "counterfactual": pd.DataFrame(),
    }
    if resolve and len(table):
        from siting.report.counterfactual import resolve_parcels

        can_open = set(tables["sizes"].loc[tables["sizes"]["can_open"], "school_id"])
        tables["counterfactual"] = resolve_parcels(
            result,
            open_ids=[s for s in table["school_id"] if s in can_open and not ctx.chosen(s)],
            close_ids=[s for s in table["school_id"] if ctx.chosen(s)],
            time_limit_s=time_limit_s,
        )
    return tables


_SIZE_COLUMNS = (
    "school_id",
    "option",
    "classes_primary",
    "classes_junior",
    "seats",
    "land_needed_m2",
    "fits_land",
    "within_cap",
    "can_open",
    "cost_yuan",
)
_RELIEF_COLUMNS = ("school_id", "level", "from_school", "from_name", "pupils", "over_before", "relieved")


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every parcel row reads: the plan, the options, the limits and where the parcels are."""

    plan: _Plan
    options: pd.DataFrame
    opened_options: pd.DataFrame
    design_year: int | None
    max_new: int | None
    budget: float | None
    spent: float
    n_new: int
    where: pd.DataFrame
    pairs: dict[str, pd.DataFrame]
    to_new: pd.Series

    @classmethod
    def of(
        cls,
        result: Any,
        plan: _Plan,
        sites: pd.DataFrame,
        grid: SheetGrid,
        roads: gpd.GeoDataFrame | None,
    ) -> _Context:
        summary = getattr(result, "summary", None) or {}
        params = summary.get("model_parameters") or {}
        scenario = getattr(result, "scenario", None)
        design = getattr(scenario, "design_year", None) or (summary.get("demand") or {}).get("design_year")
        options = getattr(result, "options", None)
        options = options if isinstance(options, pd.DataFrame) and len(options.columns) else pd.DataFrame()
        solution = getattr(result, "solution", None)
        opened = getattr(solution, "opened", None)
        opened = opened if isinstance(opened, pd.DataFrame) else pd.DataFrame()
        cost_col = next((c for c in ("budget_cost", "cost_yuan") if c in opened.columns), None)
        spent = float(pd.to_numeric(opened[cost_col], errors="coerce").sum()) if cost_col else 0.0
        schools = plan.schools
        new_sites = _flag(schools, "opened") & (_text(schools, "status") == "site")
        costs = plan.costs if plan.costs is not None else pd.DataFrame(columns=["unit_id", "school_id"])
        school = costs["school_id"].astype(str)
        mine = costs[school.isin(set(sites.index.astype(str)))]
        pairs = {str(k): g for k, g in mine.groupby(mine["school_id"].astype(str))}
        new = costs[school.isin(set(schools.index[new_sites.to_numpy()].astype(str)))]
        to_new = new.set_index(["unit_id", new["school_id"].astype(str)])["distance_m"]
        return cls(
            plan=plan,
            options=options,
            opened_options=opened,
            design_year=int(design) if design is not None else None,
            max_new=params.get("max_new_schools"),
            budget=params.get("budget_yuan"),
            spent=spent,
            n_new=int(new_sites.sum()),
            where=_where(result, sites, grid, roads),
            pairs=pairs,
            to_new=to_new[~to_new.index.duplicated()],
        )

    def chosen(self, sid: str) -> bool:
        schools = self.plan.schools
        return bool(_flag(schools, "opened").set_axis(schools.index.astype(str)).get(sid, False))


def _where(result: Any, sites: pd.DataFrame, grid: SheetGrid, roads: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Per parcel: centroid (study CRS and lon/lat), grid reference, nearest named road, parcel area."""
    parcels = getattr(result, "sites", None)
    geoms = gpd.GeoSeries(sites.geometry, crs=getattr(sites, "crs", None)).set_axis(sites.index.astype(str))
    area = pd.Series(np.nan, index=geoms.index)
    if isinstance(parcels, gpd.GeoDataFrame) and len(parcels):
        polys = parcels.set_axis(parcels.index.astype(str)).geometry
        polys = polys[polys.index.isin(geoms.index)].to_crs(geoms.crs)
        area.loc[polys.index] = polys.area.to_numpy()
        geoms.loc[polys.index] = polys.to_numpy()
    points = geoms.representative_point()
    lonlat = points.to_crs(4326)
    frame = gpd.GeoDataFrame(geometry=points, crs=geoms.crs)
    out = pd.DataFrame(
        {
            "x_m": points.x,
            "y_m": points.y,
            "lon": lonlat.x,
            "lat": lonlat.y,
            "grid_ref": grid_references(frame, grid).str.replace(r"[a-z]+$", "", regex=True),
            "parcel_area_m2": area,
        },
        index=geoms.index,
    )
    return out.join(nearest_roads(points, roads))


def _sizes(sid: str, row: pd.Series, ctx: _Context) -> list[dict[str, Any]]:
    """Every size the parcel's kind allows, with the land it needs and whether it fits (see ``sizes``)."""
    from siting.facilities import land_needed, size_options

    standards = ctx.plan.standards
    kind = str(row.get("level"))
    if kind not in LEVELS_SERVED:
        return []
    uncapped = dataclasses.replace(standards, school_cap=dict.fromkeys(standards.school_cap, 10**9))
    one = pd.DataFrame([{**row.to_dict(), "area_m2": math.inf}], index=pd.Index([sid], name="school_id"))
    allowed = size_options(one, uncapped, allow_expansion=False)
    central = bool(row.get("central", False)) if pd.notna(row.get("central", False)) else False
    area = _value(row, "area_m2", math.nan)
    can = set()
    if len(ctx.options) and "school_id" in ctx.options.columns:
        can = set(ctx.options.loc[ctx.options["school_id"].astype(str) == sid, "option"].astype(str))
    out = []
    for opt in allowed.itertuples(index=False):
        need = land_needed(opt.capacity_primary, opt.capacity_junior, standards, central=central)
        seats = int(opt.capacity_primary + opt.capacity_junior)
        out.append(
            {
                "school_id": sid,
                "option": str(opt.option),
                "classes_primary": int(opt.classes_primary),
                "classes_junior": int(opt.classes_junior),
                "seats": seats,
                "land_needed_m2": need,
                "fits_land": bool(np.isfinite(area) and need <= area + 1e-6),
                "within_cap": seats <= standards.school_cap_for(kind),
                "can_open": str(opt.option) in can,
                "cost_yuan": float(opt.cost_yuan),
            }
        )
    return out


def _parcel_row(
    sid: str, row: pd.Series, ctx: _Context, sizes: list[dict[str, Any]], relief: list[dict[str, Any]]
) -> dict[str, Any]:
    """Return one parcel's row of the ``parcels`` table; append its sources to ``relief``.

    Columns: ``school_id, name, kind, district, chosen``, where it is (``grid_ref, road, road_m, lon,
    lat, x_m, y_m``), its land (``area_m2, central, available_from``), then for a chosen parcel ``option,
    classes_primary, classes_junior, seats_primary, seats_junior, land_per_pupil_m2, land_standard_m2,
    units_served, residents_served, pupils_<level>, newly_served, relieved, walk_before_m_<level>,
    walk_after_m_<level>, cost_yuan, subsidy_yuan``, and for every parcel ``reach_<level>`` and
    ``radius_<level>`` (pupils within the hard limit and the service radius), ``reason`` (one of
    :data:`REASONS`, empty for a chosen parcel) and ``why_zh`` / ``why_en``.
    """
    plan = ctx.plan
    where = ctx.where.loc[sid]
    area = _value(row, "area_m2", math.nan)
    if not np.isfinite(area):
        area = float(where["parcel_area_m2"])
    entry: dict[str, Any] = {
        "school_id": sid,
        "name": str(row.get("name", sid)),
        "kind": str(row.get("level")),
        "district": plan.districts.get(sid),
        "chosen": ctx.chosen(sid),
        **{k: where[k] for k in ("grid_ref", "road", "road_m", "lon", "lat", "x_m", "y_m")},
        "area_m2": area,
        "central": bool(row.get("central", False)) if pd.notna(row.get("central", False)) else False,
        "available_from": _value(row, "available_from", math.nan),
    }
    levels = levels_of(entry["kind"])
    entry.update(_reach(ctx.pairs.get(sid), levels, plan))
    if entry["chosen"]:
        entry.update(_chosen_figures(sid, row, ctx, levels, relief))
        entry.update(reason="", why_zh="", why_en="")
    else:
        entry.update(_why_not(sid, entry, ctx, levels, sizes))
    return entry


def _reach(pairs: pd.DataFrame | None, levels: list[str], plan: _Plan) -> dict[str, float]:
    """Pupils of each level living within the hard limit and within the service radius of the parcel.

    ``pairs`` are the parcel's rows of the cost table (None: it reaches no unit).
    """
    out = {}
    dist = pairs.set_index("unit_id")["distance_m"] if pairs is not None else pd.Series(dtype=float)
    for lv in LEVELS:
        if lv not in levels or lv not in plan.units.columns:
            out[f"reach_{lv}"] = out[f"radius_{lv}"] = 0.0
            continue
        pupils = pd.to_numeric(plan.units[lv], errors="coerce").fillna(0.0).reindex(dist.index).fillna(0.0)
        out[f"reach_{lv}"] = float(pupils[dist <= plan.standards.hard_max_distance_m[lv]].sum())
        out[f"radius_{lv}"] = float(pupils[dist <= plan.standards.service_radius_m[lv]].sum())
    return out


def _chosen_figures(
    sid: str, row: pd.Series, ctx: _Context, levels: list[str], relief: list[dict[str, Any]]
) -> dict[str, Any]:
    """The size, catchment, relief, walks and cost of a chosen parcel (see :func:`_parcel_row`)."""
    plan = ctx.plan
    land = _land_figures(row, plan.standards)
    opt = _opened_option(sid, row, ctx)
    out: dict[str, Any] = {
        "option": row.get("option"),
        "classes_primary": int(opt.get("classes_primary", 0) or 0),
        "classes_junior": int(opt.get("classes_junior", 0) or 0),
        "seats_primary": land["capacity_primary"],
        "seats_junior": land["capacity_junior"],
        "land_per_pupil_m2": land["land_per_pupil_m2"],
        "land_standard_m2": land["land_standard_m2"],
    }
    served = np.zeros(len(plan.units), dtype=bool)
    for lv in LEVELS:
        col = f"proposed_{lv}"
        if col in plan.units.columns:
            served |= (plan.units[col].astype(object) == sid).to_numpy()
    out["units_served"] = int(served.sum())
    pop = pd.to_numeric(plan.units.get("population", pd.Series(0.0, index=plan.units.index)), errors="coerce")
    out["residents_served"] = float(pop[served].sum())
    before = plan.before.set_index(["school_id", "level"])["over_capacity"]
    newly = relieved = 0.0
    for lv in LEVELS:
        out[f"pupils_{lv}"] = float(plan.served[lv].get(sid, 0.0)) if lv in plan.served.columns else 0.0
        moved = _arrivals(plan.units, lv, sid, plan.costs)
        newly += float(moved.loc[moved["old"].isna(), "pupils"].sum())
        for source in _relief(moved, plan.over, lv):
            relieved += source["relieved"]
            name = plan.schools["name"].get(source["from_school"], source["from_school"])
            over = float(before.get((source["from_school"], lv), 0.0))
            relief.append({"school_id": sid, **source, "from_name": str(name), "over_before": over})
        for when in ("before", "after"):
            w, p = moved[f"walk_{when}"].to_numpy(float), moved["pupils"].to_numpy(float)
            ok = np.isfinite(w) & (p > 0)
            out[f"walk_{when}_m_{lv}"] = float(np.average(w[ok], weights=p[ok])) if ok.any() else math.nan
    out["newly_served"] = newly
    out["relieved"] = relieved
    out["cost_yuan"] = float(opt.get("cost_yuan", math.nan))
    out["subsidy_yuan"] = float(opt.get("subsidy_yuan", math.nan))
    return out


def _opened_option(sid: str, row: pd.Series, ctx: _Context) -> dict[str, Any]:
    """The opened option's row (classes, cost, subsidy) from the solution or the options table."""
    opened = ctx.opened_options
    if len(opened) and sid in opened.index.astype(str):
        return opened.set_axis(opened.index.astype(str)).loc[sid].to_dict()
    options = ctx.options
    if len(options) and {"school_id", "option"} <= set(options.columns):
        hit = options[(options["school_id"].astype(str) == sid) & (options["option"] == row.get("option"))]
        if len(hit):
            return hit.iloc[0].to_dict()
    return {}


def _why_not(
    sid: str, entry: dict[str, Any], ctx: _Context, levels: list[str], sizes: list[dict[str, Any]]
) -> dict[str, Any]:
    """The first reason of :data:`REASONS` that holds for a parcel not chosen, with its numbers."""
    avail, design = entry["available_from"], ctx.design_year
    if design is not None and np.isfinite(avail) and avail > design:
        return _reason(
            "not_available",
            f"可用年份 {avail:.0f}，晚于设计年份 {design}",
            f"available only from {avail:.0f}, after the design year {design}",
        )
    fitting = [s for s in sizes if s["fits_land"] and s["within_cap"]]
    if not fitting:
        small = min(sizes, key=lambda s: s["land_needed_m2"]) if sizes else None
        need = f"{small['land_needed_m2']:,.0f}" if small else "–"
        what = f"{small['option']} ({small['seats']:,} seats)" if small else "any module"
        return _reason(
            "too_small",
            f"用地 {entry['area_m2']:,.0f} m²，最小规模 {small['option'] if small else ''} 需 {need} m²",
            f"{entry['area_m2']:,.0f} m² of land; the smallest module, {what}, needs {need} m²",
        )
    reach = sum(entry[f"reach_{lv}"] for lv in levels)
    if reach < 0.5:
        limits = ", ".join(f"{ctx.plan.standards.hard_max_distance_m[lv]:,.0f} m" for lv in levels)
        return _reason(
            "no_demand",
            f"步行上限（{limits}）内无{'、'.join(level_label(lv).split()[0] for lv in levels)}学生",
            f"no pupil of its levels lives within the walking limit ({limits})",
        )
    taker = _outranked_by(sid, levels, ctx)
    if (
        taker is not None
        and taker["share"] >= OUTRANK_SHARE
        and taker["walk_to"] <= taker["walk_here"] + 1e-6
    ):
        return _reason(
            "outranked",
            f"步行上限内 {reach:,.0f} 名学生中 {taker['pupils']:,.0f} 名由 {taker['school_id']}（相距 "
            f"{taker['distance_m']:,.0f} m）服务，平均步行 {taker['walk_to']:,.0f} m，到本地块 "
            f"{taker['walk_here']:,.0f} m",
            f"{taker['pupils']:,.0f} of the {reach:,.0f} pupils within reach go to {taker['school_id']} "
            f"({taker['distance_m']:,.0f} m away), walking {taker['walk_to']:,.0f} m on average against "
            f"{taker['walk_here']:,.0f} m to this parcel",
        )
    cheapest = min(s["cost_yuan"] for s in fitting)
    if ctx.max_new is not None and ctx.n_new >= int(ctx.max_new):
        return _reason(
            "limit",
            f"方案已启用 {ctx.n_new} 所新校，达到上限 {int(ctx.max_new)}",
            f"the plan opens {ctx.n_new} new schools, the most allowed (max_new_schools {int(ctx.max_new)})",
        )
    if ctx.budget is not None and float(ctx.budget) - ctx.spent < cheapest:
        left = float(ctx.budget) - ctx.spent
        return _reason(
            "limit",
            f"预算剩余 {left:,.0f} 元，少于本地块最小规模费用 {cheapest:,.0f} 元",
            f"{left:,.0f} yuan of the budget is left, less than its cheapest size ({cheapest:,.0f} yuan)",
        )
    return _reason(
        "cost",
        f"步行上限内 {reach:,.0f} 名学生由周边学校以更低总成本（步行、建设、调整）安置",
        f"the schools around it seat the {reach:,.0f} pupils within its reach at a lower total cost "
        "(walk, building, disruption)",
    )


def _reason(code: str, zh: str, en: str) -> dict[str, str]:
    return {"reason": code, "why_zh": zh, "why_en": en}


def _outranked_by(sid: str, levels: list[str], ctx: _Context) -> dict[str, Any] | None:
    """The chosen parcel that takes most of the pupils within reach of ``sid``, and their walks to both."""
    plan = ctx.plan
    here = ctx.pairs.get(sid)
    if here is None:
        return None
    rows = []
    for lv in levels:
        col = f"proposed_{lv}"
        if col not in plan.units.columns:
            continue
        near = here[here["distance_m"] <= plan.standards.hard_max_distance_m[lv]]
        ids = near["unit_id"].to_numpy()
        taken = plan.units[col].reindex(ids).astype(object).to_numpy()
        pupils = pd.to_numeric(plan.units[lv].reindex(ids), errors="coerce").fillna(0.0).to_numpy()
        rows.append(
            pd.DataFrame({"unit_id": ids, "taker": taken, "pupils": pupils, "here": near["distance_m"]})
        )
    if not rows:
        return None
    frame = pd.concat(rows, ignore_index=True)
    total = float(frame["pupils"].sum())
    new_sites = set(ctx.to_new.index.get_level_values(1))
    frame = frame[frame["taker"].isin(new_sites) & (frame["pupils"] > 0)]
    if not len(frame) or total <= 0:
        return None
    top = frame.groupby("taker")["pupils"].sum().sort_values(ascending=False)
    best = str(top.index[0])
    part = frame[frame["taker"] == best]
    walk_to = ctx.to_new.reindex(pd.MultiIndex.from_arrays([part["unit_id"], part["taker"]])).to_numpy(float)
    ok = np.isfinite(walk_to)
    pts = plan.schools.geometry
    gap = float(pts.loc[best].distance(pts.loc[sid])) if best in pts.index and sid in pts.index else math.nan
    return {
        "school_id": best,
        "pupils": float(top.iloc[0]),
        "share": float(top.iloc[0]) / total,
        "distance_m": gap,
        "walk_to": float(np.average(walk_to[ok], weights=part["pupils"][ok])) if ok.any() else math.inf,
        "walk_here": float(np.average(part["here"], weights=part["pupils"])),
    }


def levels_of(kind: str) -> list[str]:
    """Return the levels a school of ``kind`` serves, in :data:`~siting.standards.LEVELS` order."""
    return [lv for lv in LEVELS if lv in LEVELS_SERVED.get(kind, ())]
