"""Logging: plain lines for a terminal, or one JSON object per line (LOG_FORMAT=json) for a log pipeline.

Every record passes a redaction filter that replaces the secrets daifu knows (the bot token, provider
keys) wherever they appear, so a URL or an exception message can never leak one. Records made while an
order or request is being handled carry its id (services.log_context).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from services.log_context import current_ids

REDACTED = "[redacted]"


class Redact(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self._clean(message), None
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        for key, value in current_ids().items():
            setattr(record, key, value)
        return True


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


def configure(level: str, fmt: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(Redact(secrets))
    if fmt == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, and those URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic announces each of its plugins at every start: noise above the lines that matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
