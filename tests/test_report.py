"""Review and hearing tables on a small fake result, table writing and formatting, and `siting review`."""

import math
import unicodedata
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from siting.errors import InputError, OutputExistsError
from siting.report import format_table, hearing_tables, markdown_table, review_tables, write_tables
from siting.standards import Standards

CRS = "EPSG:32649"


def _result():
    """5×5 grid of 100 m cells, 8 primary pupils each. Today A serves columns 0–2 (120 pupils for 90 seats),
    B columns 3–4. The proposal opens site S (45 seats) at the centre and gives it column 2 (units 2, 7, 12,
    17, 22)."""
    cells = [box(c * 100, r * 100, c * 100 + 100, r * 100 + 100) for r in range(5) for c in range(5)]
    current = ["A" if i % 5 < 3 else "B" for i in range(25)]
    proposed = ["A" if i % 5 < 2 else ("S" if i % 5 == 2 else "B") for i in range(25)]
    units = gpd.GeoDataFrame(
        {
            "population": 100.0,
            "primary": 8.0,
            "junior": 0.0,
            "district": ["东区"] * 10 + ["West"] * 15,
            "current_primary": pd.array(current, dtype="str"),
            "proposed_primary": pd.array(proposed, dtype="str"),
        },
        geometry=cells,
        crs=CRS,
        index=pd.Index(np.arange(25, dtype=np.int64), name="unit_id"),
    )
    schools = gpd.GeoDataFrame(
        {
            "name": ["小学A", "B | school", "New site"],
            "level": "primary",
            "status": ["existing", "existing", "site"],
            "capacity_primary": [90, 90, 0],
            "capacity_junior": 0,
            "classes_primary": [2, 2, 0],
            "classes_junior": 0,
            "enrolled_primary": [130, 70, 0],
            "enrolled_junior": 0,
            "opened": [False, False, True],
            "expanded": False,
            "option": [None, None, "1P"],
            "capacity_after_primary": [90, 90, 45],
            "capacity_after_junior": 0,
            "area_m2": [np.nan, np.nan, 1200.0],
            "central": False,
            "floor_area_m2": [1000.0, 900.0, np.nan],
        },
        geometry=[Point(50, 50), Point(450, 50), Point(250, 250)],
        crs=CRS,
        index=pd.Index(["A", "B", "S"], name="school_id"),
    )
    rows = [
        (uid, sid, geom.centroid.distance(pt), 0.0)
        for uid, geom in units.geometry.items()
        for sid, pt in schools.geometry.items()
    ]
    costs = pd.DataFrame(rows, columns=["unit_id", "school_id", "distance_m", "time_s"])
    return SimpleNamespace(units=units, schools=schools, costs=costs, standards=Standards.foshan())


def test_review_tables_current_to_proposed():
    tables = review_tables(_result())
    assert set(tables) == {"changes", "schools", "districts", "cv"}
    changes = tables["changes"]
    assert changes["unit_id"].tolist() == [2, 7, 12, 17, 22]
    assert set(changes["old_school"]) == {"A"} and set(changes["new_school"]) == {"S"}

    schools = tables["schools"].set_index("school_id")
    assert schools.index.tolist() == ["A", "B", "S"]  # most crowded first, the new site (no 'before') last
    a = schools.loc["A"]
    # 15 units × 8 = 120 pupils for 90 seats before; 10 × 8 = 80 after
    assert (a["pupils_before"], a["pupils_after"]) == (120, 80)
    assert a["utilization_before"] == pytest.approx(120 / 90) and a["over_capacity_after"] == 0
    # before: enrolled 130 in 2 classes = 65 each → 2 large; after: 80 in 2 classes = 40 → none
    assert (a["large_classes_before"], a["large_classes_after"]) == (2, 0)
    assert (a["classes_needed_before"], a["classes_needed_after"]) == (3, 2)  # ⌈130/45⌉, ⌈80/45⌉
    assert math.isnan(schools.loc["S", "pupils_before"]) and schools.loc["S", "pupils_after"] == 40

    districts = tables["districts"].set_index("district")
    assert districts.index.tolist() == ["West", "东区", "(all)"]
    # West: 1,500 residents; before no school there (S lies in unit 12, West) → 0 seats, after 45 seats
    assert districts.loc["West", "seats_before"] == 0 and districts.loc["West", "seats_after"] == 45
    assert districts.loc["West", "seats_per_1000_after"] == pytest.approx(30.0)
    assert districts.loc["(all)", "pupils_moved"] == 40 and districts.loc["(all)", "units_moved"] == 5
    assert districts.loc["东区", "units_moved"] == 2  # units 2 and 7

    cv = tables["cv"].set_index("indicator").loc["teaching_aux_area"]  # floor_area_m2 by default
    # before (enrolled): A 1000/130, B 900/70; after (catchment): A 1000/80, B 900/80, S unknown
    assert cv["mean_before"] == pytest.approx(1900 / 200) and cv["mean_after"] == pytest.approx(1900 / 160)


def test_review_against_other_result():
    base = _result()
    other = _result()
    other.units.loc[[0, 5], "proposed_primary"] = "B"
    tables = review_tables(other, against=base)
    assert tables["changes"]["unit_id"].tolist() == [0, 5]
    assert tables["changes"]["old_school"].tolist() == ["A", "A"]
    schools = tables["schools"].set_index("school_id")
    assert (schools.loc["A", "pupils_before"], schools.loc["A", "pupils_after"]) == (80, 64)
    with pytest.raises(InputError, match="has no 'units'"):
        review_tables(SimpleNamespace())


def test_hearing_tables_for_the_new_site():
    tables = hearing_tables(_result())
    site = tables["sites"].set_index("school_id").loc["S"]
    assert site["district"] == "West" and site["option"] == "1P"
    assert site["land_per_pupil_m2"] == pytest.approx(1200 / 45)  # 26.7 m² ≥ 18 m²
    assert site["land_standard_m2"] == 18 and bool(site["meets_land_standard"])
    assert site["pupils_primary"] == 40
    # after: centroids of units 2, 7, 12, 17, 22 to S at (250, 250): 200, 100, 0, 100, 200 → 120 m
    assert site["walk_after_m_primary"] == pytest.approx(120.0)
    # before, to A at (50, 50): 200, √(200²+100²), √(200²+200²), √(200²+300²), √(200²+400²)
    before = np.mean(
        [200, math.hypot(200, 100), math.hypot(200, 200), math.hypot(200, 300), math.hypot(200, 400)]
    )
    assert site["walk_before_m_primary"] == pytest.approx(before)
    # A was 30 pupils over capacity and is not any more; all 40 pupils leaving A go to S → S removes 30
    assert site["overflow_removed"] == pytest.approx(30.0) and site["newly_served"] == 0
    assert site["from_schools"] == "A (40)"
    assert tables["expansions"].empty


def test_review_cv_reads_the_scenarios_indicator_columns():
    # the schools file names its floor area 'jiaoxue_m2'; the scenario maps it; the default name is absent
    result = _result()
    result.schools = result.schools.rename(columns={"floor_area_m2": "jiaoxue_m2"})
    unmapped = review_tables(result)["cv"].set_index("indicator")
    assert np.isnan(unmapped.loc["teaching_aux_area", "cv_after"])  # not declared: no CV, never a guess
    result.scenario = SimpleNamespace(indicator_columns=lambda: {"jiaoxue_m2": "teaching_aux_area"})
    cv = review_tables(result)["cv"]
    row = cv[cv["indicator"] == "teaching_aux_area"].iloc[0]
    assert row["level"] == "primary" and np.isfinite(row["cv_after"]) and np.isfinite(row["cv_before"])
    plain = _result()
    assert row["cv_after"] == pytest.approx(
        review_tables(plain)["cv"].set_index("indicator").loc["teaching_aux_area", "cv_after"]
    )


def test_write_tables_atomically_and_refuse_overwrite(tmp_path):
    tables = review_tables(_result())
    paths = write_tables(tables, tmp_path / "out", fmt=("csv", "md", "html"))
    assert len(paths) == 12 and all(p.exists() for p in paths)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left
    back = pd.read_csv(tmp_path / "out" / "changes.csv")
    assert back["unit_id"].tolist() == [2, 7, 12, 17, 22]
    assert "B \\| school" in (tmp_path / "out" / "schools.md").read_text(encoding="utf-8")
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_tables(tables, tmp_path / "out")
    write_tables(tables, tmp_path / "out", overwrite=True)
    with pytest.raises(InputError, match="unknown format"):
        write_tables(tables, tmp_path / "x", fmt="xlsx")
    with pytest.raises(InputError, match="plain file name"):
        write_tables({"../evil": tables["changes"]}, tmp_path / "x")


def test_format_table_aligns_wide_characters_and_marks_missing():
    df = pd.DataFrame({"name": ["小学", "ab"], "utilization": [1.25, np.nan], "pupils": [1234.0, 5.5]})
    lines = format_table(df).splitlines()
    assert lines[0].split() == ["name", "utilization", "pupils"]
    assert "125%" in lines[2] and "1,234" in lines[2] and "–" in lines[3] and "5.50" in lines[3]

    # both data rows have the same display width (小学 counts as 4 columns, like 'ab' padded to 4)
    def columns(text):
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    assert columns(lines[2][: lines[2].index("125%") + 4]) == columns(lines[3][: lines[3].index("–") + 1])
    assert format_table(df, max_rows=1).endswith("… 1 more rows")
    assert markdown_table(df).splitlines()[1] == "|---|---:|---:|"


def test_ids_print_plainly_everywhere():
    df = pd.DataFrame(
        {"unit_id": np.array([2305870313394540024], dtype=np.int64), "school_id": ["P01"], "pupils": [1234.0]}
    )
    text, md = format_table(df), markdown_table(df)
    assert "2305870313394540024" in text and "2305870313394540024" in md
    assert "2,305" not in text + md and "1,234" in text  # other numbers keep their separators
    assert format_table(df.astype({"unit_id": float})).count("2305870313394540") == 1  # float ids too


def test_cli_review_prints_tables(tmp_path):
    pipeline = pytest.importorskip("siting.pipeline")
    from click.testing import CliRunner

    from siting.cli import cli
    from siting.model import SitingResult

    fake = _result()
    assignment = pd.DataFrame(
        {
            "unit_id": fake.units.index,
            "level": "primary",
            "school_id": fake.units["proposed_primary"].astype(str),
            "pupils": 8.0,
            "distance_m": 0.0,
        }
    )
    solution = SitingResult.from_tables(
        summary={"status": "optimal"},
        opened=pd.DataFrame(
            {"option": ["1P"], "capacity_primary": [45]}, index=pd.Index(["S"], name="school_id")
        ),
        assignment=assignment,
        overflow=pd.DataFrame(columns=["school_id", "level", "capacity", "pupils", "overflow"]),
    )
    empty = gpd.GeoDataFrame(geometry=[], crs=CRS)
    result = pipeline.RunResult(
        scenario=None,
        standards=fake.standards,
        units=fake.units,
        schools=fake.schools,
        sites=empty,
        districts=empty,
        costs=fake.costs,
        solution=solution,
        assignment=assignment,
        catchments=empty,
        current_catchments=empty,
        changes=pd.DataFrame(),
        school_metrics=pd.DataFrame(),
        district_metrics=pd.DataFrame(),
        cv=pd.DataFrame(),
        summary={"scenario": "tiny", "crs": CRS, "standards": fake.standards.to_dict()},
    )
    result.save(tmp_path / "run")
    runner = CliRunner()
    out = runner.invoke(cli, ["review", str(tmp_path / "run"), "--out", str(tmp_path / "tables")])
    assert out.exit_code == 0, out.output
    assert "Units that change school" in out.output and "133%" in out.output
    assert (tmp_path / "tables" / "schools.csv").exists() and (tmp_path / "tables" / "sites.md").exists()
    again = runner.invoke(cli, ["review", str(tmp_path / "run"), "--out", str(tmp_path / "tables")])
    assert again.exit_code == 2 and "--overwrite" in again.output  # one "Error: ..." line
    missing = runner.invoke(cli, ["review", str(tmp_path / "nothing")])
    assert missing.exit_code != 0
