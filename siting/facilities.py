"""Existing schools and reserved sites: read, validate, and the sizes each can be built or expanded to.

Schools come as points (GeoJSON, GeoPackage, shapefile, or CSV with ``lon``/``lat`` columns) and reserved
sites as parcel polygons. Both end up in one table of points indexed by ``school_id`` (the contract in
``docs/architecture.md``), which the network and the model read; the parcels stay in their own layer for
maps and hearing tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting._crs import ensure_projected, require_crs
from siting._log import get_logger
from siting.errors import InputError, describe
from siting.standards import LEVELS, LEVELS_SERVED, SCHOOL_KINDS, Standards

log = get_logger(__name__)

OPTION_COLUMNS: tuple[str, ...] = (
    "school_id",
    "option",
    "classes_primary",
    "classes_junior",
    "capacity_primary",
    "capacity_junior",
    "floor_area_m2",
    "cost_yuan",
    "subsidy_yuan",
)
"""Columns of the size-options table returned by :func:`size_options`."""


# --------------------------------------------------------------------------------------------- reading
def read_layer(path: str | Path, *, name: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer or a CSV of points into a GeoDataFrame, with a clear error on failure.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage, shapefile, or CSV with ``lon``/``lat`` (EPSG:4326) or ``x``/``y`` plus a
        ``crs`` column.
    name
        How to call the layer in messages (default: the path).

    Returns
    -------
    geopandas.GeoDataFrame
        The features, in their own CRS.

    Raises
    ------
    InputError
        If the file is missing, unreadable, empty or has no CRS.
    """
    path = Path(path)
    label = name or str(path)
    if not path.exists():
        raise InputError(f"{label}: file not found. Check the path (relative paths are from the scenario).")
    if path.suffix.lower() == ".csv":
        gdf = _points_from_csv(path, label)
    else:
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several types; name the file either way
            raise InputError(f"{label}: cannot read it as a vector layer ({exc}).") from exc
    require_crs(gdf, name=label)
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        bad = int((gdf.geometry.isna() | gdf.geometry.is_empty).sum())
        raise InputError(f"{label}: {bad} feature(s) have no geometry; give every feature a location.")
    return gdf


def _points_from_csv(path: Path, label: str) -> gpd.GeoDataFrame:
    df = pd.read_csv(path)
    cols = {c.lower(): c for c in df.columns}
    if "lon" in cols and "lat" in cols:
        x, y, crs = df[cols["lon"]], df[cols["lat"]], "EPSG:4326"
    elif "x" in cols and "y" in cols and "crs" in cols:
        x, y, crs = df[cols["x"]], df[cols["y"]], str(df[cols["crs"]].iloc[0])
    else:
        raise InputError(
            f"{label}: a CSV of schools needs 'lon' and 'lat' columns (EPSG:4326) or 'x', 'y' and 'crs'; "
            f"found columns {list(df.columns)}."
        )
    for col, values in (("lon/x", x), ("lat/y", y)):
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():
            row = int(numeric.isna().to_numpy().nonzero()[0][0])
            raise InputError(
                f"{label}: column {col} has a non-numeric value {describe(values.iloc[row])} "
                f"in row {row + 2}."
            )
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x, y), crs=crs)


def read_schools(
    path: str | Path | gpd.GeoDataFrame,
    *,
    crs: CRS | str,
    standards: Standards,
    id_field: str = "school_id",
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read existing schools into the schools contract, projected to ``crs``.

    Parameters
    ----------
    path
        A layer of school points (see :func:`read_layer`) or a GeoDataFrame.
    crs
        The study CRS (projected, metres).
    standards
        Gives the class sizes used when a capacity is not given.
    id_field
        Column holding the school identifier.
    name
        How to call the layer in messages.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``school_id``; columns ``name, level, status, public, district, classes_*, capacity_*,
        enrolled_*, max_extra_classes_*`` and any other numeric columns (resource totals) kept as given.

    Raises
    ------
    InputError
        For a missing field, an unknown level, a negative count, a duplicate id or a non-point geometry,
        naming the file, the school and the value.
    """
    gdf, label = _as_layer(path, name)
    gdf = _index_by_id(gdf, id_field, label)
    if not gdf.geom_type.isin(["Point"]).all():
        bad = gdf.index[~gdf.geom_type.isin(["Point"])][0]
        raise InputError(
            f"{label}: school {bad!r} has a {gdf.geometry[bad].geom_type} geometry; schools must be points "
            "(use the entrance or the building's centre)."
        )
    gdf = _common_fields(gdf, label, status="existing")
    for level in LEVELS:
        serves = gdf["level"].map(lambda k, lv=level: lv in LEVELS_SERVED[k])
        classes = _count_column(gdf, f"classes_{level}", label, default=0)
        classes = classes.where(serves, 0)
        if f"capacity_{level}" in gdf.columns:
            capacity = _count_column(gdf, f"capacity_{level}", label, default=0)
            missing = gdf[f"capacity_{level}"].isna()
            capacity = capacity.where(~missing, classes * standards.class_size[level])
        else:
            capacity = classes * standards.class_size[level]
        enrolled = _count_column(gdf, f"enrolled_{level}", label, default=0)
        wrong = (~serves) & (enrolled > 0)
        if wrong.any():
            sid = gdf.index[wrong][0]
            raise InputError(
                f"{label}: school {sid!r} is a {gdf.at[sid, 'level']} school but has "
                f"enrolled_{level} = {enrolled[sid]}; set it to 0 or correct its level."
            )
        gdf[f"classes_{level}"] = classes.astype("int64")
        gdf[f"capacity_{level}"] = capacity.where(serves, 0).astype("int64")
        gdf[f"enrolled_{level}"] = enrolled.astype("int64")
        gdf[f"max_extra_classes_{level}"] = (
            _count_column(gdf, f"max_extra_classes_{level}", label, default=0)
            .where(serves, 0)
            .astype("int64")
        )
    return _project(gdf, crs, label)


def read_sites(
    path: str | Path | gpd.GeoDataFrame,
    *,
    crs: CRS | str,
    id_field: str = "school_id",
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read reserved school parcels, projected to ``crs``.

    Parameters
    ----------
    path
        A polygon layer (see :func:`read_layer`) or a GeoDataFrame. Fields: ``school_id`` (or ``id_field``),
        ``level`` (the kind of school the land is reserved for), optional ``name``, ``district``,
        ``area_m2`` (computed from the parcel when absent), ``central`` (bool), ``available_from`` (year),
        ``cost_yuan`` (extra fixed cost of the parcel, e.g. land preparation).
    crs
        The study CRS (projected, metres).
    id_field
        Column holding the site identifier; ids must not clash with existing schools'.
    name
        How to call the layer in messages.

    Returns
    -------
    geopandas.GeoDataFrame
        Parcels (polygon geometry), index ``school_id``, ``status == "site"``.
    """
    gdf, label = _as_layer(path, name)
    gdf = _index_by_id(gdf, id_field, label)
    if not gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        bad = gdf.index[~gdf.geom_type.isin(["Polygon", "MultiPolygon"])][0]
        raise InputError(
            f"{label}: site {bad!r} has a {gdf.geometry[bad].geom_type} geometry; reserved sites must be "
            "parcel polygons so their area can be checked against the land-per-pupil standard."
        )
    gdf = _common_fields(gdf, label, status="site")
    gdf = _project(gdf, crs, label)
    measured = gdf.geometry.area
    if "area_m2" in gdf.columns and gdf["area_m2"].notna().any():
        given = pd.to_numeric(gdf["area_m2"], errors="coerce")
        given = given.where(given.notna(), measured)
        off = (given - measured).abs() > 0.25 * measured
        for sid in gdf.index[off]:
            log.warning(
                "%s: site %r has area_m2 = %.0f but its parcel measures %.0f m²; using the given area.",
                label,
                sid,
                given[sid],
                measured[sid],
            )
        gdf["area_m2"] = given.astype("float64")
    else:
        gdf["area_m2"] = measured.astype("float64")
    if (gdf["area_m2"] <= 0).any():
        bad = gdf.index[gdf["area_m2"] <= 0][0]
        raise InputError(f"{label}: site {bad!r} has area {gdf.at[bad, 'area_m2']} m²; it must be > 0.")
    gdf["central"] = _bool_column(gdf, "central", label, default=False)
    if "available_from" in gdf.columns:
        years = pd.to_numeric(gdf["available_from"], errors="coerce")
        bad = gdf["available_from"].notna() & years.isna()
        if bad.any():
            sid = gdf.index[bad][0]
            raise InputError(
                f"{label}: site {sid!r} has available_from = {describe(gdf.at[sid, 'available_from'])}; "
                "give a year like 2027 or leave it empty."
            )
        gdf["available_from"] = years.astype("Int64")
    else:
        gdf["available_from"] = pd.array([pd.NA] * len(gdf), dtype="Int64")
    if "cost_yuan" in gdf.columns:
        gdf["cost_yuan"] = _number_column(gdf, "cost_yuan", label, default=0.0)
    else:
        gdf["cost_yuan"] = 0.0
    for level in LEVELS:
        for prefix in ("classes", "capacity", "enrolled", "max_extra_classes"):
            gdf[f"{prefix}_{level}"] = 0
    return gdf


def combine_facilities(schools: gpd.GeoDataFrame, sites: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Return existing schools and reserved sites as one table of points (the schools contract).

    Sites are placed at their parcel's representative point (always inside the parcel).

    Raises
    ------
    InputError
        If a site id equals a school id, or the two layers are in different CRSs.
    """
    if sites is None or len(sites) == 0:
        return schools.copy()
    if not CRS.from_user_input(schools.crs).equals(CRS.from_user_input(sites.crs)):
        raise InputError(f"schools are in {schools.crs} but sites in {sites.crs}; project both to one CRS.")
    clash = schools.index.intersection(sites.index)
    if len(clash):
        raise InputError(
            f"site id(s) {list(clash[:5])} are also existing school ids; every school_id must be unique."
        )
    points = sites.copy()
    points["geometry"] = sites.geometry.representative_point()
    points = gpd.GeoDataFrame(points, geometry="geometry", crs=sites.crs)
    out = pd.concat([schools, points], axis=0, sort=False)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=schools.crs)
    out.index.name = "school_id"
    for level in LEVELS:
        for prefix in ("classes", "capacity", "enrolled", "max_extra_classes"):
            out[f"{prefix}_{level}"] = out[f"{prefix}_{level}"].fillna(0).astype("int64")
    out["public"] = out["public"].fillna(True).astype(bool)
    return out


# --------------------------------------------------------------------------------------------- options
def size_options(
    schools: gpd.GeoDataFrame | pd.DataFrame,
    standards: Standards,
    *,
    allow_expansion: bool = True,
    expansion_step_classes: int = 6,
) -> pd.DataFrame:
    """List the sizes each reserved site can open at, and each existing school can expand by.

    A site of kind ``primary`` or ``junior`` may open with any of ``standards.class_modules[level]``
    classes; a ``nine_year`` or ``twelve_year`` site with any of ``standards.nine_year_modules``
    (primary + junior classes). An option is kept only when its pupils fit the new-school cap
    (``standards.school_cap``) and the parcel's land at the land-per-pupil standard (central or not).
    Existing schools may add classes in steps of ``expansion_step_classes`` up to their
    ``max_extra_classes_<level>``, within the cap.

    Parameters
    ----------
    schools
        The combined schools table (:func:`combine_facilities`).
    standards
        Class sizes, modules, caps, land, floor area and building cost per m².
    allow_expansion
        Whether existing schools get expansion options.
    expansion_step_classes
        Classes added per expansion step.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OPTION_COLUMNS`; capacities are *added* seats; ``cost_yuan`` is building cost
        (floor area × ``standards.build_cost_per_m2``) plus a site's own ``cost_yuan``;
        ``subsidy_yuan`` is the city's subsidy on the new floor area.
    """
    if expansion_step_classes <= 0:
        raise InputError(f"expansion_step_classes must be > 0, got {expansion_step_classes}.")
    rows: list[dict[str, object]] = []
    for sid, row in schools.iterrows():
        kind = row["level"]
        if row["status"] == "site":
            for cp, cj in _modules_for(kind, standards):
                option = _option_row(sid, cp, cj, standards, extra_cost=float(row.get("cost_yuan", 0) or 0))
                pupils = option["capacity_primary"] + option["capacity_junior"]
                if pupils > standards.school_cap_for(kind):
                    continue
                land = _land_needed(option, standards, central=bool(row.get("central", False)))
                if land > float(row["area_m2"]) + 1e-6:
                    continue
                rows.append(option)
            if not any(r["school_id"] == sid for r in rows):
                log.warning(
                    "site %r (%s, %.0f m²) is too small for any %s class module at the land-per-pupil "
                    "standard; it cannot open.",
                    sid,
                    kind,
                    float(row["area_m2"]),
                    kind,
                )
        elif allow_expansion:
            base_pupils = int(row["capacity_primary"]) + int(row["capacity_junior"])
            for level in LEVELS_SERVED[kind]:
                limit = int(row.get(f"max_extra_classes_{level}", 0) or 0)
                step = expansion_step_classes
                while step <= limit:
                    cp, cj = (step, 0) if level == "primary" else (0, step)
                    option = _option_row(sid, cp, cj, standards, label_prefix="+")
                    added = option["capacity_primary"] + option["capacity_junior"]
                    if base_pupils + added > standards.school_cap_for(kind):
                        break
                    rows.append(option)
                    step += expansion_step_classes
    table = pd.DataFrame(rows, columns=list(OPTION_COLUMNS))
    int_cols = ["classes_primary", "classes_junior", "capacity_primary", "capacity_junior"]
    table[int_cols] = table[int_cols].astype("int64")
    table[["floor_area_m2", "cost_yuan", "subsidy_yuan"]] = table[
        ["floor_area_m2", "cost_yuan", "subsidy_yuan"]
    ].astype("float64")
    return table.sort_values(["school_id", "capacity_primary", "capacity_junior"], ignore_index=True)


def _modules_for(kind: str, standards: Standards) -> Iterable[tuple[int, int]]:
    if kind == "primary":
        return [(c, 0) for c in standards.class_modules["primary"]]
    if kind == "junior":
        return [(0, c) for c in standards.class_modules["junior"]]
    return list(standards.nine_year_modules)


def _option_row(
    sid: object, cp: int, cj: int, standards: Standards, *, extra_cost: float = 0.0, label_prefix: str = ""
) -> dict[str, object]:
    cap_p = cp * standards.class_size["primary"]
    cap_j = cj * standards.class_size["junior"]
    floor = cap_p * standards.floor_per_pupil_m2["primary"] + cap_j * standards.floor_per_pupil_m2["junior"]
    parts = [f"{cp}P" if cp else "", f"{cj}J" if cj else ""]
    return {
        "school_id": sid,
        "option": label_prefix + "+".join(p for p in parts if p),
        "classes_primary": cp,
        "classes_junior": cj,
        "capacity_primary": cap_p,
        "capacity_junior": cap_j,
        "floor_area_m2": floor,
        "cost_yuan": floor * standards.build_cost_per_m2 + extra_cost,
        "subsidy_yuan": floor * standards.new_floor_subsidy_per_m2,
    }


def _land_needed(option: dict[str, object], standards: Standards, *, central: bool) -> float:
    return land_needed(
        float(option["capacity_primary"]), float(option["capacity_junior"]), standards, central=central
    )


def land_needed(
    capacity_primary: float, capacity_junior: float, standards: Standards, *, central: bool = False
) -> float:
    """Return the land (m²) the land-per-pupil standard asks for a school of these seats.

    Parameters
    ----------
    capacity_primary, capacity_junior
        Seats (pupils) per level.
    standards
        Gives ``land_per_pupil_m2`` and, for central areas, ``land_per_pupil_central_m2``.
    central
        Whether the central (禅城-type) standard applies.

    Returns
    -------
    float
        Seats × land per pupil, summed over the levels, in m².
    """
    per_pupil = standards.land_per_pupil_central_m2 if central else standards.land_per_pupil_m2
    return float(capacity_primary) * per_pupil["primary"] + float(capacity_junior) * per_pupil["junior"]


def land_per_pupil(area_m2: float, capacity_primary: int, capacity_junior: int) -> float:
    """Return the parcel area per planned pupil (m²), ``nan`` when no pupils are planned."""
    pupils = capacity_primary + capacity_junior
    return float(area_m2) / pupils if pupils else math.nan


# --------------------------------------------------------------------------------------------- helpers
def _as_layer(path: str | Path | gpd.GeoDataFrame, name: str | None) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(path, gpd.GeoDataFrame):
        label = name or "schools table"
        require_crs(path, name=label)
        return path.copy(), label
    label = name or str(path)
    return read_layer(path, name=label), label


def _index_by_id(gdf: gpd.GeoDataFrame, id_field: str, label: str) -> gpd.GeoDataFrame:
    if id_field in gdf.columns:
        ids = gdf[id_field]
    elif gdf.index.name == id_field:
        ids = gdf.index.to_series()
    else:
        raise InputError(
            f"{label}: no {id_field!r} field; every school and site needs a unique id "
            f"(fields found: {[c for c in gdf.columns if c != 'geometry']})."
        )
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise InputError(f"{label}: feature {row} has an empty {id_field!r}; give it a unique id.")
    ids = ids.astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"{label}: {id_field} {dup.iloc[0]!r} appears more than once; ids must be unique.")
    gdf = gdf.drop(columns=[id_field], errors="ignore")
    gdf.index = pd.Index(ids.to_numpy(), name="school_id")
    return gdf


def _common_fields(gdf: gpd.GeoDataFrame, label: str, *, status: str) -> gpd.GeoDataFrame:
    if "level" not in gdf.columns:
        raise InputError(f"{label}: no 'level' field; use one of {list(SCHOOL_KINDS)} for each feature.")
    levels = gdf["level"].astype("str").str.strip().str.lower().str.replace("-", "_")
    bad = ~levels.isin(SCHOOL_KINDS)
    if bad.any():
        sid = gdf.index[bad][0]
        raise InputError(
            f"{label}: {sid!r} has level {describe(gdf.at[sid, 'level'])}; use one of {list(SCHOOL_KINDS)}."
        )
    gdf["level"] = levels
    if "name" not in gdf.columns:
        gdf["name"] = gdf.index.astype(str)
    gdf["name"] = gdf["name"].where(gdf["name"].notna(), gdf.index.to_series()).astype(str)
    if "status" in gdf.columns:
        given = gdf["status"].fillna(status).astype(str).str.lower()
        if not (given == status).all():
            sid = gdf.index[given != status][0]
            raise InputError(
                f"{label}: {sid!r} has status {describe(gdf.at[sid, 'status'])} but this layer holds "
                f"{status} features; put existing schools and reserved sites in their own files."
            )
    gdf["status"] = status
    gdf["public"] = _bool_column(gdf, "public", label, default=True)
    if "district" not in gdf.columns:
        gdf["district"] = pd.NA
    return gdf


def _count_column(gdf: gpd.GeoDataFrame, col: str, label: str, *, default: int) -> pd.Series:
    if col not in gdf.columns:
        return pd.Series(default, index=gdf.index, dtype="int64")
    values = pd.to_numeric(gdf[col], errors="coerce")
    bad = gdf[col].notna() & (values.isna() | (values < 0) | (values % 1 != 0))
    if bad.any():
        sid = gdf.index[bad][0]
        raise InputError(
            f"{label}: school {sid!r} has {col} = {describe(gdf.at[sid, col])}; "
            "it must be a whole number >= 0."
        )
    return values.fillna(default).astype("int64")


def _number_column(gdf: gpd.GeoDataFrame, col: str, label: str, *, default: float) -> pd.Series:
    values = pd.to_numeric(gdf[col], errors="coerce")
    bad = gdf[col].notna() & (values.isna() | (values < 0))
    if bad.any():
        sid = gdf.index[bad][0]
        raise InputError(
            f"{label}: {sid!r} has {col} = {describe(gdf.at[sid, col])}; it must be a number >= 0."
        )
    return values.fillna(default).astype("float64")


def _bool_column(gdf: gpd.GeoDataFrame, col: str, label: str, *, default: bool) -> pd.Series:
    if col not in gdf.columns:
        return pd.Series(default, index=gdf.index, dtype=bool)
    mapping = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    raw = gdf[col]
    out = raw.map(lambda v: v if isinstance(v, bool) else mapping.get(str(v).strip().lower()))
    out = out.where(raw.notna(), default)
    if out.isna().any():
        sid = gdf.index[out.isna()][0]
        raise InputError(f"{label}: {sid!r} has {col} = {describe(raw[sid])}; use true or false.")
    return out.astype(bool)


def _project(gdf: gpd.GeoDataFrame, crs: CRS | str, label: str) -> gpd.GeoDataFrame:
    target = ensure_projected(crs, name="study CRS")
    return gdf.to_crs(target)
