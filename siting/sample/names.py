"""Bilingual (Chinese, English) names of schools, reserved sites and roads, from Foshan place names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

# (Chinese, English) place names for schools and roads: Foshan towns and streets.
_PLACES: tuple[tuple[str, str], ...] = (
    ("祖庙", "Zumiao"), ("石湾", "Shiwan"), ("张槎", "Zhangcha"), ("南庄", "Nanzhuang"),
    ("桂城", "Guicheng"), ("大沥", "Dali"), ("里水", "Lishui"), ("狮山", "Shishan"),
    ("丹灶", "Danzao"), ("西樵", "Xiqiao"), ("九江", "Jiujiang"), ("平洲", "Pingzhou"),
    ("罗村", "Luocun"), ("盐步", "Yanbu"), ("黄岐", "Huangqi"), ("澜石", "Lanshi"),
    ("普君", "Pujun"), ("季华", "Jihua"), ("汾江", "Fenjiang"), ("魁奇", "Kuiqi"),
    ("绿岛", "Lüdao"), ("东平", "Dongping"), ("乐从", "Lecong"), ("陈村", "Chencun"),
    ("北滘", "Beijiao"), ("龙江", "Longjiang"), ("勒流", "Leliu"), ("杏坛", "Xingtan"),
    ("均安", "Jun'an"), ("容桂", "Ronggui"), ("大良", "Daliang"), ("伦教", "Lunjiao"),
    ("白坭", "Baini"), ("乐平", "Leping"), ("芦苞", "Lubao"), ("大塘", "Datang"),
    ("南山", "Nanshan"), ("荷城", "Hecheng"), ("杨和", "Yanghe"), ("明城", "Mingcheng"),
    ("更合", "Genghe"), ("松岗", "Songgang"), ("小塘", "Xiaotang"), ("官窑", "Guanyao"),
    ("和顺", "Heshun"), ("金沙", "Jinsha"), ("沙头", "Shatou"), ("文华", "Wenhua"),
    ("同济", "Tongji"), ("建新", "Jianxin"), ("人民", "Renmin"), ("卫国", "Weiguo"),
    ("朝安", "Chao'an"), ("普澜", "Pulan"), ("福宁", "Funing"), ("惠景", "Huijing"),
    ("锦华", "Jinhua"), ("华远", "Huayuan"), ("亲仁", "Qinren"), ("岭南", "Lingnan"),
)  # fmt: skip
_QUARTERS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("东", "East "),
    ("西", "West "),
    ("南", "South "),
    ("北", "North "),
)
_ZH_DIGITS = "零一二三四五六七八九"
_KIND_NAMES: Mapping[str, tuple[str, str, str, str]] = {
    # kind: (first zh, first en, n-th zh suffix, n-th en suffix)
    "primary": ("中心小学", "Central Primary School", "小学", "Primary School"),
    "junior": ("中学", "Middle School", "中学", "Middle School"),
    "nine_year": ("实验学校", "Experimental School", "实验学校", "Experimental School"),
}
_SITE_KIND_NAMES: Mapping[str, tuple[str, str]] = {
    "primary": ("小学", "Primary"),
    "junior": ("中学", "Middle School"),
    "nine_year": ("九年一贯制学校", "Nine-year School"),
}


def _zh_number(n: int) -> str:
    """Chinese numeral for 1..99 (二, 十二, 二十三)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _ZH_DIGITS[tens] + "十")
    return head + ("" if ones == 0 else _ZH_DIGITS[ones])


def _place_name(index: int) -> tuple[str, str]:
    quarter, base = divmod(index, len(_PLACES))
    zh, en = _PLACES[base]
    qzh, qen = _QUARTERS[quarter % len(_QUARTERS)]
    suffix = "" if quarter < len(_QUARTERS) else str(quarter // len(_QUARTERS) + 1)
    return f"{qzh}{zh}{suffix}", f"{qen}{en}{suffix}"


def _numbered(place: np.ndarray, kinds: Iterable[str]) -> Iterator[tuple[str, str, str, int]]:
    """Yield each item's place name (Chinese, English), its kind and its number among that kind there."""
    seen: dict[tuple[int, str], int] = {}
    for p, kind in zip(place, kinds, strict=True):
        n = seen.get((int(p), kind), 0) + 1
        seen[(int(p), kind)] = n
        zh, en = _place_name(int(p))
        yield zh, en, kind, n


def _school_names(kinds: Sequence[str], place: np.ndarray) -> list[str]:
    """Bilingual names, numbered per place and kind: 桂城中心小学 Guicheng Central Primary School, ..."""
    names = []
    for zh, en, kind, n in _numbered(place, kinds):
        first_zh, first_en, nth_zh, nth_en = _KIND_NAMES[kind]
        if n == 1:
            names.append(f"{zh}{first_zh} {en} {first_en}")
        else:
            names.append(f"{zh}第{_zh_number(n)}{nth_zh} {en} No.{n} {nth_en}")
    return names


def _site_names(place: np.ndarray, levels: Iterable[str]) -> list[str]:
    """Bilingual parcel names, numbered per place and level: 桂城小学规划用地 Guicheng Planned Primary, ..."""
    names = []
    for zh, en, level, n in _numbered(place, levels):
        kzh, ken = _SITE_KIND_NAMES[level]
        suffix_zh, suffix_en = ("", "") if n == 1 else (_zh_number(n), f" {n}")
        names.append(f"{zh}{kzh}规划用地{suffix_zh} {en} Planned {ken}{suffix_en}")
    return names
