"""pyproject.toml lists the platform's packages by hand (to ship dbt/ as infra.dbt_project):
every Python package under the top-level folders must be on that list."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ["api", "cli", "expectations", "infra", "models", "sdk", "simulation", "streams"]


def test_every_package_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(ROOT), include=[f"{name}*" for name in TOP_LEVEL]))
    assert set(config["packages"]) == found | {"infra.dbt_project"}
    assert config["package-dir"] == {"infra.dbt_project": "dbt"}
