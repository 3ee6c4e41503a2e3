"""Change events (docs/operations.md, "Change events"), as a rule's SQS target receives them:
the EventBridge envelope, whose ``detail`` names the organization, the secret and its version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Union

from .errors import InvalidEvent
from .names import org_id_problem, secret_name_problem

# The changes of the live secret; the expiries of recovery copies change nothing cached.
LIVE_CHANGES = frozenset(
    {
        "Secret Created",
        "Secret Updated",
        "Secret Deleted",
        "Secret Restored",
        "Secret Previous Value Restored",
    }
)
MAX_VERSION = 2**64 - 1  # what the Rust reader accepts (u64); the function writes up to 2^63 - 1


@dataclass(frozen=True)
class ChangeEvent:
    detail_type: str
    org_id: str
    name: str
    version: int

    @property
    def changes_live_secret(self) -> bool:
        return self.detail_type in LIVE_CHANGES


def parse_event(event: Union[Mapping[str, Any], str, bytes]) -> ChangeEvent:
    """The event (a dict, or its JSON); InvalidEvent says what is missing, never quoting it."""
    if isinstance(event, (bytes, bytearray)):
        try:
            event = bytes(event).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEvent("the event is not UTF-8") from None
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except ValueError:
            raise InvalidEvent("the event is not JSON") from None
        except RecursionError:  # nested deeper than the interpreter's recursion limit
            raise InvalidEvent("the event is nested too deeply") from None
    if not isinstance(event, Mapping):
        raise InvalidEvent("the event is not an object")
    detail_type = event.get("detail-type")
    if not isinstance(detail_type, str):
        raise InvalidEvent("detail-type is missing or not a string")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEvent("detail is missing or not an object")
    org_id = detail.get("organization")
    if not isinstance(org_id, str) or org_id_problem(org_id) is not None:
        raise InvalidEvent("detail.organization is missing or not an organization id")
    name = detail.get("name")
    if not isinstance(name, str) or secret_name_problem(name) is not None:
        raise InvalidEvent("detail.name is missing or not a secret name")
    version = detail.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidEvent("detail.version is missing or not a whole number from 1")
    return ChangeEvent(detail_type, org_id, name, version)
