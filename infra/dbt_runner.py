"""Run the dbt project (``dbt/``) against the platform's warehouse, in-process.

One project, two warehouse kinds, chosen by ``Settings.warehouse_dsn``:

* ``http(s)://user:password@host:8123`` - dbt-clickhouse's own HTTP client, target ``server``.
* ``chdb:///abs/path`` (the embedded default) - target ``embedded``. dbt-clickhouse only builds
  HTTP or native-protocol clients, so :func:`install_chdb_driver` registers one more driver
  for it: a profile output with ``driver: chdb`` and ``host: /abs/path`` gets a subclass of
  the adapter's HTTP client wrapper whose transport is clickhouse-connect's in-process chDB
  backend. Everything above the transport (materializations, tests, docs) is dbt-clickhouse's
  unchanged. chDB is in-process, so this driver only works inside this process: run dbt with
  :func:`run_dbt` or ``bloodtrace dbt ...``, never a separate ``dbt`` executable (which could
  not open a chDB directory the platform owns anyway). Against a server, plain ``dbt`` works
  too with the environment variables :func:`profile_env` lists.

``dbt/profiles.yml`` is committed and reads everything through ``env_var()``; the runner sets
those variables from the settings for the duration of one invocation, passes the platform's
domain rules as dbt vars, and keeps dbt's ``target/`` and ``logs/`` under
``<data_dir>/dbt/``, never in the repository. dbt is not re-entrant (global flags and adapter
registry), so invocations in one process are serialised by a lock.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from infra.errors import (
    BloodtraceError,
    ConfigError,
    WarehouseError,
    WarehouseLocked,
    WarehouseUnavailable,
)
from infra.settings import Settings


def _project_dir() -> Path:
    """The dbt project: package data of the installed distribution (``infra/dbt_project`` in a
    wheel, mapped from the repository's ``dbt/`` in pyproject.toml), or, for an editable
    install, the ``dbt/`` folder of the source tree the install records (PEP 610)."""
    shipped = Path(str(importlib.resources.files("infra"))).resolve() / "dbt_project"
    if (shipped / "dbt_project.yml").is_file():
        return shipped
    # Every distribution by that name: a build leaves bloodtrace.egg-info (without the record)
    # in the source tree, found first when the working directory is on sys.path.
    for dist in importlib.metadata.distributions(name="bloodtrace"):
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        url = str(direct.get("url", ""))
        if direct.get("dir_info", {}).get("editable") and url.startswith("file:"):
            source = Path(unquote(urlparse(url).path)).resolve() / "dbt"
            if (source / "dbt_project.yml").is_file():
                return source
    return shipped  # not there: dbt says so, naming this folder


PROJECT_DIR = _project_dir()
CHDB_DRIVER = "chdb"
SCHEDULED_BUILD = ["build", "--exclude-resource-type", "unit_test"]
_run_lock = threading.Lock()
_driver_lock = threading.Lock()
_driver_installed = False


# ---- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeResult:
    """One model, seed, test, unit test or source of a dbt invocation."""

    unique_id: str
    name: str
    resource_type: str
    status: str  # success, error, skipped, pass, fail, warn, runtime error, ...
    seconds: float
    message: str | None = None
    failures: int | None = None
    rows_affected: int | None = None


_BAD_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class DbtResult:
    """What one dbt invocation did: overall success, per-node results and timings."""

    command: list[str]
    target: str
    success: bool
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # e.g. what `dbt ls` listed
    error: dict[str, Any] | None = None  # the translated error, when dbt raised one

    @property
    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for node in self.nodes:
            found[node.status] = found.get(node.status, 0) + 1
        return found

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in _BAD_STATUSES]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DbtResult:
        return cls(
            command=list(data["command"]),
            target=str(data["target"]),
            success=bool(data["success"]),
            seconds=float(data["seconds"]),
            nodes=[NodeResult(**n) for n in data.get("nodes", [])],
            output=list(data.get("output", [])),
            error=data.get("error"),
        )

    def summary(self) -> str:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(self.counts.items()))
        verdict = "succeeded" if self.success else "FAILED"
        return f"dbt {' '.join(self.command)} {verdict} in {self.seconds:.1f} s ({counts or '-'})"


# ---- the chDB driver -----------------------------------------------------------------------
def install_chdb_driver() -> None:
    """Teach dbt-clickhouse the ``driver: chdb`` profile setting (idempotent).

    dbt-clickhouse picks its client in ``connections.get_db_client(credentials)``; we wrap
    that function so the chdb driver gets :class:`ChdbClient` and every other driver the
    adapter's own choice.
    """
    global _driver_installed
    with _driver_lock:
        if _driver_installed:
            return
        import clickhouse_connect
        from dbt.adapters.clickhouse import connections
        from dbt.adapters.clickhouse.dbclient import ChRetryableException
        from dbt.adapters.clickhouse.httpclient import ChHttpClient

        class ChdbClient(ChHttpClient):
            """dbt-clickhouse's client wrapper over an in-process chDB engine."""

            def _create_client(self, credentials: Any) -> Any:
                path = Path(credentials.host)
                if not path.is_absolute():
                    raise ChRetryableException(f"chDB path must be absolute: {credentials.host}")
                path.mkdir(parents=True, exist_ok=True)
                try:
                    return clickhouse_connect.get_client(
                        dsn=f"chdb://{path}", settings=self._conn_settings
                    )
                except Exception as exc:  # the adapter reports it as a connection failure
                    raise ChRetryableException(str(exc)) from exc

            def _create_dedicated_pool(self, credentials: Any) -> None:
                return None  # no HTTP pool in-process

        # Looked up and replaced by name: the adapter's module does not re-export it.
        adapter_choice = getattr(connections, "get_db_client")  # noqa: B009

        def get_db_client(credentials: Any) -> Any:
            if credentials.driver == CHDB_DRIVER:
                return ChdbClient(credentials)
            return adapter_choice(credentials)

        setattr(connections, "get_db_client", get_db_client)  # noqa: B010
        _driver_installed = True


# ---- profile and vars from the settings ----------------------------------------------------
def target_name(settings: Settings) -> str:
    return "embedded" if settings.embedded_warehouse else "server"


def profile_env(settings: Settings) -> dict[str, str]:
    """The environment dbt/profiles.yml reads, for the configured warehouse.

    The password goes in a ``DBT_ENV_SECRET_`` variable, which dbt scrubs from its logs.
    """
    env = {
        "BLOODTRACE_DBT_SCHEMA": settings.warehouse_database,
        "BLOODTRACE_DBT_THREADS": str(max(1, settings.dbt.threads)),
    }
    dsn = settings.warehouse_dsn
    if settings.embedded_warehouse:
        env["BLOODTRACE_DBT_CHDB_PATH"] = str(Path(dsn.removeprefix("chdb://")).resolve())
        return env
    url = urlparse(dsn)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(
            "The warehouse URL is neither chdb:///path nor http(s)://host:port.",
            hint="Set BLOODTRACE_WAREHOUSE_URL to e.g. http://user:password@host:8123.",
        )
    secure = url.scheme == "https"
    env.update(
        BLOODTRACE_DBT_HOST=url.hostname,
        BLOODTRACE_DBT_PORT=str(url.port or (8443 if secure else 8123)),
        BLOODTRACE_DBT_USER=unquote(url.username or "default"),
        DBT_ENV_SECRET_BLOODTRACE_PASSWORD=unquote(url.password or ""),
        BLOODTRACE_DBT_SECURE="true" if secure else "false",
        BLOODTRACE_DBT_CLUSTER=settings.warehouse_cluster or "",
    )
    return env


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The platform's rules as dbt vars (defaults in dbt_project.yml match models/rules.py)."""
    whole_blood = settings.storage.components.get("whole_blood")
    found: dict[str, Any] = {
        "ml_per_unit": settings.donor.ml_per_unit,
        "honour_bronze": settings.honours.bronze,
        "honour_silver": settings.honours.silver,
        "honour_gold": settings.honours.gold,
        "honour_lifetime_after_golds": settings.honours.lifetime_after_golds,
        "mean_issue_window_days": settings.inventory.mean_issue_window_days,
        "local_timezone": settings.dbt.local_timezone,
        "baseline_year": settings.dbt.baseline_year,
        "baseline_years_back": settings.dbt.baseline_years_back,
        "population_sample": settings.dbt.population_sample,
    }
    if whole_blood is not None:
        found["whole_blood_shelf_life_days"] = whole_blood.shelf_life_hours / 24
    return found


@dataclass(frozen=True)
class DbtPaths:
    project_dir: Path
    profiles_dir: Path
    target_path: Path
    log_path: Path


def dbt_paths(settings: Settings, project_dir: Path | None = None) -> DbtPaths:
    project = (project_dir or PROJECT_DIR).resolve()
    state = settings.data_path / "dbt"
    return DbtPaths(project, project, state / "target", state / "logs")


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# ---- arguments -------------------------------------------------------------------------------
def _command_params(args: list[str]) -> tuple[list[str], set[str]]:
    """(command words, parameter names the command accepts), e.g. (["docs", "generate"], ...)."""
    from dbt.cli.main import cli

    group: Any = cli
    words: list[str] = []
    for arg in args:
        commands = getattr(group, "commands", None)
        if commands is None or arg not in commands:
            break
        group = commands[arg]
        words.append(arg)
    if not words or hasattr(group, "commands"):
        known = ", ".join(sorted(cli.commands))
        raise ConfigError(
            f"Not a dbt command: {' '.join(args) or '(none)'}.",
            hint=f"Use one of: {known} (e.g. `bloodtrace dbt build`).",
        )
    return words, {p.name for p in group.params if p.name}


def _option_value(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _without_option(args: list[str], name: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def build_args(
    settings: Settings, args: list[str], paths: DbtPaths, *, quiet: bool = False
) -> list[str]:
    """The full dbt argument list: the caller's, plus project, profile, paths, target, vars.

    The caller's own ``--target``, ``--threads`` and paths win; ``--vars`` are merged over
    the platform's (theirs win key by key).
    """
    from dbt.config.utils import parse_cli_vars  # dbt's own --vars parser

    _, accepted = _command_params(args)
    full = list(args)

    def add(option: str, param: str, value: str) -> None:
        if param in accepted and _option_value(full, option) is None:
            full.extend([option, value])

    add("--project-dir", "project_dir", str(paths.project_dir))
    add("--profiles-dir", "profiles_dir", str(paths.profiles_dir))
    add("--target-path", "target_path", str(paths.target_path))
    add("--log-path", "log_path", str(paths.log_path))
    add("--target", "target", target_name(settings))
    if "vars" in accepted:
        merged = {k: v for k, v in dbt_vars(settings).items() if v is not None}
        theirs = _option_value(full, "--vars")
        if theirs is not None:
            try:
                merged.update(parse_cli_vars(theirs))
            except Exception as exc:  # dbt's own error: not YAML, or not a mapping
                raise ConfigError(
                    f"--vars is not a YAML mapping: {str(exc).strip()[:200]}",
                    hint="e.g. --vars '{baseline_year: 2020}'",
                ) from exc
            full = _without_option(full, "--vars")
        full.extend(["--vars", json.dumps(merged)])
    if quiet and "quiet" in accepted and "--quiet" not in full and "-q" not in full:
        full.append("--quiet")
    if "send_anonymous_usage_stats" in accepted:
        full.append("--no-send-anonymous-usage-stats")
    return full


# ---- errors ----------------------------------------------------------------------------------
def translate_dbt_error(exc: BaseException, settings: Settings) -> BloodtraceError:
    """A dbt (or warehouse) exception as one of the platform's errors."""
    if isinstance(exc, BloodtraceError):
        return exc
    text = str(exc).strip() or type(exc).__name__
    first = " ".join(text.split())[:600]
    if "Cannot lock file" in text or "Another server instance" in text:
        return WarehouseLocked(
            f"The embedded warehouse at {settings.data_path} is in use by another process.",
            hint="Only one process may own a chDB directory: while `bloodtrace serve` runs, "
            "`bloodtrace dbt` goes through its HTTP API; otherwise stop the other process.",
        )
    name = type(exc).__name__
    config_errors = (
        "DbtUsageException",
        "DbtProjectError",
        "DbtProfileError",
        "CompilationError",
        "ParsingError",
        "DbtConfigError",
        "DbtValidationError",
        "ContractError",
        "UndefinedMacroError",
        "TargetNotFoundError",
        "DuplicateResourceNameError",
    )
    if name in config_errors or "Compilation Error" in text or "Parsing Error" in text:
        return ConfigError(
            f"dbt could not run the project: {first}",
            hint="Check the command line and the dbt project (dbt/); `bloodtrace dbt parse` "
            "reports project errors without touching the warehouse.",
        )
    if name == "FailedToConnectError" or any(
        s in text for s in ("Connection refused", "Failed to establish", "timed out")
    ):
        return WarehouseUnavailable(
            f"dbt could not reach the warehouse: {first}",
            hint="Check BLOODTRACE_WAREHOUSE_URL and that the ClickHouse server is up.",
        )
    return WarehouseError(f"dbt failed: {first}")


# ---- running ---------------------------------------------------------------------------------
def _node_results(result: Any) -> tuple[list[NodeResult], list[str]]:
    items = getattr(result, "results", None)
    if items is None:
        if isinstance(result, list):  # `dbt ls`
            return [], [str(line) for line in result]
        return [], []
    nodes: list[NodeResult] = []
    for item in items:
        node = getattr(item, "node", None)
        status = getattr(item, "status", "")
        response = getattr(item, "adapter_response", None) or {}
        rows = response.get("rows_affected") if isinstance(response, dict) else None
        nodes.append(
            NodeResult(
                unique_id=str(getattr(node, "unique_id", "")),
                name=str(getattr(node, "name", "")),
                resource_type=str(getattr(node, "resource_type", "")),
                status=str(getattr(status, "value", status)),
                seconds=round(float(getattr(item, "execution_time", 0.0) or 0.0), 3),
                message=getattr(item, "message", None),
                failures=getattr(item, "failures", None),
                rows_affected=int(rows) if isinstance(rows, int) else None,
            )
        )
    return nodes, []


def run_dbt(
    settings: Settings,
    args: list[str],
    *,
    project_dir: Path | None = None,
    quiet: bool = False,
) -> DbtResult:
    """Run one dbt command (``["build"]``, ``["docs", "generate"]``, ...) on the warehouse.

    Returns the result whether or not the models and tests passed (see ``success`` and
    ``failed``). Raises a BloodtraceError when dbt could not run at all: a bad command line or
    project (ConfigError), an unreachable or locked warehouse (WarehouseUnavailable,
    WarehouseLocked), any other warehouse failure (WarehouseError).
    """
    paths = dbt_paths(settings, project_dir)
    if not (paths.project_dir / "dbt_project.yml").exists():
        raise ConfigError(f"No dbt project at {paths.project_dir}.")
    install_chdb_driver()
    from dbt.cli.main import dbtRunner

    full = build_args(settings, args, paths, quiet=quiet)
    env = profile_env(settings) | {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    paths.log_path.mkdir(parents=True, exist_ok=True)
    with _run_lock, _environment(env):
        started = time.perf_counter()
        outcome = dbtRunner().invoke(full)
        seconds = round(time.perf_counter() - started, 3)
    if outcome.exception is not None:
        raise translate_dbt_error(outcome.exception, settings) from outcome.exception
    nodes, output = _node_results(outcome.result)
    error = None
    if not outcome.success and not nodes and outcome.result is None:
        error = WarehouseError("dbt reported a failure without results; see its log.").to_dict()
    return DbtResult(
        command=list(args),
        target=target_name(settings),
        success=bool(outcome.success),
        seconds=seconds,
        nodes=nodes,
        output=output,
        error=error,
    )


def scheduled_dbt_build(settings: Settings) -> dict[str, Any]:
    """What the platform runs on its schedule and after each demo load: ``dbt build``
    without unit tests (incremental facts take only what was ingested since the last run).

    Returns a JSON-able summary; raises WarehouseError naming the failed nodes when a model or
    test failed, so the platform records the job as failed.
    """
    # Unit tests check the SQL, not the data: dbt recommends leaving them out of production
    # runs. They run in `make test` and in any `bloodtrace dbt build`.
    result = run_dbt(settings, SCHEDULED_BUILD, quiet=True)
    resource_types: dict[str, int] = {}
    for node in result.nodes:
        resource_types[node.resource_type] = resource_types.get(node.resource_type, 0) + 1
    summary = {
        "success": result.success,
        "seconds": result.seconds,
        "counts": result.counts,
        "resource_types": resource_types,
        "slowest": [
            {"name": n.name, "seconds": n.seconds}
            for n in sorted(result.nodes, key=lambda n: -n.seconds)[:5]
        ],
    }
    if not result.success:
        failed = ", ".join(f"{n.name} ({n.status})" for n in result.failed[:10])
        raise WarehouseError(
            f"Scheduled dbt build failed: {failed or 'see the dbt log'}",
            hint=f"Details in {dbt_paths(settings).log_path / 'dbt.log'}; "
            "rerun with `bloodtrace dbt build`.",
            **summary,
        )
    return summary
