"""The street network: a jittered lattice, denser where people live, crossing the river only on bridges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from siting.sample.layout import _ARTERIAL_EVERY, _LATTICE_M, _Layout, _Random, _river_polygon, _widened
from siting.sample.names import _PLACES, _zh_number
from siting.sample.population import _density_per_km2

_RIVER_MARGIN_M = 15.0  # roads keep this far from the water, except bridges

_HIGHWAYS: tuple[str, ...] = ("primary", "secondary", "residential", "unclassified", "track", "footway")
_HW_PRIMARY, _HW_SECONDARY, _HW_RESIDENTIAL, _HW_UNCLASSIFIED, _HW_TRACK, _HW_FOOTWAY = range(6)
_DROP = np.array([0.0, 0.0, 0.04, 0.06, 0.12, 0.10, 1.0])  # share of edges dropped per class; last: no road
_PATHS_MIN_DENSITY = 1_500.0  # residents per km² from which every lattice line carries a path or lane


@dataclass(frozen=True)
class _Roads:
    node_xy: np.ndarray  # (n, 2) metric, row k is node id k + 1
    way_nodes: list[np.ndarray]  # node ids per way (1-based)
    highway: np.ndarray  # str per way
    bridge: np.ndarray  # bool per way
    name: list[str | None]
    name_en: list[str | None]


def _line_coords(
    n: int, art: np.ndarray, rnd: _Random
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per lattice line: offset (m), wobble amplitude (m), wavelength (m), phase; arterials run straight."""
    off = np.where(art, 0.0, rnd.uniform(-10.0, 10.0, n))
    wob = np.where(art, 0.0, rnd.uniform(0.0, 6.0, n))
    return off, wob, rnd.uniform(400.0, 1200.0, n), rnd.uniform(0.0, 2 * np.pi, n)


@dataclass(frozen=True)
class _Lattice:
    """The street lattice every road runs along: ``nx`` × ``ny`` jittered nodes (metric CRS, metres)."""

    nx: int  # south-north lines (columns of nodes)
    ny: int  # west-east lines (rows of nodes)
    bx: np.ndarray  # x of each south-north line before jitter
    by: np.ndarray  # y of each west-east line before jitter
    rel_v: np.ndarray  # south-north line number counted from the arterials
    rel_h: np.ndarray  # west-east line number counted from the arterials
    node_x: np.ndarray  # node k is row k // nx, column k % nx
    node_y: np.ndarray


@dataclass(frozen=True)
class _Edges:
    """Candidate edges between neighbouring lattice nodes, west-east ones first."""

    u: np.ndarray  # node at the west or south end
    v: np.ndarray  # node at the east or north end
    orient: np.ndarray  # 0 = west-east, 1 = south-north
    line: np.ndarray  # lattice line the edge lies on
    pos: np.ndarray  # position along that line
    rel: np.ndarray  # line number counted from the arterials
    mx: np.ndarray  # midpoint on the unjittered lattice (m)
    my: np.ndarray


def _roads(lay: _Layout, norm: np.ndarray, rnd: _Random, *, walking_paths: bool = False) -> _Roads:
    """A street lattice: small blocks in the centre, sparse roads and tracks outside, a few bridges.

    The helpers draw from ``rnd`` in a fixed order (lattice jitter, then road classes), which the sample's
    files depend on. ``walking_paths`` adds a footway on every lattice edge without a street where at least
    :data:`_PATHS_MIN_DENSITY` residents live per km² (60 m blocks, as a real city's walking network of
    alleys and estate paths), with the same draws, so the streets are the same with or without them.
    """
    lattice = _lattice(lay, rnd)
    edges = _candidate_edges(lattice)
    highway, arterial = _road_classes(lay, norm, lattice, edges, rnd)
    if walking_paths:
        dens = _density_per_km2(lay, norm, edges.mx, edges.my)
        highway = np.where((highway < 0) & (dens >= _PATHS_MIN_DENSITY), _HW_FOOTWAY, highway)
    drop = rnd.uniform(size=len(edges.u)) < _DROP[highway]
    keep = (highway >= 0) & ~drop
    bridge, keep = _cross_the_river(lay, lattice, edges, arterial, keep)
    keep = _main_network(edges, keep, lattice.nx * lattice.ny)
    e, first, used, way_nodes = _ways(edges, keep, highway, bridge)
    w_hw = highway[e[first]]
    names, names_en = _road_names(edges.orient[e[first]], edges.line[e[first]], w_hw)
    return _Roads(
        node_xy=np.column_stack([lattice.node_x[used], lattice.node_y[used]]),
        way_nodes=way_nodes,
        highway=np.array(_HIGHWAYS)[w_hw],
        bridge=bridge[e[first]],
        name=names,
        name_en=names_en,
    )


def _lattice(lay: _Layout, rnd: _Random) -> _Lattice:
    """Lattice lines every :data:`_LATTICE_M` metres, wobbling and jittered except the straight arterials."""
    s, a = _LATTICE_M, _ARTERIAL_EVERY
    nx = int((lay.width - s) // s) + 1
    ny = int((lay.height - s) // s) + 1
    bx = lay.x0 + s / 2 + np.arange(nx) * s
    by = lay.y0 + s / 2 + np.arange(ny) * s
    rel_v, rel_h = np.arange(nx) - a // 2, np.arange(ny) - a // 2
    art_v, art_h = rel_v % a == 0, rel_h % a == 0
    off_v, wob_v, lam_v, ph_v = _line_coords(nx, art_v, rnd)
    off_h, wob_h, lam_h, ph_h = _line_coords(ny, art_h, rnd)
    gx = (
        bx[None, :]
        + off_v[None, :]
        + wob_v[None, :] * np.sin(2 * np.pi * by[:, None] / lam_v[None, :] + ph_v[None, :])
    )
    gy = (
        by[:, None]
        + off_h[:, None]
        + wob_h[:, None] * np.sin(2 * np.pi * bx[None, :] / lam_h[:, None] + ph_h[:, None])
    )
    gx = gx + np.where(art_v[None, :], 0.0, rnd.uniform(-2.5, 2.5, (ny, nx)))
    gy = gy + np.where(art_h[:, None], 0.0, rnd.uniform(-2.5, 2.5, (ny, nx)))
    return _Lattice(
        nx=nx, ny=ny, bx=bx, by=by, rel_v=rel_v, rel_h=rel_h, node_x=gx.ravel(), node_y=gy.ravel()
    )


def _candidate_edges(lat: _Lattice) -> _Edges:
    """Every edge between neighbouring nodes along the lattice lines (west-east, then south-north)."""
    s, nx, ny = _LATTICE_M, lat.nx, lat.ny
    jj, ii = np.meshgrid(np.arange(ny), np.arange(nx - 1), indexing="ij")
    h_u = (jj * nx + ii).ravel()
    h_line, h_pos = jj.ravel(), ii.ravel()
    jj, ii = np.meshgrid(np.arange(ny - 1), np.arange(nx), indexing="ij")
    v_u = (jj * nx + ii).ravel()
    v_line, v_pos = ii.ravel(), jj.ravel()
    return _Edges(
        u=np.concatenate([h_u, v_u]),
        v=np.concatenate([h_u + 1, v_u + nx]),
        orient=np.concatenate([np.zeros(len(h_u), np.int64), np.ones(len(v_u), np.int64)]),
        line=np.concatenate([h_line, v_line]),
        pos=np.concatenate([h_pos, v_pos]),
        rel=np.concatenate([lat.rel_h[h_line], lat.rel_v[v_line]]),
        mx=np.concatenate([lat.bx[h_pos] + s / 2, lat.bx[v_line]]),
        my=np.concatenate([lat.by[h_line], lat.by[v_pos] + s / 2]),
    )


def _road_classes(
    lay: _Layout, norm: np.ndarray, lat: _Lattice, edges: _Edges, rnd: _Random
) -> tuple[np.ndarray, np.ndarray]:
    """Each edge's road class (index into :data:`_HIGHWAYS`, -1 = no road) and whether it is an arterial.

    Blocks are 3 lattice cells where more than 10,000 people live per km², 4, 5, and 7 in the countryside,
    where some lines carry tracks.
    """
    a, rel = _ARTERIAL_EVERY, edges.rel
    dens = _density_per_km2(lay, norm, edges.mx, edges.my)
    block = np.select([dens >= 10_000, dens >= 4_000, dens >= 1_500], [3, 4, 5], 7)
    rural = block == 7
    on_grid = rel % block == 0
    arterial = rel % a == 0
    track_line = np.concatenate([rnd.uniform(size=lat.ny) < 0.35, rnd.uniform(size=lat.nx) < 0.35])
    track = rural & ~on_grid & (rel % 7 == 3) & track_line[edges.line + edges.orient * lat.ny]
    highway = np.select(
        [arterial & (rel % (2 * a) == 0), arterial, on_grid & ~rural, on_grid, track],
        [_HW_PRIMARY, _HW_SECONDARY, _HW_RESIDENTIAL, _HW_UNCLASSIFIED, _HW_TRACK],
        -1,
    )
    return highway, arterial


def _cross_the_river(
    lay: _Layout, lat: _Lattice, edges: _Edges, arterial: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The river: only bridges cross it. Return which edges are bridges, and ``keep`` without wet edges."""
    u, v, node_x, node_y = edges.u, edges.v, lat.node_x, lat.node_y
    keep = keep.copy()
    bridge = np.zeros(len(u), dtype=bool)
    near = keep & (np.abs(lay.river_offset(edges.mx, edges.my)) < lay.river_width / 2 + 2 * _LATTICE_M)
    idx = np.flatnonzero(near)
    segments = shapely.linestrings(
        np.stack(
            [
                np.column_stack([node_x[u[idx]], node_y[u[idx]]]),
                np.column_stack([node_x[v[idx]], node_y[v[idx]]]),
            ],
            axis=1,
        )
    )
    banks = _river_polygon(_widened(lay, _RIVER_MARGIN_M))
    shapely.prepare(banks)
    wet = shapely.intersects(banks, segments)
    line_x = lat.bx[np.minimum(edges.line[idx], lat.nx - 1)]  # meaningful for south-north edges only
    on_bridge_line = (edges.orient[idx] == 1) & np.isin(line_x, np.asarray(lay.bridges_x)) & arterial[idx]
    bridge[idx[wet & on_bridge_line]] = True
    keep[idx[wet & ~on_bridge_line]] = False
    return bridge, keep


def _main_network(edges: _Edges, keep: np.ndarray, n_nodes: int) -> np.ndarray:
    """One connected network: ``keep`` without fragments cut off by the river or by dropped edges."""
    ku, kv = edges.u[keep], edges.v[keep]
    graph = coo_matrix((np.ones(len(ku)), (ku, kv)), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=False)
    main = np.argmax(np.bincount(label[ku]))
    out = keep.copy()
    out[keep] = label[ku] == main
    return out


def _ways(
    edges: _Edges, keep: np.ndarray, highway: np.ndarray, bridge: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """OSM ways: runs of consecutive kept edges along one line with the same tags.

    Returns
    -------
    tuple
        The kept edges in way order, the position in it of each way's first edge, the lattice node of
        each new node id (id k + 1 is ``used[k]``), and each way's node ids (1-based).
    """
    orient, line, pos = edges.orient, edges.line, edges.pos
    e = np.flatnonzero(keep)
    e = e[np.lexsort((pos[e], line[e], orient[e]))]
    brk = np.ones(len(e), dtype=bool)
    brk[1:] = (
        (orient[e][1:] != orient[e][:-1])
        | (line[e][1:] != line[e][:-1])
        | (pos[e][1:] != pos[e][:-1] + 1)
        | (highway[e][1:] != highway[e][:-1])
        | (bridge[e][1:] != bridge[e][:-1])
    )
    wid = np.cumsum(brk) - 1
    first = np.flatnonzero(brk)
    counts = np.bincount(wid) + 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    seq = np.empty(int(offsets[-1]), dtype=np.int64)
    seq[offsets[:-1]] = edges.u[e[first]]
    seq[np.arange(len(e)) + wid + 1] = edges.v[e]
    used, seq_ids = np.unique(seq, return_inverse=True)
    return e, first, used, np.split(seq_ids + 1, offsets[1:-1])


def _road_names(
    orient: np.ndarray, line: np.ndarray, highway: np.ndarray
) -> tuple[list[str | None], list[str | None]]:
    """Chinese and English way names from the line they run along; tracks have none."""
    names: list[str | None] = []
    names_en: list[str | None] = []
    for o, ln, hw in zip(orient.tolist(), line.tolist(), highway.tolist(), strict=True):
        if hw in (_HW_PRIMARY, _HW_SECONDARY):
            zh, en = _PLACES[(ln * 7 + o * 31) % len(_PLACES)]
            names.append(f"{zh}{'路' if o == 0 else '大道'}")
            names_en.append(f"{en} {'Road' if o == 0 else 'Avenue'}")
        elif hw == _HW_RESIDENTIAL:
            zh, en = _PLACES[(ln * 11 + o * 5) % len(_PLACES)]
            k = ln % 9 + 1
            names.append(f"{zh}{_zh_number(k)}{'街' if o == 0 else '巷'}")
            names_en.append(f"{en} {'Street' if o == 0 else 'Lane'} {k}")
        elif hw == _HW_UNCLASSIFIED:
            zh, en = _PLACES[(ln * 13 + o * 3) % len(_PLACES)]
            names.append(f"{zh}村道")
            names_en.append(f"{en} Village Road")
        else:
            names.append(None)
            names_en.append(None)
    return names, names_en
