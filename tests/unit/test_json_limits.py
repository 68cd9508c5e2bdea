"""server.core.json_limits against the truth: Python's own ints and json's own nesting."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.json_limits import INT64_MAX, MAX_DEPTH, JsonLimitError, check, depth, without_strings

INT64_MIN = -INT64_MAX - 1
near_bounds = st.one_of(st.integers(), st.integers(INT64_MAX - 10, INT64_MAX + 10),
                        st.integers(INT64_MIN - 10, INT64_MIN + 10), st.integers(-(10**25), 10**25))
# Strings full of what could be taken for structure or numbers.
tricky = st.text(alphabet='[]{}"\\:,0123456789e-.x ', max_size=40)


def refused(body: bytes) -> bool:
    try:
        check(body)
    except JsonLimitError:
        return True
    return False


@settings(max_examples=500, deadline=None)
@given(near_bounds, tricky)
def test_integers_are_refused_exactly_outside_int64(n, text):
    body = json.dumps({text: [text, n, {"k": text}]}).encode()
    assert refused(body) == (not INT64_MIN <= n <= INT64_MAX)


def nest(value, levels: int):
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 90), tricky)
def test_depth_ignores_brackets_inside_strings(levels, text):
    body = json.dumps({text: nest(text, levels), "pad": [[]] * 40}).encode()  # 80 brackets: checked
    assert depth(without_strings(body)) == max(1 + levels, 3)
    assert refused(body) == (1 + levels > MAX_DEPTH)


@pytest.mark.parametrize(("number", "bad"), [
    ("1e300", False), ("1e301", True), ("1E+400", True), ("1e-400", False), ("2.5e0300", False),
    ("12345678901234567890.5", False), ("12345678901234567890", True), ("0." + "0" * 300 + "1", True),
    ("1.0", False), ("-0", False),
])
def test_numbers_written_beyond_the_limits(number, bad):
    assert refused(b'{"a":[' + number.encode() + b"]}") == bad
