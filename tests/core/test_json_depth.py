"""The depth of a JSON document, without parsing it: exact for any JSON, brackets in strings (escaped quotes and
backslashes included) ignored, and never slow, whatever the bytes."""

from __future__ import annotations

import json
import time

from hypothesis import given
from hypothesis import strategies as st

from checkstand.core.json_depth import MAX_DEPTH, depth, nests_deeper_than

tricky_text = st.text(alphabet='[]{}"\\ax', max_size=12)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=30,
)


def levels(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((levels(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((levels(item) for item in value.values()), default=0)
    return 0


@given(documents)
def test_the_depth_of_any_document_is_its_nesting(document: object) -> None:
    assert depth(json.dumps(document).encode()) == levels(document)
    assert depth(json.dumps(document, ensure_ascii=False).encode()) == levels(document)


def test_the_limit() -> None:
    assert not nests_deeper_than(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert nests_deeper_than(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    # Not JSON, but a parser would recurse into every one of them before it noticed.
    assert nests_deeper_than(b"[" * 5000)
    assert nests_deeper_than(b'{"a":' * 5000)


def test_a_megabyte_of_the_worst_input_is_measured_quickly() -> None:
    for worst in (b'"' * 2**20, b"\\" * 2**20, b'"\\' * 2**19, b"[]" * 2**19, b"[" * 2**20, b'"' + b"[" * 2**20):
        started = time.perf_counter()
        depth(worst)
        assert time.perf_counter() - started < 1.0
