"""What sqlfluff's jinja templater renders `var()` and `env_var()` with when it lints the models.

sqlfluff's own dbt stand-ins make every var a placeholder string, which renders window sizes as
``-1 preceding`` and turns ``var(...) is none`` branches the wrong way; here each var is its
default from dbt_project.yml, as `bloodtrace dbt` would pass it, and every env var its default.
Only the linter (dbt/.sqlfluff, ``library_path``) imports this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_VARS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "dbt_project.yml").read_text()
)["vars"]


def var(name: str, default: Any = None) -> Any:
    return _VARS.get(name, default)


def env_var(name: str, default: str = "") -> str:
    return default
