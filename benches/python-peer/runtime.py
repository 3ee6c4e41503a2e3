"""A minimal Lambda Runtime API client for the Python peer (what Lambda's Python runtime does
around a handler): import the handler module (init), then poll /next, call the handler and
post its answer, forever. Standard library only."""

import http.client
import json
import os
import sys

API = "/2018-06-01/runtime"
host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
connection = http.client.HTTPConnection(host, int(port))


def call(method, path, body=None):
    connection.request(method, path, body=body, headers={"content-type": "application/json"})
    response = connection.getresponse()
    return response, response.read()


def error(exc):
    return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})


class Context:
    def __init__(self, request_id):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "python-peer")


try:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import app  # noqa: E402  (init: imports, boto3 client, warm-up call)
except Exception as exc:  # an init error is reported, as Lambda's runtime does
    call("POST", f"{API}/init/error", error(exc))
    sys.exit(1)

while True:
    response, body = call("GET", f"{API}/invocation/next")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    try:
        result = app.handler(json.loads(body), Context(request_id))
        call("POST", f"{API}/invocation/{request_id}/response", json.dumps(result, separators=(",", ":")))
    except Exception as exc:
        call("POST", f"{API}/invocation/{request_id}/error", error(exc))
