"""An error no handler knows is a 500 a person can act on: the dialect's error body (or the hosted pages' error
page), the request id in the body and in ``X-Request-Id``, the traceback in the log and never on the wire."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from checkstand.app import create_app
from checkstand.db import Database
from checkstand.settings import Settings

SECRET_IN_ERROR = "internal detail that must stay in the log"


@pytest.fixture
async def app(settings: Settings, database: Database) -> FastAPI:
    app = create_app(settings, database=database)

    async def explode() -> None:
        raise RuntimeError(SECRET_IN_ERROR)

    app.add_api_route("/api/explode", explode, methods=["GET", "POST"])
    # Under the hosted pages' prefix, where a customer reads the answer.
    app.add_api_route("/c/{token}/explode", explode, methods=["GET"])
    return app


@pytest.fixture
async def http(app: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.resolved_public_url) as c:
        yield c


async def test_an_api_error_is_json_with_the_request_id(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="checkstand.errors"):
        response = await http.post("/api/explode", json={})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert body["request_id"] == request_id
    assert body["status"] == 500
    assert body["code"] == "internal_error"
    assert {"type", "title", "detail"} <= set(body)
    assert SECRET_IN_ERROR not in response.text
    assert "Traceback" not in response.text
    (record,) = [r for r in caplog.records if r.name == "checkstand.errors"]
    assert record.exc_info is not None
    assert SECRET_IN_ERROR in str(record.exc_info[1])
    assert "POST /api/explode" in record.getMessage()


async def test_a_page_error_is_the_error_page(http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="checkstand.errors"):
        response = await http.get("/c/cs_tok_a-customers-token/explode")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-request-id"] in response.text
    assert "Something went wrong" in response.text
    assert SECRET_IN_ERROR not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    # The log names the page by its template: the token in the path is the customer's secret.
    assert "a-customers-token" not in caplog.text
    assert "/c/[token]" in caplog.text
