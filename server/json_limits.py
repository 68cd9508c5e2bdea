"""Limits on JSON a client sends, beyond what msgspec checks: nesting depth and number range.

msgspec decodes any depth up to the interpreter's recursion limit (about 1,000 levels, then a
RecursionError) and any integer Python can hold (thousands of digits); later layers (the
cache policy, the guardrails, SQLite) then fail on what they were handed. `check` refuses,
on a body msgspec has already accepted as JSON:

- nesting deeper than MAX_DEPTH arrays/objects;
- an integer outside the signed 64-bit range, or a number outside the double range (1e400).

Ordinary bodies cost two `bytes.count` and one `bytes.translate` (about 1 ms a MB); the full
scan runs only when a body has more brackets than MAX_DEPTH or a digit run long enough to be
out of range, and is linear in the body (C-level regex, bytes and numpy operations; measured
on 2-4 MB bodies: 5-70 ms, most of it removing the strings).
"""

from __future__ import annotations

import math
import re

import numpy as np

MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A JSON string (on a body already known to be valid JSON, so strings are found exactly).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Digits as 0, exponent marks as e, signs as +: then out-of-range numbers need one of these.
_FOLD = bytes.maketrans(b"0123456789E-", b"0000000000e+")
_SUSPECTS = (b"0" * 19, b"e000", b"e+000")  # 19+ digits (int64 has 19), a 3+ digit exponent
# A number that may be out of range: 19+ integer digits, or a 3+ digit exponent.
_BIG = re.compile(rb"(?<![\w.+\-])-?(?:\d{19,}(?:\.\d+)?(?:[eE][+-]?\d+)?|\d+(?:\.\d+)?[eE][+-]?\d{3,})")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
MAX_NUMBER_CHARS = 400  # far more than a double or an int64 needs


class JsonLimitError(ValueError):
    """The body is valid JSON but beyond what the gateway accepts; the message says why."""


def check(body: bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonLimitError when `body` (valid JSON) nests too deep or holds an unusable number."""
    deep = body.count(b"[") + body.count(b"{") > max_depth
    folded = body.translate(_FOLD)
    suspect = any(s in folded for s in _SUSPECTS)
    if not deep and not suspect:
        return
    bare = _STRING.sub(b'""', body)  # brackets and digits inside strings are text
    if deep and depth(bare) > max_depth:
        raise JsonLimitError(f"JSON nested deeper than {max_depth} levels")
    if suspect:
        for m in _BIG.finditer(bare):
            _number(m.group())


def depth(bare: bytes) -> int:
    """Nesting depth of JSON without strings (brackets are all structural)."""
    brackets = bare.translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return int(np.cumsum(_STEP[np.frombuffer(brackets, np.uint8)], dtype=np.int32).max())


def _number(token: bytes) -> None:
    if len(token) > MAX_NUMBER_CHARS:
        raise JsonLimitError(f"a number of {len(token)} characters (the limit is {MAX_NUMBER_CHARS})")
    if b"." in token or b"e" in token or b"E" in token:
        if math.isinf(float(token)):
            raise JsonLimitError("number out of range (beyond a 64-bit float)")
    elif not INT64_MIN <= int(token) <= INT64_MAX:
        raise JsonLimitError("integer out of range (beyond a signed 64-bit integer)")
