"""Log lines an operator can trust and a machine can read.

Every line goes through one of two formatters, so no caller has to remember the rules: control characters in
anything logged are escaped (a request path like ``/x%0D%0A<fake line>`` can't forge a line of its own), a value
the database driver quotes in an error is hidden, and the request id is added wherever it is known. ``text`` keeps
one line per record, with a traceback's lines indented beneath it; ``json`` writes one JSON object per line (time,
level, logger, message, request_id, exception).
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Final, Literal

LogFormat = Literal["text", "json"]

# Set by the request middleware for the span of a request, so every line logged while serving it carries its id.
REQUEST_ID: ContextVar[str | None] = ContextVar("checkstand_request_id", default=None)

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators some log viewers break lines at.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s%(request_context)s: %(message)s"
# Values a database error carries past SQLAlchemy's hide_parameters, each of which may be a token or an email: asyncpg
# quotes a value it could not encode ("invalid input for query argument $1: 'cs_tok_...' (...)"), and PostgreSQL's
# DETAIL line quotes the row or key it refused ("Failing row contains (...)", "Key (email)=(...) already exists").
_DRIVER_ECHO: Final = re.compile(r"(invalid input for query argument \$\d+[^:\n]*: ).*")
_SERVER_DETAIL: Final = re.compile(r"^(\s*DETAIL:\s*).*$", re.MULTILINE)
# Libraries that log whole URLs at INFO: a webhook endpoint's or a processor's URL may carry a token.
_QUIETED: Final = ("httpx", "httpcore")


def _hide_values(text: str) -> str:
    return _SERVER_DETAIL.sub(r"\1[hidden]", _DRIVER_ECHO.sub(r"\1[value hidden]", text))


def escape_controls(text: str) -> str:
    r"""``"a\r\nb"`` becomes ``"a\\r\\nb"``: what was sent stays readable, and stays on its line."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    """One escaped line per record; a traceback follows on lines indented by four spaces, so a line that starts
    at the margin is always the start of a record."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(_hide_values(record.getMessage()))
        request_id = REQUEST_ID.get()
        record.request_context = f" [{request_id}]" if request_id else ""
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        details = _details(self, record)
        if details:
            line += "".join(f"\n    {escape_controls(_hide_values(part))}" for part in details.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``ensure_ascii`` leaves no raw control or line-breaking character in it."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _hide_values(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        details = _details(self, record)
        if details:
            entry["exception"] = _hide_values(details)
        return json.dumps(entry, ensure_ascii=True)


def _details(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The record's traceback and stack, as the standard formatter renders them."""
    parts: list[str] = []
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return "\n".join(parts)


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Route every logger (uvicorn's too, when it is started without a config of its own) to stderr through one
    formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warning is a record too, in the same format
    for name in _QUIETED:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
