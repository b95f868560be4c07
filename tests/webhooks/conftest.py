from __future__ import annotations

from collections.abc import Iterator

import pytest

from checkstand.db import Database
from checkstand.settings import Settings
from checkstand.worker import Worker
from tests.webhooks.harness import Receiver, quick, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def worker(settings: Settings, database: Database) -> Worker:
    """An in-process worker with retries in seconds; a test drives it with ``run_once`` and the frozen clock."""
    return Worker(database, quick(settings))
