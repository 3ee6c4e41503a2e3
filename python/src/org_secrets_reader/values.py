"""What a read returns: values that stay wrapped until a caller reveals them."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Optional

REDACTED = "**********"


class SecretValue:
    """A secret string. ``repr``, ``str`` and formatting show only a placeholder; ``reveal()``
    returns the text. Equality compares in constant time; it is not hashable."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("SecretValue wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue('{REDACTED}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other._value.encode("utf-8"))

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Secret:
    """One secret as read: ``value``; ``stale`` when it was served from the cache because the
    store is unavailable, with ``age_seconds`` since it was read from the store; ``version``,
    the item's version (``None`` on an item not changed since versions were introduced)."""

    value: SecretValue
    stale: bool
    age_seconds: float
    version: Optional[int]
