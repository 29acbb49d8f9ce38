"""Log records never carry a national ID number, whichever library logs it.

A log record factory masks each record's message (and its traceback text) as it is made, so
every handler (console, file, pytest's capture) sees the masked text. Installed once per
process by the platform and the CLI; ``install`` is idempotent.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from models.privacy import mask_national_ids

_lock = threading.Lock()
_installed = False


def _masking(factory: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it later, as usual
            return record
        masked = mask_national_ids(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_national_ids(text)
        return record

    make.bloodtrace_masking = True  # type: ignore[attr-defined]
    return make


def install() -> None:
    global _installed
    with _lock:
        if _installed or getattr(logging.getLogRecordFactory(), "bloodtrace_masking", False):
            _installed = True
            return
        logging.setLogRecordFactory(_masking(logging.getLogRecordFactory()))
        _installed = True
