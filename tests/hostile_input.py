"""Hypothesis strategies for what an attacker (or a confused browser) types: other scripts' digits, confusables,
huge numbers, NULs and control characters, deep nesting. Property tests post them to the public surfaces and
assert that the answer is never a 5xx."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SPECIMENS = [
    "\u00b9",  # superscript one: isdigit() but not int()
    "\u00b2\u2070\u00b3\u2070",  # superscript 2030
    "\u0664\u0662\u0664\u0662" * 4,  # Arabic-Indic 4242...
    "\uff14\uff12\uff14\uff12" * 4,  # full-width 4242...
    "\u0967\u0968",  # Devanagari 12
    "\u2460\u2461",  # circled digits
    "\x00",
    "A\x00B",
    "\r\nX-Injected: 1",
    "\u202e12",  # right-to-left override
    "\u0430pple",  # Cyrillic a
    "\u212a",  # Kelvin sign, folds to k
    "\ufb01",  # fi ligature
    "\u0130",  # dotted capital I
    "1e309",
    "NaN",
    "-0",
    "9" * 400,
    "0x10",
    "[" * 64,
    "{" * 64,
    "https://shop.example; script-src 'unsafe-inline' *; x/ok",
    "https://\u0430pple.com/",
    "",
    " ",
]

digits_of_any_script = st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=20)
huge_numbers = st.integers(min_value=-(10**40), max_value=10**40)
hostile_text = st.one_of(
    st.sampled_from(SPECIMENS),
    digits_of_any_script,
    huge_numbers.map(str),
    st.text(max_size=40),
)
hostile_scalar: st.SearchStrategy[Any] = st.one_of(
    hostile_text,
    huge_numbers,
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)


def nested(levels: int, leaf: Any = "x") -> Any:
    value: Any = leaf
    for _ in range(levels):
        value = [value]
    return value


hostile_json: st.SearchStrategy[Any] = st.one_of(
    hostile_scalar,
    # Deeper than the limit (32), shallow enough for Hypothesis to print; thousands of levels: test_body_limits.py.
    st.integers(min_value=30, max_value=200).map(nested),
    st.dictionaries(hostile_text, hostile_scalar, max_size=3),
    st.lists(hostile_scalar, max_size=3),
)
