"""Lambda invocation inputs as AWS delivers them: a context, an EventBridge schedule tick, an SQS batch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

REGION = "us-east-1"


@dataclass
class FakeContext:
    function_name: str = "jobdigest-ci-worker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:jobdigest-ci-worker"
    aws_request_id: str = "0b5a1c3e-6f0e-4a44-9a3a-1f7b9f3c2d10"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def scheduled_event(time: str) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": time, "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/jobdigest-ci-schedule"], "detail": {}}


def sqs_event(bodies: list[str], receive_count: int = 1) -> dict:
    """An SQS batch; a body repeated in another event (receive count > 1) is SQS's at-least-once delivery."""
    return {"Records": [
        {"messageId": str(uuid.uuid4()), "receiptHandle": "AQEB" + uuid.uuid4().hex, "body": body,
         "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1795424400000",
                        "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795424400001"},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
         "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:jobdigest-shards", "awsRegion": REGION}
        for body in bodies
    ]}


def s3_event(bucket: str, key: str) -> dict:
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION, "eventTime": "2026-11-23T08:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "incoming-listings",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key, "size": 1024, "eTag": "0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901"}},
    }]}
