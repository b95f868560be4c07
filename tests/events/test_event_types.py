"""One list of event types: ``record_event`` takes only a declared ``EventType`` (mypy holds every call site to
it), and each declared type has the description merchants subscribe from."""

from __future__ import annotations

import inspect
from typing import get_args

from checkstand.events.service import record_event
from checkstand.events.types import EVENT_TYPES, EventType


def test_every_declared_type_is_described_once() -> None:
    declared = get_args(EventType)
    assert len(declared) == len(set(declared)) > 20
    assert list(EVENT_TYPES) == list(declared)
    assert all(description.endswith(".") for description in EVENT_TYPES.values())


def test_recording_takes_a_declared_type() -> None:
    assert inspect.signature(record_event, eval_str=True).parameters["type"].annotation == EventType
