"""The change-event test's outside world (tests/api/publisher.rs), through boto3:

  stream DYNAMODB_ENDPOINT TABLE       every record of the table's stream, as Lambda's
                                       DynamoDB event shapes them (JSON list on stdout)
  bus MOTO_ENDPOINT BUS QUEUE SOURCE   on moto: the event bus BUS, the queue QUEUE and a rule
                                       on BUS sending SOURCE's events to it (prints the URL)
  drain MOTO_ENDPOINT QUEUE_URL        every message in the queue, deleted (JSON list of bodies)
"""

import base64
import json
import sys

import boto3


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def plain(value):
    """DynamoDB JSON as Lambda delivers it: binary as base64, sets as lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def stream(endpoint, table):
    arn = client("dynamodb", endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = client("dynamodbstreams", endpoint)
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                data = record["dynamodb"]
                when = data.get("ApproximateCreationDateTime")
                if when is not None:
                    data["ApproximateCreationDateTime"] = int(when.timestamp())
                record["eventSourceARN"] = arn
                records.append(plain(record))
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    records.sort(key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
    json.dump(records, sys.stdout)


def bus(endpoint, name, queue, source):
    events = client("events", endpoint)
    sqs = client("sqs", endpoint)
    events.create_event_bus(Name=name)
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-changes", EventBusName=name, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule="all-changes", EventBusName=name, Targets=[{"Id": "queue", "Arn": arn}])
    print(url)


def drain(endpoint, url):
    sqs = client("sqs", endpoint)
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    json.dump(bodies, sys.stdout)


if __name__ == "__main__":
    {"stream": stream, "bus": bus, "drain": drain}[sys.argv[1]](*sys.argv[2:])
