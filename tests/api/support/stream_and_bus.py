"""The change-event test's outside world (tests/api/publisher.rs), through boto3:

  stream DYNAMODB_ENDPOINT TABLE       every record of the table's stream, as Lambda's
                                       DynamoDB event shapes them (JSON list on stdout)
  bus MOTO_ENDPOINT BUS QUEUE SOURCE   on moto: the event bus BUS, the queue QUEUE and a rule
                                       on BUS sending SOURCE's events to it (prints the URL)
  drain MOTO_ENDPOINT QUEUE_URL        every message in the queue, deleted (JSON list of bodies)
  tail DYNAMODB_ENDPOINT TABLE MS      the stream's new records, polled every MS milliseconds
                                       as Lambda's event source mapping polls a shard: one JSON
                                       list per line for each poll that found any (forever)
"""

import base64
import json
import sys
import time

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


def shaped(record, arn):
    data = record["dynamodb"]
    when = data.get("ApproximateCreationDateTime")
    if when is not None:
        data["ApproximateCreationDateTime"] = int(when.timestamp())
    record["eventSourceARN"] = arn
    return plain(record)


def tail(endpoint, table, interval_ms):
    arn = client("dynamodb", endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = client("dynamodbstreams", endpoint)
    iterators = {}
    while True:
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in iterators:
                iterators[shard["ShardId"]] = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        for shard_id, iterator in list(iterators.items()):
            if iterator is None:
                continue
            page = streams.get_records(ShardIterator=iterator, Limit=100)
            iterators[shard_id] = page.get("NextShardIterator")
            if page["Records"]:
                print(json.dumps([shaped(record, arn) for record in page["Records"]]), flush=True)
        time.sleep(int(interval_ms) / 1000)


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
                records.append(shaped(record, arn))
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
    {"stream": stream, "bus": bus, "drain": drain, "tail": tail}[sys.argv[1]](*sys.argv[2:])
