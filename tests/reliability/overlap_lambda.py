"""One SQS worker invocation in its own process, as a second Lambda container would run it.

    python -m tests.reliability.overlap_lambda EVENT.json ANSWER.json READY GO

Builds the worker's state (settings, engine) first, then touches READY and waits for GO to exist, so the test
can start several invocations and a `digest run` at the same moment; writes the handler's answer to ANSWER.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"


@dataclass
class FakeContext:
    function_name: str = "jobdigest-overlap-worker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:jobdigest-overlap-worker"
    aws_request_id: str = "5f0c1a8e-2b7d-4c1e-9d3a-7e6b8f9a0c21"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def scheduled_event(time_: str) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": time_, "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/jobdigest-overlap-schedule"], "detail": {}}


def sqs_event(bodies: list[str]) -> dict:
    """An SQS event as Lambda delivers it; a body repeated in another event is SQS's at-least-once delivery."""
    return {"Records": [
        {"messageId": str(uuid.uuid4()), "receiptHandle": "AQEB" + uuid.uuid4().hex, "body": body,
         "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1795424400000",
                        "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795424400001"},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
         "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:jobdigest-shards", "awsRegion": REGION}
        for body in bodies
    ]}


def main(event_path: str, answer_path: str, ready: str, go: str) -> None:
    from digest import lambdas

    lambdas.state()  # cold start before the signal: the invocations should overlap in their work
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.002)
    answer = lambdas.worker(json.loads(Path(event_path).read_text()), FakeContext())
    Path(answer_path).write_text(json.dumps(answer))


if __name__ == "__main__":
    main(*sys.argv[1:5])
