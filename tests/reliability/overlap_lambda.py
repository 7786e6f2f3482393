"""One SQS worker invocation in its own process, as a second Lambda container would run it.

    python -m tests.reliability.overlap_lambda EVENT.json ANSWER.json READY GO

Builds the worker's state (settings, engine) first, then touches READY and waits for GO to exist, so the test
can start several invocations and a `digest run` at the same moment; writes the handler's answer to ANSWER.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.support.lambda_events import FakeContext


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
