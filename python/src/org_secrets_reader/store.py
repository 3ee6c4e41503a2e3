"""Reading items from the table with the low-level DynamoDB client, and what its failures mean:
``unavailable`` (the store could not be reached, after the SDK's retries) or ``storage``."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .crypto import Item
from .errors import ReaderError, StorageError, Unavailable

BATCH_LIMIT = 100  # keys per BatchGetItem: DynamoDB's limit
# UnprocessedKeys (throttling, the 16 MB response limit) are sent again up to this many
# times, after 20, 40, ... 640 ms (1.3 s in all, as the Rust reader); what is still
# unprocessed then is unavailable.
MAX_RESENDS = 6
FIRST_PAUSE = 0.02
_sleep: Callable[[float], None] = time.sleep  # tests replace it

# The error codes that are unavailability, exactly the Rust reader's (src/storage/error.rs,
# RETRYABLE_CODES); besides them any HTTP 5xx, timeouts and connection failures are.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)

Outcome = Union[Optional[Item], ReaderError]  # the item, None when there is none, or why not


def failure(error: Exception, org_id: str, name: str) -> ReaderError:
    """What an SDK exception means for the read of org_id/name; other exceptions re-raised."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        cause = code or f"HTTP {status}"
        if code in THROTTLING_CODES or (isinstance(status, int) and 500 <= status <= 599):
            return Unavailable(cause, org_id=org_id, secret=name)
        return StorageError(cause, org_id=org_id, secret=name)
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return Unavailable(type(error).__name__, org_id=org_id, secret=name)
    if isinstance(error, BotoCoreError):
        return StorageError(type(error).__name__, org_id=org_id, secret=name)
    raise error


def _key(org_id: str, name: str) -> Dict[str, Dict[str, str]]:
    return {"org_id": {"S": org_id}, "secret_name": {"S": name}}


class Store:
    """The table, through a boto3 DynamoDB client (thread-safe, as boto3 clients are)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def get(self, org_id: str, name: str) -> Outcome:
        """The live item by its key, strongly consistent."""
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key=_key(org_id, name), ConsistentRead=True
            )
        except Exception as error:  # noqa: BLE001 - classified, or re-raised by failure()
            return failure(error, org_id, name)
        item: Optional[Item] = response.get("Item")
        return item

    def get_many(self, org_id: str, names: Sequence[str]) -> Dict[str, Outcome]:
        """Each name's item (or None, or its failure): one consistent BatchGetItem per 100
        distinct names, unprocessed keys sent again with backoff; a read of one name (one
        name asked for, or one left over after the hundreds) is a consistent GetItem, as in
        the Rust reader."""
        outcomes: Dict[str, Outcome] = {}
        for start in range(0, len(names), BATCH_LIMIT):
            chunk = list(names[start : start + BATCH_LIMIT])
            if len(chunk) == 1:
                outcomes[chunk[0]] = self.get(org_id, chunk[0])
            else:
                self._get_batch(org_id, chunk, outcomes)
        return outcomes

    def _get_batch(self, org_id: str, names: List[str], outcomes: Dict[str, Outcome]) -> None:
        pending = names
        resends = 0
        while True:
            try:
                response = self.client.batch_get_item(
                    RequestItems={
                        self.table_name: {
                            "Keys": [_key(org_id, name) for name in pending],
                            "ConsistentRead": True,
                        }
                    }
                )
            except Exception as error:  # noqa: BLE001 - classified, or re-raised by failure()
                for name in pending:
                    outcomes[name] = failure(error, org_id, name)
                return
            found: Dict[str, Item] = {}
            for item in response.get("Responses", {}).get(self.table_name, []):
                found[item["secret_name"]["S"]] = item
            unprocessed = {
                key["secret_name"]["S"]
                for key in response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
            }
            for name in pending:
                if name not in unprocessed:
                    outcomes[name] = found.get(name)
            pending = [name for name in pending if name in unprocessed]
            if not pending:
                return
            if resends == MAX_RESENDS:
                for name in pending:
                    outcomes[name] = Unavailable("UnprocessedKeys", org_id=org_id, secret=name)
                return
            _sleep(FIRST_PAUSE * 2**resends)
            resends += 1
