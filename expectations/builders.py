"""Which function pulls each suite's frame.

Its own module so that the frame modules import one another one way only: ``wastage`` builds on
``frames``, and this registry on both (issue 10: no import cycles)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd

from expectations.frames import (
    _TABLE_COLUMNS,
    FrameContext,
    components_frame,
    disposition_frame,
    donations_frame,
    events_frame,
    freshness_frame,
    plain_table_frame,
    release_screening_frame,
    units_frame,
)
from expectations.wastage import wastage_frame

FrameBuilder = Callable[[FrameContext], pd.DataFrame]


def _plain_frame_of(table: str, ctx: FrameContext) -> pd.DataFrame:
    return plain_table_frame(ctx, table)


def frame_builders() -> dict[str, FrameBuilder]:
    """Suite name -> the function that pulls its frame."""
    builders: dict[str, FrameBuilder] = {
        table: functools.partial(_plain_frame_of, table) for table in _TABLE_COLUMNS
    }
    builders.update(
        {
            "events": events_frame,
            "donations": donations_frame,
            "components": components_frame,
            "release_screening": release_screening_frame,
            "units": units_frame,
            "disposition": disposition_frame,
            "wastage": wastage_frame,
            "freshness": freshness_frame,
        }
    )
    return builders
