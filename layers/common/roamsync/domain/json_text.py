"""Reading JSON text that may be hostile: from Roamify, or from a client of the API.

`json.loads` alone fails in ways a caller does not expect of "bad input": a 5,000-digit integer raises
ValueError only past Python's int-conversion limit, deep nesting raises RecursionError, `1e999` turns
into an infinite float and `NaN` is accepted. Here numbers become `Decimal` only where a float or a
huge int would lose or break them, non-finite constants become non-finite Decimals that range checks
reject, and anything unreadable is one exception type.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

# Integers longer than this are kept as Decimal: int() refuses more than 4,300 digits by default,
# and no field roamsync reads is anywhere near this long.
MAX_INT_DIGITS = 100


class UnreadableJson(ValueError):
    """The text is not JSON roamsync can read (syntax, encoding, nesting depth)."""


# A literal whose magnitude is beyond 10**MAX_EXPONENT is read as an infinity of its sign: no field
# holds such a number, and turning `1e10000000` (14 bytes) into an int would take minutes of CPU.
MAX_EXPONENT = 400


def _beyond_range(value: Decimal) -> Decimal:
    if value.is_finite() and value and value.adjusted() > MAX_EXPONENT:
        return Decimal("-Infinity") if value.is_signed() else Decimal("Infinity")
    return value


def _int(text: str) -> int | Decimal:
    return int(text) if len(text) <= MAX_INT_DIGITS else _beyond_range(Decimal(text))


def _float(text: str) -> float | Decimal:
    value = float(text)
    # 1e999 overflows to inf and 1e-999 underflows to 0.0: keep such literals as Decimals instead.
    if value in (float("inf"), float("-inf")) or (value == 0.0 and any(c in "123456789" for c in text)):
        return _beyond_range(Decimal(text))
    return value


def _refuse_constant(name: str) -> Decimal:
    raise UnreadableJson(f"{name} is not a JSON value")


def _constant(name: str) -> Decimal:
    # NaN, Infinity, -Infinity are not JSON; kept as non-finite Decimals so a range check rejects them.
    try:
        return Decimal(name)
    except InvalidOperation:
        raise UnreadableJson(f"unknown constant {name!r}") from None


def parse_json(text: bytes | str, *, constants: bool = True) -> Any:
    """The value `text` holds. Raises UnreadableJson for anything that is not readable JSON.

    `constants=False` refuses NaN, Infinity and -Infinity too (they are not JSON; a client sending
    them sent malformed JSON), where by default they become non-finite Decimals.
    """
    constant = _constant if constants else _refuse_constant
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=constant)
    except UnreadableJson:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError, TypeError) as exc:
        raise UnreadableJson(f"unreadable JSON: {type(exc).__name__}: {str(exc)[:120]}") from None
