"""Overlap, between processes: two `digest run` at once, and an SQS shard delivered twice to two concurrent
worker invocations while a `digest run` also works. Each process writes to its own outbox, so a digest sent
twice shows as two files, whichever process sent it; the ledger must agree with the union."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import boto3
import pytest
from moto import mock_aws

from digest import db, lambdas

from .crash_carriers import DIGEST, ROOT, count_eml
from .crash_harness import Counts, check_outboxes, ledger_rows
from .crash_population import NOW, populate
from ..support.lambda_events import FakeContext, scheduled_event, sqs_event

pytestmark = pytest.mark.slow
SUMMARY = re.compile(r"due (\d+), sent (\d+), skipped-empty (\d+), failed (\d+), in progress elsewhere (\d+)")


def env_for(db_url: str, outbox) -> dict[str, str]:
    """A `digest` environment with the production lease: only the unique claim keeps processes apart."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "AWS_", "POWERTOOLS_"))}
    return env | {"DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX_DIR": str(outbox), "DIGEST_TRANSPORT": "outbox",
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                  "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_METRICS_NAMESPACE": "JobDigestOverlap"}


def digest_run(env: dict, workers: int) -> subprocess.Popen:
    return subprocess.Popen([DIGEST, "run", "--now", NOW.isoformat(), "--workers", str(workers)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen) -> tuple[int, ...]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, (proc.returncode, out, err)
    return tuple(int(n) for n in SUMMARY.search(out).groups())


def assert_everyone_once(engine, outboxes, pop) -> None:
    counts = Counts()
    check_outboxes(engine, outboxes, pop, counts)
    assert counts.errors == []
    assert (counts.duplicated, counts.resent_identical, counts.lost) == (0, 0, 0)  # nobody twice, nobody missed
    assert {status for _s, _p, status, _m, _t in ledger_rows(engine)} == {"sent", "empty"}


@pytest.mark.parametrize("workers", [(1, 1), (2, 1)], ids=["1+1", "2+1"])
def test_two_runs_started_together_send_everyone_once(db_url, tmp_path, workers):
    pop = populate(db_url, tmp_path, 1500, seed=21)
    engine = db.make_engine(db_url)
    outboxes = [tmp_path / "outbox-a", tmp_path / "outbox-b"]
    try:
        procs = [digest_run(env_for(db_url, box), w) for box, w in zip(outboxes, workers)]
        summaries = [finished(p) for p in procs]
        assert_everyone_once(engine, outboxes, pop)
    finally:
        engine.dispose()
    # What each run says adds up to the week: every digest sent by exactly one of them.
    assert sum(s[1] for s in summaries) == len(pop.to_send)
    assert sum(s[2] for s in summaries) == len(pop.empty) and {s[3] for s in summaries} == {0}


def test_a_shard_delivered_twice_at_once_while_a_run_works_sends_everyone_once(db_url, tmp_path, monkeypatch):
    pop = populate(db_url, tmp_path, 1500, seed=22)
    env = env_for(db_url, tmp_path / "outbox-planner")
    for key in [k for k in os.environ if k.startswith(("DIGEST_", "AWS_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DIGEST_INLINE_BELOW", "0")
    monkeypatch.setenv("DIGEST_SHARD_SIZE", "200")
    with mock_aws():  # the hourly planner queues the shards
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="jobdigest-shards")["QueueUrl"]
        monkeypatch.setenv("DIGEST_QUEUE_URL", queue_url)
        lambdas.state.cache_clear()
        try:
            planned = lambdas.schedule(scheduled_event(NOW.isoformat()), FakeContext())
        finally:
            lambdas.state().engine.dispose()
            lambdas.state.cache_clear()
        bodies = []
        while got := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            bodies += [m["Body"] for m in got]
    assert planned["inline"] is False and len(bodies) == planned["shards"] >= 4
    bodies.sort(key=lambda b: json.loads(b)["lo"])
    twice = bodies[len(bodies) // 2]
    rest = [b for b in bodies if b != twice]
    # Both invocations start with the shard SQS delivered to each of them, then share out the others.
    events = [sqs_event([twice, *rest[: len(rest) // 2]], receive_count=2),
              sqs_event([twice, *rest[len(rest) // 2 :]], receive_count=2)]

    go = tmp_path / "go"
    workers = []
    for i, event in enumerate(events):
        (tmp_path / f"event-{i}.json").write_text(json.dumps(event))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.overlap_lambda", str(tmp_path / f"event-{i}.json"),
             str(tmp_path / f"answer-{i}.json"), str(tmp_path / f"ready-{i}"), str(go)],
            env=env_for(db_url, tmp_path / f"outbox-lambda-{i}"), cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        time.sleep(0.01)
    # An operator runs the week by hand; once it is sending, the two invocations start on the same shard.
    run = digest_run(env_for(db_url, tmp_path / "outbox-run"), 1)
    while run.poll() is None and count_eml(tmp_path / "outbox-run") == 0:
        time.sleep(0.002)
    assert run.poll() is None, "the run ended before the workers started"
    go.touch()
    for w in workers:
        _out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    summary = finished(run)
    answers = [json.loads((tmp_path / f"answer-{i}.json").read_text()) for i in range(2)]
    assert answers == [{"batchItemFailures": []}] * 2

    engine = db.make_engine(db_url)
    try:
        outboxes = [tmp_path / "outbox-run", tmp_path / "outbox-lambda-0", tmp_path / "outbox-lambda-1"]
        assert_everyone_once(engine, outboxes, pop)
    finally:
        engine.dispose()
    assert summary[3] == 0
