"""The freshness measurement's reader (tests/api/reader_freshness.rs): the Python reader on
the table, kept fresh by examples/reader-cache/watch_changes.py on the queue. Prints `ready`
once it has read the secret, then, for every event it applies, a JSON line with the time it
was applied (epoch seconds) and the version the reader serves right after.

    reader_watch.py MOTO_ENDPOINT QUEUE_URL TABLE ORG NAME    (ENCRYPTION_KEY in the environment)
"""

import json
import os
import sys
import time

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "reader-cache"))
from watch_changes import watch_changes  # noqa: E402

from org_secrets_reader import SecretReader  # noqa: E402

moto, queue_url, table, org, name = sys.argv[1:6]
reader = SecretReader(table, os.environ["ENCRYPTION_KEY"])
reader.get(org, name)
print("ready", flush=True)
sqs = boto3.client(
    "sqs", endpoint_url=moto, region_name="us-east-1",
    aws_access_key_id="local", aws_secret_access_key="local",
)


def measured(event, dropped):
    served = reader.get(org, name)
    print(json.dumps({"applied_at": time.time(), "dropped": dropped, "served_version": served.version}), flush=True)


watch_changes(reader, queue_url, sqs=sqs, on_event=measured)
