"""Bilingual labels (Chinese first, then English) for the printed packs and the hearing map's popups.

Every label a pack prints comes from :data:`LABELS`, so the two languages stay in step and a translation is
fixed in one place. The words for pupils the plan cannot seat at a standard place are here too
(:data:`UNMET`, :func:`unmet_by_level`): the model is moving from "shortfall" (unserved) to "overflow"
(seated above a school's standard capacity), and only this module needs to know which one a result holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from siting.standards import LEVELS

LABELS: Mapping[str, tuple[str, str]] = {
    # parcels and the brief
    "brief_title": ("学校用地听证简报", "School land-reservation hearing brief"),
    "parcel": ("地块", "Parcel"),
    "decision": ("结论", "Decision"),
    "chosen": ("本方案选用", "Chosen in this plan"),
    "not_chosen": ("本方案未选用", "Not chosen in this plan"),
    "kind": ("学校类型", "School kind"),
    "district": ("行政区", "District"),
    "location": ("位置", "Location"),
    "grid_ref": ("网格编号", "Grid reference"),
    "near_road": ("附近道路", "Nearest named road"),
    "land_area": ("用地面积", "Land area"),
    "available_from": ("可用年份", "Available from"),
    "size": ("规模", "Size"),
    "land_per_pupil": ("生均用地", "Land per pupil"),
    "sizes_table": ("按用地标准可建规模", "Sizes the land standard allows"),
    "option": ("规模方案", "Option"),
    "classes": ("班数", "Classes"),
    "seats": ("学位", "Seats"),
    "land_needed": ("所需用地", "Land needed"),
    "fits": ("用地是否足够", "Fits the land"),
    "within_cap": ("不超规模上限", "Within the school-size cap"),
    "homes_served": ("服务范围", "Homes served"),
    "pupils_served": ("服务学生", "Pupils served"),
    "newly_served": ("新获学位学生", "Pupils given a seat who had none"),
    "relief": ("缓解超员学校", "Relieves overcrowded schools"),
    "relief_none": ("无（来源学校均未超员）", "none (no source school is over capacity)"),
    "from_school": ("来源学校", "From school"),
    "pupils_moved": ("转入学生", "Pupils moved"),
    "over_before": ("原超员", "Over capacity before"),
    "over_relieved": ("缓解超员", "Overcrowding relieved"),
    "walk": ("步行距离", "Walk"),
    "walk_before_after": ("步行距离（现状→方案）", "Walk (now → plan)"),
    "cost": ("建设费用", "Building cost"),
    "subsidy": ("新建面积补助", "Subsidy on new floor area"),
    "why_not": ("未选用原因", "Why not chosen"),
    "within_reach": ("步行上限内学生", "Pupils within the walking limit"),
    "within_radius": ("服务半径内学生", "Pupils within the service radius"),
    "counterfactual": ("对照求解", "Re-solve with this parcel fixed"),
    "forced_open": ("强制启用", "Forced open"),
    "forced_closed": ("强制不用", "Forced closed"),
    "objective_change": ("目标值变化", "Objective change"),
    "certified_range": ("可证明区间", "certified range"),
    "gap": ("最优性差距", "Optimality gap"),
    "plan": ("本方案", "Plan"),
    "opens_instead": ("改为启用", "Opens instead"),
    "drops": ("不再启用", "Drops"),
    "no_resolve": ("未做对照求解", "not re-solved"),
    "no_parcels": ("本方案没有预留学校用地。", "This scenario has no reserved school parcels."),
    # review pack
    "review_title": ("学区调整审查材料", "Catchment review pack"),
    "review_against": ("两方案对比", "Two plans compared"),
    "before": ("调整前", "Before"),
    "after": ("调整后", "After"),
    "unit": ("单元", "Unit"),
    "unit_id": ("单元编号", "Unit id"),
    "moves_in": ("迁入", "Moves in"),
    "moves_out": ("迁出", "Moves out"),
    "to_school": ("去往学校", "To school"),
    "pupils": ("学生", "Pupils"),
    "capacity": ("学位容量", "Capacity"),
    "utilization": ("学位使用率", "Utilization"),
    "mean_walk": ("平均步行距离", "Mean walk"),
    "level": ("学段", "Level"),
    "school": ("学校", "School"),
    "all_changes": ("全部调整单元", "Every unit that changes school"),
    "how_to_find": ("如何查找单元", "How to find a unit"),
    "units_moved": ("调整单元数", "Units that change school"),
    "no_school": ("无学校", "no school"),
    "primary": ("小学", "Primary"),
    "junior": ("初中", "Junior middle"),
    "both": ("小学+初中", "Primary + junior"),
}
"""Label key → (Chinese, English)."""

UNMET: tuple[str, str] = ("未获标准学位学生", "Pupils without a standard seat")
"""Label of the pupils a plan cannot seat within standard capacities (unserved or overflow)."""

_UNMET_KEYS: tuple[str, ...] = ("overflow", "shortfall")
"""Where a solver summary and its ``objective_parts`` hold those pupils, newest name first."""


def bilingual(key: str, *, sep: str = " ") -> str:
    """Return the label ``key`` as ``"中文 English"``.

    Parameters
    ----------
    key
        A key of :data:`LABELS`, or ``"unmet"`` for :data:`UNMET`.
    sep
        Text between the two languages (``"<br>"`` in narrow table headers).

    Returns
    -------
    str
        Both languages, Chinese first.
    """
    zh, en = UNMET if key == "unmet" else LABELS[key]
    return f"{zh}{sep}{en}"


def level_label(level: str) -> str:
    """Return a level's bilingual name (``"小学 Primary"``)."""
    return bilingual(level)


def unmet_by_level(summary: Mapping[str, Any]) -> dict[str, float]:
    """Return the pupils without a standard seat per level from a solver summary (pupils).

    Parameters
    ----------
    summary
        :meth:`siting.model.SitingResult.summary` (or its saved copy): reads ``overflow`` or ``shortfall``.

    Returns
    -------
    dict
        Level → pupils (0 for a level the summary does not mention).
    """
    for key in _UNMET_KEYS:
        values = summary.get(key)
        if isinstance(values, Mapping):
            return {lv: float(values.get(lv, 0.0) or 0.0) for lv in LEVELS}
    return dict.fromkeys(LEVELS, 0.0)


def unmet_part(parts: Mapping[str, float]) -> float:
    """Return the objective part that prices pupils without a standard seat (0 when absent)."""
    for key in _UNMET_KEYS:
        if key in parts:
            value = float(parts[key])
            return value if math.isfinite(value) else 0.0
    return 0.0
