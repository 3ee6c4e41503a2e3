"""The ``api_call`` stage's ``auth`` block and the credentials it makes (docs/storage-contract.md,
"Credentials")."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Dict, Mapping, MutableMapping, Optional, Union

from .errors import BasicWithoutColon, InvalidAuth, InvalidHeaderValue, ReaderError
from .names import is_header_name, is_header_value, secret_name_problem
from .values import SecretValue

TYPES = frozenset({"none", "bearer", "basic", "api_key", "custom_header"})
LOCATIONS = frozenset({"header", "query"})


class Credentials:
    """What an auth block adds to a request: ``headers`` (names as the block gave them;
    compare them case-insensitively) and ``query`` parameters, values wrapped."""

    __slots__ = ("headers", "query")

    def __init__(
        self,
        headers: Optional[Dict[str, SecretValue]] = None,
        query: Optional[Dict[str, SecretValue]] = None,
    ) -> None:
        self.headers: Dict[str, SecretValue] = dict(headers or {})
        self.query: Dict[str, SecretValue] = dict(query or {})

    def apply(self, headers: MutableMapping[str, Any], params: MutableMapping[str, Any]) -> None:
        """Write the revealed values into a request's headers and query parameters; a header
        already there under any capitalization is replaced."""
        for name, value in self.headers.items():
            for existing in [k for k in headers if isinstance(k, str) and k.lower() == name.lower()]:
                del headers[existing]
            headers[name] = value.reveal()
        for name, value in self.query.items():
            params[name] = value.reveal()

    def __repr__(self) -> str:
        return f"Credentials(headers={list(self.headers)!r}, query={list(self.query)!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class AuthPlan:
    """A valid auth block: the secret to read (None for type ``none``) and where it goes."""

    type: str
    secret_ref: Optional[str] = None
    key: Optional[str] = None
    location: str = "header"


def parse_auth(auth: object, org_id: str) -> AuthPlan:
    """The block checked in order, as the Rust reader does: an object; ``type``;
    ``secret_ref`` (unless ``none``); for ``api_key`` ``location``, then ``key`` (a header name
    for a header, any text for a query); for ``custom_header`` ``key``. A null field counts
    as missing; other fields are ignored. InvalidAuth never quotes the block."""

    def invalid(reason: str) -> InvalidAuth:
        return InvalidAuth(reason, org_id=org_id)

    if not isinstance(auth, Mapping):
        raise invalid("not_an_object")
    kind = auth.get("type")
    if kind is None:
        raise invalid("missing_type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise invalid("unknown_type")
    if kind == "none":
        return AuthPlan("none")
    secret_ref = auth.get("secret_ref")
    if secret_ref is None:
        raise invalid("missing_secret_ref")
    if secret_name_problem(secret_ref) is not None:
        raise invalid("invalid_secret_ref")
    assert isinstance(secret_ref, str)
    if kind in ("bearer", "basic"):
        return AuthPlan(kind, secret_ref, "Authorization")
    location = "header"
    if kind == "api_key":
        given = auth.get("location")
        if given is not None:
            if not isinstance(given, str) or given not in LOCATIONS:
                raise invalid("invalid_location")
            location = given
    key = auth.get("key")
    if key is None:
        raise invalid("missing_key")
    if not isinstance(key, str) or not key:
        raise invalid("invalid_key")
    if location == "header" and not is_header_name(key):
        raise invalid("invalid_key")
    return AuthPlan(kind, secret_ref, key, location)


def build(plan: AuthPlan, org_id: str, value: SecretValue) -> Credentials:
    """The credentials of a plan with its secret's value. The value is revealed only in
    _header(), which returns the error rather than raising it: no frame of the error's
    traceback holds the value (error trackers capture a traceback's locals)."""
    assert plan.key is not None and plan.secret_ref is not None
    if plan.location == "query":
        return Credentials(query={plan.key: value})
    header = _header(plan.type, value, org_id, plan.secret_ref)
    if isinstance(header, ReaderError):
        raise header
    return Credentials(headers={plan.key: header})


def _header(kind: str, value: SecretValue, org_id: str, secret: str) -> Union[SecretValue, ReaderError]:
    """The header value of a bearer, basic, api_key or custom_header plan, wrapped; or the
    error, for the caller to raise."""
    text = value.reveal()
    if kind == "bearer":
        header = "Bearer " + text
    elif kind == "basic":
        if ":" not in text:
            return BasicWithoutColon(
                "basic auth needs a value of the form user:password, and this one has no ':'",
                org_id=org_id,
                secret=secret,
            )
        header = "Basic " + base64.b64encode(text.encode("utf-8")).decode("ascii")
    else:
        header = text
    if not is_header_value(header):
        return InvalidHeaderValue(
            "the value cannot be sent in a header (printable ASCII and tab only)",
            org_id=org_id,
            secret=secret,
        )
    return SecretValue(header)
