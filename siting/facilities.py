"""Existing schools and reserved sites: read, validate, and the sizes each can be built or expanded to.

Schools come as points (GeoJSON, GeoPackage, shapefile, or CSV with ``lon``/``lat`` columns) and reserved
sites as parcel polygons. Their columns are declared in :mod:`siting.schema` (types, units, defaults, the
shapefile's 10-character spellings). Both end up in one table of points indexed by ``school_id`` (the
contract in ``docs/architecture.md``), which the network and the model read; the parcels stay in their own
layer for maps and hearing tables.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting._crs import check_coordinates, ensure_projected, require_crs
from siting._log import get_logger
from siting.errors import InputError, describe
from siting.schema import RESOURCE_COLUMNS, SITES, LayerSchema, read_values, schools_schema
from siting.standards import LEVELS, LEVELS_SERVED, Standards

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

_PER_LEVEL = ("classes", "capacity", "enrolled", "max_extra_classes")


# --------------------------------------------------------------------------------------------- reading
def read_layer(
    path: str | Path, *, name: str | None = None, schema: LayerSchema | None = None
) -> gpd.GeoDataFrame:
    """Read a vector layer or a CSV of points into a GeoDataFrame, with a clear error on failure.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage, shapefile, or CSV with ``lon``/``lat`` (EPSG:4326) or ``x``/``y`` plus a
        ``crs`` column.
    name
        How to call the layer in messages (default: the path).
    schema
        The layer's declared columns (:mod:`siting.schema`): when given, columns are renamed to their
        declared names and checked (:meth:`~siting.schema.LayerSchema.conform`).

    Returns
    -------
    geopandas.GeoDataFrame
        The features, in their own CRS.

    Raises
    ------
    InputError
        If the file is missing, unreadable, empty, has no CRS, a feature without geometry, coordinates that
        cannot be in its CRS (e.g. longitude and latitude swapped), or columns against the schema.
    """
    label = name or str(path)
    return _checked(_read_file(Path(path), label), label, schema)


def _read_file(path: Path, label: str) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputError(f"{label}: file not found. Check the path (relative paths are from the scenario).")
    if path.suffix.lower() == ".csv":
        gdf = _points_from_csv(path, label)
    else:
        try:
            with (
                warnings.catch_warnings()
            ):  # a column of mixed types is read as text; the schema names the cell
                warnings.filterwarnings("ignore", "Could not parse column")
                gdf = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several types; name the file either way
            reason = " ".join(str(exc).split())
            raise InputError(
                f"{label}: cannot read it as a vector layer ({reason}); save it as GeoJSON, GeoPackage, "
                "shapefile or CSV with lon/lat columns."
            ) from exc
    return gdf


def _checked(gdf: gpd.GeoDataFrame, label: str, schema: LayerSchema | None) -> gpd.GeoDataFrame:
    """The checks every layer gets: a CRS, features, geometries, plausible coordinates, the schema."""
    require_crs(gdf, name=label)
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        bad = int((gdf.geometry.isna() | gdf.geometry.is_empty).sum())
        raise InputError(f"{label}: {bad} feature(s) have no geometry; give every feature a location.")
    if schema is not None:
        gdf = schema.conform(gdf, label)
    named = [c.name for c in schema.columns if c.kind == "id" or c.required] if schema else []
    named = [n for n in named if n in gdf.columns]
    check_coordinates(gdf, name=label, ids=gdf[named[0]].astype(str).map(repr) if named else None)
    return gdf


def _points_from_csv(path: Path, label: str) -> gpd.GeoDataFrame:
    try:
        df = pd.read_csv(path)
        if len(df.columns) == 1 and (sep := next((c for c in ";\t" if c in str(df.columns[0])), None)):
            df = pd.read_csv(path, sep=sep)  # saved by a spreadsheet with ';' or tabs between the values
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{label}: cannot read it as CSV ({' '.join(str(exc).split())}).") from None
    cols = {c.strip().lower(): c for c in df.columns}
    if "lon" in cols and "lat" in cols:
        xy, crs = (cols["lon"], cols["lat"]), "EPSG:4326"
    elif "x" in cols and "y" in cols and "crs" in cols:
        xy, crs = (cols["x"], cols["y"]), str(df[cols["crs"]].iloc[0]) if len(df) else None
    else:
        raise InputError(
            f"{label}: a CSV of schools needs 'lon' and 'lat' columns (EPSG:4326) or 'x', 'y' and 'crs'; "
            f"found columns {list(df.columns)}."
        )
    x, y = df[xy[0]], df[xy[1]]
    for col, values in zip(xy, (x, y), strict=True):
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():
            row = int(numeric.isna().to_numpy().nonzero()[0][0])
            raise InputError(
                f"{label}: column {col} has a non-numeric value {describe(values.iloc[row])} "
                f"in row {row + 2}; give every row its coordinates as numbers."
            )
    geometry = gpd.points_from_xy(pd.to_numeric(x), pd.to_numeric(y))
    return gpd.GeoDataFrame(df, geometry=geometry, crs=crs)


def read_schools(
    path: str | Path | gpd.GeoDataFrame,
    *,
    crs: CRS | str,
    standards: Standards,
    id_field: str = "school_id",
    name: str | None = None,
    indicator_columns: Iterable[str] = (),
) -> gpd.GeoDataFrame:
    """Read existing schools into the schools contract, projected to ``crs``.

    Columns are those of :data:`siting.schema.SCHOOLS`. For each level a school teaches, its seats come
    from ``capacity_<level>`` or, when empty, ``classes_<level>`` × the standard class size (and its classes
    from the capacity when only that is given), with a warning; ``enrolled_<level>`` must be given (0 if
    none). A school with neither seats nor classes, or seats at a level it does not teach, is an error:
    capacity, classes and enrolment are never silently 0.

    Parameters
    ----------
    path
        A layer of school points (see :func:`read_layer`) or a GeoDataFrame.
    crs
        The study CRS (projected, metres).
    standards
        Gives the class sizes used when a capacity or the classes are not given.
    id_field
        Column holding the school identifier.
    name
        How to call the layer in messages.
    indicator_columns
        Columns the scenario maps to resource indicators (``Scenario.indicator_columns()``), read as numbers
        like the declared resource totals.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``school_id``; columns ``name, level, status, public, district, classes_*, capacity_*,
        enrolled_*, max_extra_classes_*``, resource totals as numbers (missing where empty) and any other
        columns kept as given.

    Raises
    ------
    InputError
        For a missing or misspelt field, an unknown level, a negative count, a duplicate id or a non-point
        geometry, naming the file, the school and the value.
    """
    schema = schools_schema(indicator_columns)
    gdf, label = _as_layer(path, name, schema, id_field)
    gdf = _common_fields(gdf, schema, label, status="existing")
    for col in (*RESOURCE_COLUMNS, *indicator_columns):
        if col in gdf.columns:
            gdf[col] = read_values(gdf, schema, col, label)
    for level in LEVELS:
        serves = gdf["level"].map(lambda k, lv=level: lv in LEVELS_SERVED[k]).astype(bool)
        counts = {p: read_values(gdf, schema, f"{p}_{level}", label, where=serves) for p in _PER_LEVEL}
        _refuse_unserved(gdf, counts, serves, level, label)
        counts["classes"], counts["capacity"] = _seats(
            counts["classes"], counts["capacity"], serves, level, standards.class_size[level], label
        )
        for prefix, values in counts.items():
            gdf[f"{prefix}_{level}"] = values.where(serves, 0).fillna(0).astype("int64")
    return _project(gdf, crs, label)


def _refuse_unserved(
    gdf: gpd.GeoDataFrame, counts: dict[str, pd.Series], serves: pd.Series, level: str, label: str
) -> None:
    """Raise for classes, seats, pupils or expansion at a level the school does not teach."""
    for prefix, values in counts.items():
        wrong = ~serves & (values.fillna(0) > 0)
        if wrong.any():
            sid = gdf.index[wrong.to_numpy()][0]
            raise InputError(
                f"{label}: school {sid!r} is a {gdf.at[sid, 'level']} school but has "
                f"{prefix}_{level} = {values[sid]}; set it to 0 or correct its level."
            )


def _seats(
    classes: pd.Series, capacity: pd.Series, serves: pd.Series, level: str, class_size: int, label: str
) -> tuple[pd.Series, pd.Series]:
    """Fill each teaching school's capacity from its classes and its classes from its capacity.

    Raises when a school teaching ``level`` has neither, naming the school: it would have 0 seats.
    """
    neither = serves & classes.isna() & capacity.isna()
    if neither.any():
        sid = serves.index[neither.to_numpy()][0]
        more = f" ({int(neither.sum()) - 1} more schools alike)" if neither.sum() > 1 else ""
        raise InputError(
            f"{label}: school {sid!r} teaches {level} but has neither capacity_{level} (seats) nor "
            f"classes_{level}{more}; give one of them, or it would have 0 seats."
        )
    for missing, column, how in [
        (
            serves & capacity.isna(),
            f"capacity_{level}",
            f"classes_{level} × {class_size} seats (the class size)",
        ),
        (serves & classes.isna(), f"classes_{level}", f"capacity_{level} ÷ {class_size} rounded up"),
    ]:
        if missing.any():
            first = missing.index[missing.to_numpy()][0]
            log.warning(
                "%s: %d school(s) have no %s (e.g. %r); using %s.",
                label,
                int(missing.sum()),
                column,
                first,
                how,
            )
    capacity = capacity.where(capacity.notna() | ~serves, classes * class_size)
    classes = classes.where(
        classes.notna() | ~serves, np.ceil(capacity.astype("float64") / class_size).astype("Int64")
    )
    return classes, capacity


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
        A polygon layer (see :func:`read_layer`) or a GeoDataFrame, with the columns of
        :data:`siting.schema.SITES`: ``school_id`` (or ``id_field``), ``level`` (the kind of school the land
        is reserved for), optional ``name``, ``district``, ``area_m2`` (measured from the parcel when empty),
        ``central`` (bool), ``available_from`` (year), ``cost_yuan`` (extra fixed cost of the parcel, e.g.
        land preparation).
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
    gdf, label = _as_layer(path, name, SITES, id_field)
    gdf = _common_fields(gdf, SITES, label, status="site")
    gdf = _project(gdf, crs, label)
    measured = gdf.geometry.area
    given = read_values(gdf, SITES, "area_m2", label)
    off = given.notna() & ((given - measured).abs() > 0.25 * measured)
    for sid in gdf.index[off.to_numpy()]:
        log.warning(
            "%s: site %r has area_m2 = %.0f but its parcel measures %.0f m²; using the given area.",
            label, sid, given[sid], measured[sid],
        )  # fmt: skip
    gdf["area_m2"] = given.where(given.notna(), measured).astype("float64")
    if (gdf["area_m2"] <= 0).any():
        bad = gdf.index[(gdf["area_m2"] <= 0).to_numpy()][0]
        source = "its area_m2" if pd.notna(given[bad]) else "its parcel polygon, and no area_m2 is given"
        raise InputError(
            f"{label}: site {bad!r} has an area of {gdf.at[bad, 'area_m2']:g} m² ({source}); draw the "
            "parcel's outline or give its area_m2 (> 0)."
        )
    for col in ("central", "available_from", "cost_yuan"):
        gdf[col] = read_values(gdf, SITES, col, label)
    for level in LEVELS:
        for prefix in _PER_LEVEL:
            gdf[f"{prefix}_{level}"] = 0
    return gdf


def combine_facilities(
    schools: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame | None,
    *,
    names: tuple[str, str] = ("schools", "sites"),
) -> gpd.GeoDataFrame:
    """Return existing schools and reserved sites as one table of points (the schools contract).

    Sites are placed at their parcel's representative point (always inside the parcel). ``names`` says
    what to call the two layers in messages (their files).

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
            f"{names[1]}: site id(s) {list(clash[:5])} are also existing school ids in {names[0]}; every "
            "school_id must be unique across both (rename the site)."
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
def _as_layer(
    path: str | Path | gpd.GeoDataFrame, name: str | None, schema: LayerSchema, id_field: str
) -> tuple[gpd.GeoDataFrame, str]:
    """Read (or take) a layer, check it against ``schema`` and index it by its unique ids."""
    if isinstance(path, gpd.GeoDataFrame):
        label = name or f"{schema.layer} table"
        gdf = path.copy()
        if gdf.index.name in {id_field, "school_id"}:
            gdf = gdf.reset_index()
    else:
        label = name or str(path)
        gdf = _read_file(Path(path), label)
    if id_field != "school_id" and id_field in gdf.columns:
        gdf = gdf.drop(columns=["school_id"], errors="ignore").rename(columns={id_field: "school_id"})
    gdf = _checked(gdf, label, schema)
    ids = read_values(gdf, schema, "school_id", label)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(
            f"{label}: school_id {dup.iloc[0]!r} appears more than once; ids must be unique (one row per "
            f"{schema.noun})."
        )
    gdf = gdf.drop(columns=["school_id"])
    gdf.index = pd.Index(ids.to_numpy(dtype=object), name="school_id")
    return gdf, label


def _common_fields(
    gdf: gpd.GeoDataFrame, schema: LayerSchema, label: str, *, status: str
) -> gpd.GeoDataFrame:
    gdf["level"] = read_values(gdf, schema, "level", label)
    names = read_values(gdf, schema, "name", label)
    gdf["name"] = names.where(names.notna(), gdf.index.to_series()).astype(str)
    given = read_values(gdf, schema, "status", label).str.lower()
    wrong = given.notna() & (given != status)
    if wrong.any():
        sid = gdf.index[wrong.to_numpy()][0]
        raise InputError(
            f"{label}: {sid!r} has status {describe(gdf.at[sid, 'status'])} but this layer holds "
            f"{status} features; put existing schools and reserved sites in their own files."
        )
    gdf["status"] = status
    gdf["public"] = read_values(gdf, schema, "public", label)
    gdf["district"] = read_values(gdf, schema, "district", label)
    return gdf


def _project(gdf: gpd.GeoDataFrame, crs: CRS | str, label: str) -> gpd.GeoDataFrame:
    target = ensure_projected(crs, name="study CRS")
    out = gdf.to_crs(target)
    if not np.isfinite(out.geometry.bounds.to_numpy()).all():
        raise InputError(f"{label}: some features cannot be placed in the study CRS {target.to_string()}.")
    return out
