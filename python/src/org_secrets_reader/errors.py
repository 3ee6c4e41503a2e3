"""The errors of a read, one class per kind of the storage contract.

A message names the organization and secret and the kind, and says what is wrong in words of
its own: never a value, a token, or text from a template or auth block (a template can hold
other secrets pasted in by users), which is why parser errors give a position instead.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Tuple, Type


class ReaderError(Exception):
    """A read (or what is built from one) failed. ``kind`` is the contract's name for it;
    ``org_id`` and ``secret`` name what was read, when known."""

    kind: ClassVar[str] = "error"

    def __init__(
        self, detail: str, *, org_id: Optional[str] = None, secret: Optional[str] = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.org_id = org_id
        self.secret = secret

    def __str__(self) -> str:
        if self.org_id is not None and self.secret is not None:
            where = f"{self.org_id}/{self.secret}: "
        elif self.org_id is not None:
            where = f"{self.org_id}: "
        else:
            where = ""
        return f"{where}{self.detail} ({self.kind})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...], Dict[str, Any]]:
        # Keyword-only arguments: rebuild from the attributes, so that pickling (and copy)
        # works, as for a plain exception.
        return (_rebuild, (type(self),), dict(self.__dict__))


def _rebuild(cls: Type[ReaderError]) -> ReaderError:
    return cls.__new__(cls)


class NotFound(ReaderError):
    kind = "not_found"


class NotBound(ReaderError):
    kind = "not_bound"


class Undecryptable(ReaderError):
    kind = "undecryptable"


class Malformed(ReaderError):
    kind = "malformed"


class Unavailable(ReaderError):
    """The store could not be reached (connection, timeout, throttling, 5xx). ``cause`` is
    the SDK's name for it (an exception class or an error code)."""

    kind = "unavailable"

    def __init__(self, cause: str, *, org_id: Optional[str] = None, secret: Optional[str] = None) -> None:
        super().__init__(f"the store is unavailable ({cause})", org_id=org_id, secret=secret)
        self.cause = cause


class StorageError(ReaderError):
    """The store answered with an error that retrying will not cure (access denied, no such
    table, ...). ``cause`` as for :class:`Unavailable`."""

    kind = "storage"

    def __init__(self, cause: str, *, org_id: Optional[str] = None, secret: Optional[str] = None) -> None:
        super().__init__(f"the store refused the read ({cause})", org_id=org_id, secret=secret)
        self.cause = cause


class InvalidAuth(ReaderError):
    """The auth block is malformed; ``reason`` says how (``missing_secret_ref``, ...)."""

    kind = "invalid_auth"

    def __init__(self, reason: str, *, org_id: Optional[str] = None) -> None:
        super().__init__(f"the auth block is invalid: {reason}", org_id=org_id)
        self.reason = reason


class BasicWithoutColon(ReaderError):
    kind = "basic_without_colon"


class InvalidHeaderValue(ReaderError):
    kind = "invalid_header_value"


class InvalidReference(ReaderError):
    """A ``{{SECRET.…}}`` reference that cannot be read; ``position`` is where its ``{{``
    starts in its string, in characters from 0 (never the text itself)."""

    kind = "invalid_reference"

    def __init__(self, detail: str, *, position: int, org_id: Optional[str] = None) -> None:
        super().__init__(detail, org_id=org_id)
        self.position = position


class InvalidEvent(ReaderError):
    kind = "invalid_event"
