"""Every event type the code records can be subscribed to: a type missing from the list would reach no endpoint
that names its types."""

from __future__ import annotations

import re
from pathlib import Path

import checkstand
from checkstand.events.types import EVENT_TYPES

RECORDED = re.compile(r'type="([a-z_]+\.[a-z_]+)"')


def test_every_recorded_type_is_listed() -> None:
    source = Path(checkstand.__file__).parent
    recorded = {match for path in source.rglob("*.py") for match in RECORDED.findall(path.read_text())}
    assert len(recorded) > 20
    assert recorded - set(EVENT_TYPES) == set()
