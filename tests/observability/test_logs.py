"""Every log line is escaped and carries the request id; JSON lines parse one by one; no statement parameter or
value a database driver echoes reaches a line, on PostgreSQL where the issue was found."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from checkstand.api.http.unit_of_work import Session
from checkstand.app import create_app
from checkstand.db import Database
from checkstand.observability.logs import REQUEST_ID, JsonFormatter, TextFormatter, escape_controls
from checkstand.settings import Settings

FORGED = "/api/x\r\n2026-01-01 00:00:00,000 INFO checkstand.access: forged"


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("checkstand.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_control_characters_are_escaped() -> None:
    assert escape_controls("a\r\nb\x1b[31mc\x00\u2028") == "a\\r\\nb\\x1b[31mc\\x00\\u2028"
    line = TextFormatter().format(record("path %s", FORGED))
    assert "\n" not in line
    assert "\r" not in line
    assert "\\r\\n2026-01-01" in line


def test_a_traceback_stays_under_its_record() -> None:
    try:
        raise ValueError("bad\r\nINFO forged line")
    except ValueError as error:
        caught = error
    lines = TextFormatter().format(record("failed", exc=caught)).split("\n")
    assert len(lines) > 2
    assert all(line.startswith("    ") for line in lines[1:])
    assert any("bad\\r\\nINFO forged line" in line for line in lines)


def test_json_lines_carry_the_request_id() -> None:
    context = REQUEST_ID.set("req_abc")
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError as error:
            line = JsonFormatter().format(record("got %s", FORGED, exc=error))
    finally:
        REQUEST_ID.reset(context)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == f"got {FORGED}"
    assert entry["level"] == "warning"
    assert entry["logger"] == "checkstand.test"
    assert entry["request_id"] == "req_abc"
    assert entry["time"].endswith("+00:00")
    assert "RuntimeError: boom" in entry["exception"]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything logged, as the operator's stderr would show it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_the_access_log_cannot_be_forged(client: httpx.AsyncClient, log_output: io.StringIO) -> None:
    response = await client.get("/api/x%0D%0A2026-01-01%2000:00:00,000%20INFO%20checkstand.access:%20forged")
    request_id = response.headers["x-request-id"]
    lines = log_output.getvalue().splitlines()
    access = [line for line in lines if " INFO checkstand.access [" in line]
    assert len(access) == 1
    assert f"[{request_id}]" in access[0]
    assert "\\r\\n2026-01-01" in access[0]
    assert not any(line.startswith("2026-01-01") for line in lines)


SECURE_TOKEN = "cs_tok_do-not-log-this-secure-token-value"
EMAIL = "jane.customer@example.com"


@pytest.fixture
async def failing_app(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings, database=database)

    async def violate(session: Session) -> None:
        # A constraint the database refuses, with the secret values as statement parameters.
        await session.execute(
            text("INSERT INTO customers (id, email, name) VALUES (:id, :email, :name)"),
            {"id": SECURE_TOKEN, "email": EMAIL, "name": EMAIL},
        )

    async def mistyped(session: Session) -> None:
        # A value the driver can't encode: asyncpg quotes it in its message.
        await session.execute(text("SELECT CAST(:value AS integer)"), {"value": SECURE_TOKEN})

    app.add_api_route("/api/violate", violate, methods=["POST"])
    app.add_api_route("/api/mistyped", mistyped, methods=["POST"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://checkstand.test") as http:
        yield http


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_no_statement_parameter_reaches_a_log(failing_app: httpx.AsyncClient, log_output: io.StringIO) -> None:
    for path in ("/api/violate", "/api/mistyped"):
        response = await failing_app.post(path)
        assert response.status_code == 500
        assert SECURE_TOKEN not in response.text
    logged = log_output.getvalue()
    assert "Traceback" in logged  # the errors were logged, with their tracebacks
    assert "parameters hidden" in logged
    assert SECURE_TOKEN[:12] not in logged
    assert EMAIL not in logged
