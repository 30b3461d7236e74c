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


_HIGHWAYS: tuple[str, ...] = ("primary", "secondary", "residential", "unclassified", "track")
_HW_PRIMARY, _HW_SECONDARY, _HW_RESIDENTIAL, _HW_UNCLASSIFIED, _HW_TRACK = range(5)


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


def _roads(lay: _Layout, norm: np.ndarray, rnd: _Random) -> _Roads:
    """A street lattice: small blocks in the centre, sparse roads and tracks outside, a few bridges."""
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
    node_x, node_y = gx.ravel(), gy.ravel()

    # candidate edges along every lattice line: orientation 0 = west-east, 1 = south-north
    jj, ii = np.meshgrid(np.arange(ny), np.arange(nx - 1), indexing="ij")
    h_u = (jj * nx + ii).ravel()
    h_line, h_pos = jj.ravel(), ii.ravel()
    jj, ii = np.meshgrid(np.arange(ny - 1), np.arange(nx), indexing="ij")
    v_u = (jj * nx + ii).ravel()
    v_line, v_pos = ii.ravel(), jj.ravel()
    u = np.concatenate([h_u, v_u])
    v = np.concatenate([h_u + 1, v_u + nx])
    orient = np.concatenate([np.zeros(len(h_u), np.int64), np.ones(len(v_u), np.int64)])
    line = np.concatenate([h_line, v_line])
    pos = np.concatenate([h_pos, v_pos])
    rel = np.concatenate([rel_h[h_line], rel_v[v_line]])
    mx = np.concatenate([bx[h_pos] + s / 2, bx[v_line]])  # midpoints on the unjittered lattice
    my = np.concatenate([by[h_line], by[v_pos] + s / 2])
    dens = _density_per_km2(lay, norm, mx, my)
    block = np.select([dens >= 10_000, dens >= 4_000, dens >= 1_500], [3, 4, 5], 7)
    rural = block == 7
    on_grid = rel % block == 0
    arterial = rel % a == 0
    track_line = np.concatenate([rnd.uniform(size=ny) < 0.35, rnd.uniform(size=nx) < 0.35])
    track = rural & ~on_grid & (rel % 7 == 3) & track_line[line + orient * ny]
    highway = np.select(
        [arterial & (rel % (2 * a) == 0), arterial, on_grid & ~rural, on_grid, track],
        [_HW_PRIMARY, _HW_SECONDARY, _HW_RESIDENTIAL, _HW_UNCLASSIFIED, _HW_TRACK],
        -1,
    )
    drop = rnd.uniform(size=len(u)) < np.array([0.0, 0.0, 0.04, 0.06, 0.12, 1.0])[highway]
    keep = (highway >= 0) & ~drop

    # the river: only bridges cross it
    bridge = np.zeros(len(u), dtype=bool)
    near = keep & (np.abs(lay.river_offset(mx, my)) < lay.river_width / 2 + 2 * s)
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
    line_x = bx[np.minimum(line[idx], nx - 1)]  # meaningful for south-north edges only
    on_bridge_line = (orient[idx] == 1) & np.isin(line_x, np.asarray(lay.bridges_x)) & arterial[idx]
    bridge[idx[wet & on_bridge_line]] = True
    keep[idx[wet & ~on_bridge_line]] = False

    # one connected network: drop fragments cut off by the river or by dropped edges
    ku, kv = u[keep], v[keep]
    graph = coo_matrix((np.ones(len(ku)), (ku, kv)), shape=(nx * ny, nx * ny))
    _, label = connected_components(graph, directed=False)
    main = np.argmax(np.bincount(label[ku]))
    keep[keep] = label[ku] == main

    # ways: runs of consecutive edges along one line with the same tags
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
    seq[offsets[:-1]] = u[e[first]]
    seq[np.arange(len(e)) + wid + 1] = v[e]
    used, seq_ids = np.unique(seq, return_inverse=True)
    way_nodes = np.split(seq_ids + 1, offsets[1:-1])

    w_orient, w_line, w_hw = orient[e[first]], line[e[first]], highway[e[first]]
    names, names_en = [], []
    for o, ln, hw in zip(w_orient.tolist(), w_line.tolist(), w_hw.tolist(), strict=True):
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
    return _Roads(
        node_xy=np.column_stack([node_x[used], node_y[used]]),
        way_nodes=way_nodes,
        highway=np.array(_HIGHWAYS)[w_hw],
        bridge=bridge[e[first]],
        name=names,
        name_en=names_en,
    )
