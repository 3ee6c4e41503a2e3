"""Keep a reader's cache fresh with the change events: a thread that long-polls the queue the
events-consumer stack's rule fills (examples/events-consumer, with the live-change kinds) and
hands each event to the reader, which drops a cached value the change made out of date. The
next get() then reads the new value: about a second after the change (docs/benchmarks.md,
"The readers"), instead of up to the cache's TTL.

    from org_secrets_reader import SecretReader
    from watch_changes import start_watching

    reader = SecretReader.from_env()
    start_watching(reader, os.environ["CHANGE_EVENTS_QUEUE_URL"])

Events carry names and versions, never values, and a forged one can only cause a read. An
event is delivered at least once and possibly out of order: the reader ignores one no newer
than what it holds. If the thread stops, the TTL still bounds how stale a value can be.
"""

import json
import logging
import threading
from typing import Any, Callable, Dict, Optional

from org_secrets_reader import InvalidEvent, SecretReader

LOGGER = logging.getLogger("org_secrets_reader.watch_changes")
# What reading a body that is no change event raises, for any reason: not JSON (ValueError),
# nested past the recursion limit (RecursionError), not text at all (TypeError), or JSON that
# is not a change event (InvalidEvent). Such a message never will be one: it is deleted.
NOT_A_CHANGE_EVENT = (InvalidEvent, ValueError, RecursionError, TypeError)


def watch_changes(
    reader: SecretReader,
    queue_url: str,
    *,
    sqs: Any = None,
    stop: Optional[threading.Event] = None,
    on_event: Optional[Callable[[dict, bool], None]] = None,
) -> None:
    """Applies every event the queue delivers to ``reader`` until ``stop`` is set; each one
    is deleted from the queue once applied. ``on_event(event, dropped)`` is called after each
    (the freshness benchmark uses it). A message whose body is not a change event is
    logged by the exception's class and deleted; one whose handling fails otherwise (its
    deletion, the callback, anything) is logged by the exception's class only and left in
    the queue, and the loop goes on."""
    if sqs is None:
        import boto3

        sqs = boto3.client("sqs")
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=20
            ).get("Messages", [])
        except Exception as error:  # the queue is unreachable: the TTL still bounds staleness
            LOGGER.warning("change events: cannot receive (%s); retrying", type(error).__name__)
            stop.wait(1.0)
            continue
        for message in messages:
            try:
                _handle(reader, queue_url, sqs, message, on_event)
            except Exception as error:  # noqa: BLE001 - one message never stops the thread
                # Only the class: an exception's text can quote the body or the response.
                # A message not deleted comes back after the queue's visibility timeout.
                LOGGER.warning("change events: a message failed (%s); continuing", type(error).__name__)


def _handle(
    reader: SecretReader,
    queue_url: str,
    sqs: Any,
    message: Dict[str, Any],
    on_event: Optional[Callable[[Dict[str, Any], bool], None]],
) -> None:
    """Applies one message's event, then deletes the message (also one that is not a change
    event, for whatever reason its body does not parse as one: it never will be)."""
    body = message["Body"]  # no body: not a message at all, a failure (the message stays)
    event: Optional[Dict[str, Any]] = None
    dropped = False
    try:
        parsed = json.loads(body)
        dropped = reader.apply_change_event(parsed)
        event = parsed
    except NOT_A_CHANGE_EVENT as error:
        # Never the body, nor the error's text (which can quote it): only the class.
        LOGGER.warning(
            "change events: a message that is not a change event (%s), deleted", type(error).__name__
        )
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    if on_event is not None and event is not None:
        on_event(event, dropped)


def start_watching(reader: SecretReader, queue_url: str, **options: Any) -> threading.Thread:
    """watch_changes() on a daemon thread, started."""
    thread = threading.Thread(
        target=watch_changes, args=(reader, queue_url), kwargs=options, daemon=True,
        name="org-secrets-change-events",
    )
    thread.start()
    return thread
