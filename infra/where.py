"""A query's `where` from optional filters, with its bound parameters.

The warehouse's list queries (alerts, quality findings, excursions, levels) all filter on
whichever of a few columns the caller named; this builds the condition once, every value a
bound parameter (never text in the SQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UTC_TIME = "DateTime64(3, 'UTC')"


@dataclass
class Where:
    """Conditions joined by `and`; with none, `1` (every row)."""

    conditions: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def _add(self, column: str, op: str, value: Any, name: str | None, kind: str) -> Where:
        if value:  # not given (None, empty): no condition
            name = name or column
            self.conditions.append(f"{column} {op} {{{name}:{kind}}}")
            self.params[name] = value
        return self

    def equal(self, column: str, value: Any, *, name: str | None = None) -> Where:
        """``column = value`` (a String) when a value is given."""
        return self._add(column, "=", value, name, "String")

    def since(self, column: str, value: Any, *, name: str = "since", kind: str = UTC_TIME) -> Where:
        """``column >= value`` (a time) when a value is given."""
        return self._add(column, ">=", value, name, kind)

    def until(self, column: str, value: Any, *, name: str = "until", kind: str = UTC_TIME) -> Where:
        """``column < value`` (a time) when a value is given."""
        return self._add(column, "<", value, name, kind)

    @property
    def sql(self) -> str:
        return " and ".join(self.conditions) or "1"
