"""The running platform, as API routes see it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.errors import PlatformNotRunning

if TYPE_CHECKING:
    from streams.platform import Platform

_platform: Platform | None = None


def set_platform(platform: Platform | None) -> None:
    global _platform
    _platform = platform


def platform() -> Platform:
    if _platform is None:
        raise PlatformNotRunning("The platform is starting or stopping; try again shortly.")
    return _platform
