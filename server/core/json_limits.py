"""Limits on JSON a client sends, beyond what msgspec checks: nesting depth and number range.

msgspec decodes any depth up to the interpreter's recursion limit (about 1,000 levels, then a
RecursionError) and any integer Python can hold (thousands of digits); later layers (the
cache policy, the guardrails, SQLite) then fail on what they were handed. `check` refuses,
on a body msgspec has already accepted as JSON:

- nesting deeper than MAX_DEPTH arrays/objects;
- an integer outside the signed 64-bit range;
- a number written with an exponent above 300 or a run of more than 300 digits (1e400 and
  anything else beyond a double, and a few absurd doubles such as 1e301, which no field of
  the API takes).

Ordinary bodies cost two `bytes.count`, one `bytes.translate` and three `in` (about 1 ms a
MB). The full check runs only on a body with more brackets than MAX_DEPTH or a digit run long
enough to be out of range, and has no Python loop per value: strings are cut out with
`bytes.replace`/`split`, the depth is a numpy running sum, the numbers one regex search
(a crafted 3.8 MiB body: under 100 ms).
"""

from __future__ import annotations

import re

import numpy as np

from server.core.errors import GateError

MAX_DEPTH = 64
INT64_MAX = 2**63 - 1


def _greater_than(bound: str) -> str:
    """A regex for strings of len(bound) digits that are greater than `bound`."""
    alternatives = []
    for i, digit in enumerate(int(c) for c in bound):
        if digit < 9:
            rest = len(bound) - i - 1
            alternatives.append(bound[:i] + f"[{digit + 1}-9]" + (rf"\d{{{rest}}}" if rest else ""))
    return "(?:" + "|".join(alternatives) + ")"


# Digits as 0, exponent marks as e, signs as +: a number out of range needs one of these.
_FOLD = bytes.maketrans(b"0123456789E-", b"0000000000e+")
_SUSPECTS = (b"0" * 19, b"e000", b"e+000")  # 19+ digits in a row, a 3+ digit exponent
_INT_END = r"(?![\d.eE])"
# Integers of 19+ digits out of the int64 range; anchored on what may precede a number
# outside strings, so that the search skips ahead cheaply.
_BIG_INT = re.compile((
    r"[\[,:]\s*(?:" + _greater_than(str(INT64_MAX)) + _INT_END             # 19 digits > int64 max
    + r"|-" + _greater_than(str(INT64_MAX + 1)) + _INT_END                  # 19 digits < int64 min
    + r"|-?\d{20,}" + _INT_END + ")"                                        # 20+ digit integers
).encode())
_BIG_EXPONENT = re.compile(rb"[eE]\+?0*(?:[1-9]\d{3,}|30[1-9]|3[1-9]\d|[4-9]\d\d)")  # above 300
_LONG_RUN = b"0" * 301  # 301+ digits in a row, in the folded body
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


class JsonLimitError(GateError, ValueError):
    """The body is valid JSON but beyond what the gateway accepts; the message says why."""


def decode_checked(decode, body: bytes):
    """`decode(body)`, then `check(body)`: what every JSON body the gateway reads goes
    through. msgspec gives up at about 1,000 levels, before the depth check could say so:
    its RecursionError is the same refusal."""
    try:
        value = decode(body)
    except RecursionError:
        raise JsonLimitError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    check(body)
    return value


def check(body: bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonLimitError when `body` (valid JSON) nests too deep or holds an unusable number."""
    deep = body.count(b"[") + body.count(b"{") > max_depth
    folded = body.translate(_FOLD)
    suspect = any(s in folded for s in _SUSPECTS)
    if not deep and not suspect:
        return
    bare = without_strings(body)  # brackets and digits inside strings are text
    if deep and depth(bare) > max_depth:
        raise JsonLimitError(f"JSON nested deeper than {max_depth} levels")
    if suspect and _out_of_range(bare):
        raise JsonLimitError("number out of range: integers must fit in 64 bits, exponents and "
                             "runs of digits must not exceed 300")


def _out_of_range(bare: bytes) -> bool:
    folded = bare.translate(_FOLD)
    if _LONG_RUN in folded:
        return True
    if (b"e000" in folded or b"e+000" in folded) and _BIG_EXPONENT.search(bare):
        return True
    return _SUSPECTS[0] in folded and _BIG_INT.search(bare) is not None


def without_strings(body: bytes) -> bytes:
    """Valid JSON with every string (keys too) removed, quotes and all. Outside strings JSON has no backslash; inside, a
    backslash pair is one backslash and a backslash before a quote escapes it: drop those
    first, then every other quote delimits a string."""
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(body.split(b'"')[::2])


def depth(bare: bytes) -> int:
    """Nesting depth of JSON without strings (brackets are all structural)."""
    brackets = bare.translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return int(np.cumsum(_STEP[np.frombuffer(brackets, np.uint8)], dtype=np.int32).max())
