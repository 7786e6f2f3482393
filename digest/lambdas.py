"""AWS Lambda entry points: thin adapters from events to the engine's functions.

schedule        EventBridge, hourly: plan the run, send inline or enqueue shards on SQS
worker          SQS: send one shard per message, partial batch failures reported
ses_events      SNS: SES bounce and complaint notifications → suppression (signed, our topic, our mail only)
import_listings S3: a listings file dropped under incoming/ → import, report written beside it
test_send       operator invoke: {"subscriber": EMAIL, "to": ADDRESS}
page_mail       SQS: the mail a subscriber page asked for (sign-up, renewal, /manage), sent after its answer
(the web app's handler is subscribers.lambda_handler.handler)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event

from .aws_settings import FanoutSettings, lambda_settings
from .errors import DigestError, InputError
from .fanout import ShardMessage, dispatch, send_shard
from .run import Summary
from .runtime import Runtime
from .subscribers import counts

if TYPE_CHECKING:
    from .sns_verify import Verifier

logger = Logger(service="jobdigest")
metrics = Metrics(namespace="JobDigest", service="jobdigest")
REPORT_SUFFIX = ".report.json"


class LambdaRuntime(Runtime):
    """The container's runtime: settings from the environment and Parameter Store; the SNS verifier built when
    the feedback function first runs (it keeps the signing certificates it fetches for the container's life)."""

    @cached_property
    def sns(self) -> Verifier:
        from .sns_verify import Verifier, fetch_certificate

        return Verifier(self.settings.sns_topic_arn, self.settings.sns_cert_fetcher or fetch_certificate)


@lru_cache(maxsize=1)
def state() -> LambdaRuntime:
    """What every function needs, built once per container: settings, engine and taxonomy at cold start; the
    carrier when a function first sends."""
    return LambdaRuntime(lambda_settings()).prepare("engine", "taxonomy")


def _record_summary(what: str, summary: Summary, started: float, **extra: Any) -> dict:
    """One JSON log line and the metrics for a run or a shard."""
    data = {"due": summary.due, "sent": summary.sent, "skipped_empty": summary.skipped_empty,
            "failed": summary.failed, "failed_rejected": summary.failed_rejected,
            "failed_throttled": summary.failed_throttled, "failed_unavailable": summary.failed_unavailable,
            "in_progress_elsewhere": summary.in_progress_elsewhere, "stopped": summary.stopped, "guard": summary.guard,
            "duration_s": round(time.monotonic() - started, 3)} | extra
    logger.info(f"{what} summary", extra={"summary": data})
    for name, value in (("Sent", summary.sent), ("Failed", summary.failed), ("SkippedEmpty", summary.skipped_empty),
                        ("FailedRejected", summary.failed_rejected), ("FailedThrottled", summary.failed_throttled),
                        ("FailedUnavailable", summary.failed_unavailable)):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if summary.stopped:
        metrics.add_metric(name="RunStopped", unit=MetricUnit.Count, value=1)
    if summary.guard:
        _guarded(summary.guard)
    return data


def _guarded(line: str) -> None:
    """The reputation guard stopped a run: an ERROR line and the metric GuardStoppedAlarm watches."""
    logger.error("run stopped by the reputation guard", extra={"guard": line})
    metrics.add_metric(name="GuardStopped", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
def schedule(event: dict, context: Any) -> dict:
    """Hourly: plan who is due at the scheduled time and send them inline or through the queue."""
    rt, started = state(), time.monotonic()
    now = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time") else rt.clock()
    fanout = FanoutSettings.from_env()
    import boto3

    result = dispatch(
        rt.settings, rt.engine, now, sqs=boto3.client("sqs"), queue_url=fanout.queue_url,
        shard_size=fanout.shard_size, inline_below=fanout.inline_below,
        transport=lambda: rt.transport, clock=rt.clock, trigger="schedule",
    )
    with rt.session() as s:
        suppressed = counts(s).get("suppressed", 0)  # left out of every run: their address bounced or complained
    _stranded_page_mail(rt)
    rates = result.rates.as_dict()
    # The last 7 days' rates, each hour, in percent: the dashboard's view of what SES holds the account to.
    metrics.add_metric(name="BounceRate", unit=MetricUnit.Percent, value=round(100 * result.rates.bounce_rate, 4))
    metrics.add_metric(name="ComplaintRate", unit=MetricUnit.Percent, value=round(100 * result.rates.complaint_rate, 4))
    if result.inline is not None:
        return _record_summary("run", result.inline, started, run_id=result.run_id, inline=True, suppressed=suppressed,
                               rates=rates)
    if result.guard:
        _guarded(result.guard)
    metrics.add_metric(name="ShardsQueued", unit=MetricUnit.Count, value=result.shards)
    data = {"run_id": result.run_id, "subscribers": result.subscribers, "shards": result.shards, "inline": False,
            "suppressed": suppressed, "guard": result.guard, "rates": rates}
    logger.info("run dispatched", extra={"summary": data})
    return data


@metrics.log_metrics
@logger.inject_lambda_context
def worker(event: dict, context: Any) -> dict:
    """SQS: one shard per message; a message that raises is reported failed and comes back (then DLQ)."""
    rt = state()

    def handle(record) -> None:
        started = time.monotonic()
        message = ShardMessage.from_json(record.body)
        summary = send_shard(rt.settings, rt.engine, message, rt.transport, rt.clock, trigger="worker")
        _record_summary("shard", summary, started, run_id=message.run_id, lo=message.lo, hi=message.hi)

    return process_partial_response(event=event, record_handler=handle, processor=BatchProcessor(EventType.SQS),
                                    context=context)


@metrics.log_metrics
@logger.inject_lambda_context
def import_listings(event: dict, context: Any) -> dict:
    """S3: import each uploaded listings file and write `<key>.report.json` beside it."""
    import boto3

    rt, s3, reports = state(), boto3.client("s3"), []
    for record in S3Event(event).records if "Records" in event else ():
        bucket, key = record.s3.bucket.name, unquote_plus(record.s3.get_object.key)
        if key.endswith(REPORT_SUFFIX):
            continue  # our own output: never import it
        body = _import_one(s3, bucket, key, rt)
        s3.put_object(Bucket=bucket, Key=key + REPORT_SUFFIX, Body=json.dumps(body, indent=2).encode(),
                      ContentType="application/json")
        if "error" in body:
            # A file that cannot be read at all is the same file on every retry: the report says why, the
            # ListingFilesRefused metric raises the alarm, and nothing is retried into the failed-events queue.
            logger.error("listings file refused", extra={"file": key, "reason": body["error"]})
            metrics.add_metric(name="ListingFilesRefused", unit=MetricUnit.Count, value=1)
            reports.append(body)
            continue
        metrics.add_metric(name="ListingsImported", unit=MetricUnit.Count, value=body["imported"])
        metrics.add_metric(name="ListingsRejected", unit=MetricUnit.Count, value=len(body["rejected"]))
        logger.info("listings imported", extra={"report": {k: v for k, v in body.items() if k not in ("rejected", "warnings")}})
        reports.append(body)
    return {"reports": reports}


def _import_one(s3: Any, bucket: str, key: str, rt: Runtime) -> dict:
    from .listings import import_listings as run_import

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, PurePosixPath(key).name)
        s3.download_file(bucket, key, path)
        with rt.session() as s:
            try:
                report = run_import(s, path, rt.taxonomy, rt.clock(), clock=rt.clock)
            except InputError as e:  # a file we cannot read at all (type, encoding) still gets a report
                # The message names the temporary copy; the operator knows the file by its key.
                return {"file": key, "error": str(e).replace(path, key), "imported": 0, "rejected": [],
                        "warnings": []}
    return {"file": key, "imported": report.imported, "inserted": report.inserted, "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": [{"line": r.line, "id": r.key, "reason": r.reason} for r in report.rejected],
            "warnings": [{"line": w.line, "id": w.key, "reason": w.reason} for w in report.warnings]}


@metrics.log_metrics
@logger.inject_lambda_context
def ses_events(event: dict, context: Any) -> dict:
    """SNS: SES bounce, complaint and delivery notifications. A message that is not signed by SNS for the configured
    topic, or not about a mail this service sent to that address, is logged and dropped: never raised, so SNS does
    not retry it into the failed-events queue."""
    from dataclasses import asdict

    from .feedback import apply_events, parse_sns_event

    rt = state()
    if not rt.settings.sns_topic_arn:
        logger.error("DIGEST_SNS_TOPIC_ARN is not set: every SNS message is dropped")
    with rt.session() as s, s.begin():
        report = apply_events(s, parse_sns_event(event, verify=rt.sns.verify), rt.clock(),
                              key=rt.settings.secret_keys[0])
    data = asdict(report)
    data["skipped"] = len(report.skipped)
    for name, value in (("Suppressed", report.suppressed), ("Unsubscribed", report.unsubscribed),
                        ("TransientBounces", report.transient_counted), ("FeedbackRefused", report.refused),
                        ("FeedbackNotOurs", report.not_ours)):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info("ses feedback", extra={"report": data})
    return data


@logger.inject_lambda_context
def test_send(event: dict, context: Any) -> dict:
    """Operators: send one subscriber's digest to an address, with [TEST] in the subject.

    Event: {"subscriber": EMAIL, "to": ADDRESS, "now": optional ISO 8601 time, as `digest test-send --now`}.
    """
    from .preview import test_send as send_test

    rt = state()
    now = datetime.fromisoformat(event["now"].replace("Z", "+00:00")) if event.get("now") else rt.clock()
    try:
        with rt.session() as s:
            p, sent_id = send_test(s, rt.settings, rt.taxonomy, rt.transport, str(event["subscriber"]),
                                   str(event["to"]), now)
    except DigestError as e:
        # The operator's answer names the address; raising would put it in the function's logs as well.
        return {"error": str(e)}
    return {"subscriber_id": str(p.subscriber_id), "to": p.message.to, "listings": len(p.match.listings),
            "message_id": sent_id, "period": p.slot.period}


@metrics.log_metrics
@logger.inject_lambda_context
def page_mail(event: dict, context: Any) -> dict:
    """SQS: the mail a subscriber page asked for (sign-up, renewal, /manage), after its answer."""
    rt = state()

    def handle(record) -> None:
        _handle_page_mail(rt, int(json.loads(record.body)["mail_request"]))

    return process_partial_response(event=event, record_handler=handle, processor=BatchProcessor(EventType.SQS),
                                    context=context)


def _handle_page_mail(rt: Runtime, request_id: int) -> str:
    """Handle one stored page-mail request; a refusal by the hourly budget is a metric the alarm watches."""
    from .page_mail import handle

    with rt.session() as s:
        outcome = handle(s, rt.settings, rt.taxonomy, rt.transport, request_id, rt.clock)
    logger.info("page mail", extra={"request": outcome.kind, "result": outcome.result})
    if outcome.result == "sent":
        metrics.add_metric(name="PageMailSent", unit=MetricUnit.Count, value=1)
    elif outcome.result == "over-budget":
        metrics.add_metric(name="PageMailOverBudget", unit=MetricUnit.Count, value=1)
    return outcome.result


def _stranded_page_mail(rt: Runtime) -> int:
    """Page mail whose wake-up never reached the queue (the request is stored first): the planner sends it."""
    from .page_mail import STRANDED, waiting

    with rt.session() as s:
        ids = waiting(s, older_than=rt.clock() - STRANDED)
    for request_id in ids:
        _handle_page_mail(rt, request_id)
    return len(ids)
