from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.localstripe import LocalStripe, run_localstripe


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """One localstripe for the run: each test uses its own idempotency keys, so none sees another's charges."""
    with run_localstripe() as running:
        yield running
