"""The dbt runner's pure parts: profile environment, argument building, error translation,
results; and the dbt project's defaults kept in step with models/rules.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from dbt.adapters.exceptions.connection import FailedToConnectError
from dbt.clients.yaml_helper import load_yaml_text
from dbt_common.exceptions import CompilationError, DbtDatabaseError, DbtRuntimeError

from infra.dbt_runner import (
    PROJECT_DIR,
    DbtResult,
    NodeResult,
    build_args,
    dbt_paths,
    dbt_vars,
    profile_env,
    target_name,
    translate_dbt_error,
)
from infra.errors import ConfigError, WarehouseError, WarehouseLocked, WarehouseUnavailable
from infra.settings import Settings
from models.rules import DonorRules, HonourRules, InventoryRules


def _settings(tmp_path: Path, **kwargs: object) -> Settings:
    return Settings(data_dir=tmp_path, **kwargs)


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


# ---- profile -------------------------------------------------------------------------------
def test_embedded_warehouse_uses_the_chdb_target(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    env = profile_env(settings)
    assert target_name(settings) == "embedded"
    assert env["BLOODTRACE_DBT_CHDB_PATH"] == str(tmp_path.resolve() / "warehouse")
    assert env["BLOODTRACE_DBT_SCHEMA"] == "bloodtrace"
    assert "BLOODTRACE_DBT_HOST" not in env


def test_server_warehouse_uses_the_http_target_with_a_secret_password(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        warehouse_url="https://analyst:p%40ss@ch.example.org",
        warehouse_database="city",
    )
    env = profile_env(settings)
    assert target_name(settings) == "server"
    assert env["BLOODTRACE_DBT_HOST"] == "ch.example.org"
    assert env["BLOODTRACE_DBT_PORT"] == "8443"
    assert env["BLOODTRACE_DBT_SECURE"] == "true"
    assert env["BLOODTRACE_DBT_USER"] == "analyst"
    # dbt scrubs DBT_ENV_SECRET_ variables from its logs.
    assert env["DBT_ENV_SECRET_BLOODTRACE_PASSWORD"] == "p@ss"
    assert env["BLOODTRACE_DBT_SCHEMA"] == "city"


def test_a_warehouse_url_dbt_cannot_use_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        profile_env(_settings(tmp_path, warehouse_url="ftp://somewhere"))


def test_profiles_yml_reads_every_variable_the_runner_sets(tmp_path: Path) -> None:
    text = (PROJECT_DIR / "profiles.yml").read_text()
    for settings in (
        _settings(tmp_path),
        _settings(tmp_path, warehouse_url="http://u:p@host:8123"),
    ):
        for name in profile_env(settings):
            assert f"env_var('{name}'" in text, name


# ---- arguments -----------------------------------------------------------------------------
def test_build_args_add_project_paths_target_and_the_platform_rules(tmp_path: Path) -> None:
    settings = _settings(tmp_path, honours=HonourRules(bronze=25))
    paths = dbt_paths(settings)
    args = build_args(settings, ["build", "--select", "marts"], paths)
    assert args[:3] == ["build", "--select", "marts"]
    assert _option(args, "--project-dir") == str(PROJECT_DIR)
    assert _option(args, "--profiles-dir") == str(PROJECT_DIR)
    assert _option(args, "--target-path") == str(tmp_path.resolve() / "dbt" / "target")
    assert _option(args, "--log-path") == str(tmp_path.resolve() / "dbt" / "logs")
    assert _option(args, "--target") == "embedded"
    assert json.loads(_option(args, "--vars"))["honour_bronze"] == 25
    assert "--no-send-anonymous-usage-stats" in args


def test_the_callers_options_win_and_their_vars_merge(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    args = build_args(
        settings,
        ["run", "--target", "server", "--vars", "{baseline_year: 2020, honour_gold: 45}"],
        dbt_paths(settings),
    )
    assert args.count("--target") == 1 and _option(args, "--target") == "server"
    assert args.count("--vars") == 1
    merged = json.loads(_option(args, "--vars"))
    assert merged["baseline_year"] == 2020
    assert merged["honour_gold"] == 45
    assert merged["ml_per_unit"] == 200  # the platform's, not overridden


def test_commands_get_only_the_options_they_take(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    args = build_args(settings, ["deps"], dbt_paths(settings))
    assert "--target-path" not in args  # `dbt deps` has no such option
    docs = build_args(settings, ["docs", "generate", "--static"], dbt_paths(settings), quiet=True)
    assert docs[:3] == ["docs", "generate", "--static"] and "--quiet" in docs


def test_an_unknown_command_or_bad_vars_is_a_config_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(ConfigError, match="Not a dbt command: nonsense"):
        build_args(settings, ["nonsense"], dbt_paths(settings))
    with pytest.raises(ConfigError, match="Not a dbt command"):
        build_args(settings, ["docs"], dbt_paths(settings))  # a group, not a command
    with pytest.raises(ConfigError, match="--vars"):
        build_args(settings, ["run", "--vars", "[1, 2]"], dbt_paths(settings))


# ---- errors ----------------------------------------------------------------------------------
def test_dbt_errors_become_platform_errors(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    locked = translate_dbt_error(
        DbtRuntimeError("Cannot lock file /x/status. Another server instance in same directory"),
        settings,
    )
    assert isinstance(locked, WarehouseLocked)
    assert isinstance(
        translate_dbt_error(CompilationError("'foo' is undefined"), settings), ConfigError
    )
    assert isinstance(
        translate_dbt_error(FailedToConnectError("Connection refused"), settings),
        WarehouseUnavailable,
    )
    other = translate_dbt_error(DbtDatabaseError("Code: 47. Unknown identifier"), settings)
    assert type(other) is WarehouseError
    assert "Unknown identifier" in other.message


# ---- results ---------------------------------------------------------------------------------
def test_results_count_statuses_and_round_trip_as_json() -> None:
    result = DbtResult(
        command=["build"],
        target="embedded",
        success=False,
        seconds=3.5,
        nodes=[
            NodeResult("model.x.a", "a", "model", "success", 1.0),
            NodeResult("test.x.t", "t", "test", "fail", 0.1, "Got 3 results", 3),
            NodeResult("test.x.u", "u", "test", "pass", 0.1),
        ],
    )
    assert result.counts == {"success": 1, "fail": 1, "pass": 1}
    assert [n.name for n in result.failed] == ["t"]
    again = DbtResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert "FAILED" in again.summary()


# ---- the project's defaults and the platform's rules -----------------------------------------
def test_dbt_project_var_defaults_are_the_rules_defaults(tmp_path: Path) -> None:
    project = load_yaml_text((PROJECT_DIR / "dbt_project.yml").read_text())
    assert project is not None
    project_vars = project["vars"]
    for name, value in dbt_vars(_settings(tmp_path)).items():
        assert project_vars[name] == value, name
    assert project_vars["ml_per_unit"] == DonorRules().ml_per_unit


def test_inventory_warning_levels_seed_matches_inventory_rules() -> None:
    rules = InventoryRules()
    with (PROJECT_DIR / "seeds" / "inventory_warning_levels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    by_type: dict[str, dict[str, tuple[float, float | None]]] = {}
    for row in rows:
        upper = float(row["max_days"]) if row["max_days"] else None
        by_type.setdefault(row["component_type"], {})[row["level"]] = (
            float(row["min_days"]),
            upper,
        )
    critical_below = {"platelets": rules.platelets_critical_below_days}
    for component, levels in by_type.items():
        floor = critical_below.get(component, rules.short_min_days)
        assert levels == {
            "normal": (rules.normal_min_days, None),
            "tight": (rules.tight_min_days, rules.normal_min_days),
            "short": (floor, rules.tight_min_days),
            "critical": (0.0, floor),
        }, component
    assert set(by_type) == {
        "whole_blood",
        "red_cells",
        "washed_red_cells",
        "platelets",
        "plasma",
        "cryoprecipitate",
    }
