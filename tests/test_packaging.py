"""The two dependency lists (pip and conda) must not drift apart."""

import re
import tomllib

import yaml

from tests.conftest import REPO

# conda-forge names that differ from the PyPI name of the same package
_PYPI_NAME = {"pyosmium": "osmium", "dask-core": "dask"}


def _name(spec: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")
    return _PYPI_NAME.get(name, name)


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_names = {_name(d) for d in project["dependencies"]}
    for extra in ("test", "notebook"):
        pip_names |= {_name(d) for d in project["optional-dependencies"][extra]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_names = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert pip_names - conda_names == set(), "in pyproject.toml but not environment.yml"
    assert conda_names - pip_names == set(), "in environment.yml but not pyproject.toml"


def test_console_script_and_python_floor():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["siting"] == "siting.cli:main"
    assert project["requires-python"] == ">=3.11"
