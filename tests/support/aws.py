"""moto-backed AWS: the environment the Lambda handlers read with an SQS queue, and SES with example.com verified."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from digest import lambdas
from digest.carriers.ses import CLIENT_CONFIG

from .lambda_events import REGION
from .sns import TOPIC, signer


@pytest.fixture
def aws(monkeypatch, db_url, tmp_path):
    """The environment the Lambda handlers read, with moto's SQS shard queue; yields the SQS client and queue URL."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "JobDigestTest")
    monkeypatch.setenv("DIGEST_DATABASE_URL", db_url)
    monkeypatch.setenv("DIGEST_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.delenv("DIGEST_SSM_PREFIX", raising=False)
    with mock_aws():
        queue_url = boto3.client("sqs").create_queue(QueueName="jobdigest-shards")["QueueUrl"]
        monkeypatch.setenv("DIGEST_QUEUE_URL", queue_url)
        lambdas.state.cache_clear()
        yield boto3.client("sqs"), queue_url
        lambdas.state.cache_clear()


def believe_sns(monkeypatch, topic: str = TOPIC) -> None:
    """The deployed function's settings: our topic (as serverless.yml passes it) and the test's certificate."""
    monkeypatch.setenv("DIGEST_SNS_TOPIC_ARN", topic)
    st = lambdas.state()
    st.settings = st.settings.with_(sns_cert_fetcher=signer().fetch)


ENDPOINT = f"https://email.{REGION}.amazonaws.com"


@pytest.fixture
def ses_client(monkeypatch):
    """moto's SES with the example.com domain and the configuration set verified; yields a client."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("sesv2", region_name=REGION, config=CLIENT_CONFIG)
        client.create_email_identity(EmailIdentity="example.com")
        client.create_configuration_set(ConfigurationSetName="digest-events")
        yield client


class FakeTime:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
