"""Logging: plain lines for a terminal, or one JSON object per line (LOG_FORMAT=json) for a log pipeline.

No secret is ever logged, at any level: every record is redacted the moment it is made (a LogRecord factory,
so whichever logger made it, a library's at DEBUG included, and whichever handler takes it, one added later
included), against services.redaction's registry: the secrets in the settings and those made while daifu
runs (generated webhook and sandbox secrets, new API keys and callback secrets). The message is rendered
with its arguments, and the traceback and stack, then cleaned, and only the clean text is kept. Exceptions
nobody caught (at start, in a thread) are logged rather than printed, so they are redacted too. Records made
while an order or request is being handled carry its id (services.log_context).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any

from pydantic import SecretStr

from bot.settings import Settings
from services.log_context import current_ids
from services.redaction import REDACTED, redact, remember

__all__ = ["REDACTED", "JsonLines", "Redact", "configure", "secrets_of"]

log = logging.getLogger("daifu")


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings, for the redaction."""
    values = [getattr(settings, name) for name in Settings.model_fields]
    return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]


def clean(record: logging.LogRecord) -> None:
    """Render the record's message, traceback and stack now, and keep them only with the secrets replaced."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the message: keep both, as logging would report them
        message = f"{record.msg!r} % {record.args!r}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
        # A handler rendering the exception again (from exc_info) would see the raw one: it has the text.
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class Redact(logging.Filter):
    """On daifu's handler: a record made before the factory was in place is cleaned here; ids are added."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        remember(*secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "redacted", False):
            clean(record)
        for key, value in current_ids().items():
            setattr(record, key, value)
        return True


class _RedactingFactory:
    def __init__(self, make: Any) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.make(*args, **kwargs)
        clean(record)
        setattr(record, "redacted", True)  # noqa: B010 - LogRecord has no such declared attribute
        return record


class JsonLines(logging.Formatter):
    FIELDS = ("order_id", "request_id")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    log.critical("daifu stopped on an exception nobody caught", exc_info=(kind, error, traceback))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or isinstance(args.exc_value, SystemExit):
        return
    name = args.thread.name if args.thread else "?"
    log.error("thread %s stopped on an exception", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def _unraisable(unraisable: Any) -> None:
    error = unraisable.exc_value
    info = (type(error), error, unraisable.exc_traceback) if error is not None else None
    log.warning("%s: %r", unraisable.err_msg or "Exception ignored in", unraisable.object, exc_info=info)


def configure(level: str, fmt: str, secrets: Iterable[str], *, stream: IO[str] | None = None) -> None:
    """Log to stderr (or stream) at this level; secrets, and every one made later, never appear."""
    remember(*secrets)
    if not isinstance(logging.getLogRecordFactory(), _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(logging.getLogRecordFactory()))
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redact())
    if fmt == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    sys.unraisablehook = _unraisable
    # httpx logs every request URL at INFO; below DEBUG that is noise (the token in them is redacted anyway).
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # Alembic announces each of its plugins at every start: noise above the lines that matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # The job queue's scheduler logs two lines for every run of every job (several a minute): below DEBUG, noise
    # that buries what happened; a job that fails is still logged, at ERROR.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
