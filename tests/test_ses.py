"""The SES transport against moto: the real weekly run, the raw bytes SES took, pacing, and each refusal."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.ses.models import SESBackend, ses_backends
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import ConfigError
from digest.models import Delivery
from digest.run import run
from digest.settings import DEV_SECRET_KEY, Settings
from digest.carriers.ses import (
    RateLimiter,
    RetryPolicy,
    classify,
    make_ses_transport,
    ses_tags,
    shared_limiter,
)
from digest.carriers.base import TransportError
from digest.carriers.choose import make_transport
from digest.carriers.outbox import OutboxTransport

from .conftest import NOW, listing
from .support.aws import ENDPOINT, FakeTime

REGION = "us-east-1"
HEADERS_ONCE = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe",
                "List-Unsubscribe-Post", "List-Id")
STRICT = email.policy.default.clone(raise_on_defect=True)


SES = dict(transport="ses", secret_keys=("k1",), base_url="https://subs.example.com", ses_rate=1000.0,
           ses_region=REGION, ses_configuration_set="digest-events")


@pytest.fixture
def ses_settings(settings) -> Settings:
    return settings.with_(**SES)


def accepted() -> list[tuple[str, str, email.message.EmailMessage]]:
    """What moto's SES accepted: (MessageId, raw text, parsed message), in order."""
    return [(m.id, m.raw_data, email.message_from_string(m.raw_data, policy=STRICT))
            for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages]


def accepted_to() -> list[str]:
    return [msg["To"].addresses[0].addr_spec for _id, _raw, msg in accepted()]


def ledger(engine) -> dict[int, tuple[str, str | None]]:
    with Session(engine) as s:
        return {d.subscriber_id: (d.status, d.transport_id) for d in s.scalars(select(Delivery))}


class Faults:
    """moto's SES backend refusing on demand: `rule(n, to)` gives (code, message, HTTP status) or None."""

    def __init__(self, rule=None):
        self.rule = rule
        self.calls: list[str] = []

    def install(self, monkeypatch):
        original = SESBackend.send_raw_email

        def send_raw_email(backend, source, destinations, raw_data):
            self.calls.append(destinations[0])
            fault = self.rule and self.rule(len(self.calls), destinations[0])
            if fault:
                code, message, status = fault
                error = JsonRESTError(code, message)
                error.code = status
                raise error
            return original(backend, source, destinations, raw_data)

        monkeypatch.setattr(SESBackend, "send_raw_email", send_raw_email)
        return self


def fake_transport(settings, client, fake: FakeTime, rate: float = 1000.0, **policy):
    return make_ses_transport(settings, client, limiter=RateLimiter(rate, fake.clock, fake.sleep),
                              policy=RetryPolicy(**policy), clock=fake.clock, sleep=fake.sleep, rand=lambda: 0.5)


def record_sends(client) -> list[dict]:
    """The parameters of every send_email call, as botocore validated and sent them."""
    requests: list[dict] = []
    client.meta.events.register("before-parameter-build.sesv2.SendEmail",
                                lambda params, **kw: requests.append(params))
    return requests


def answer_get_account(client, answer: dict) -> dict:
    """Make get_account (not in moto) answer with `answer` in AWS's response shape; change it in place later."""
    client.meta.events.register("before-call.sesv2.GetAccount",
                                lambda **kw: (AWSResponse(ENDPOINT, 200, {}, None), dict(answer)))
    return answer


def account(max_24h=50000.0, sent_24h=0.0, rate=14.0, production=True, enabled=True) -> dict:
    return {"SendQuota": {"Max24HourSend": max_24h, "MaxSendRate": rate, "SentLast24Hours": sent_24h},
            "ProductionAccessEnabled": production, "SendingEnabled": enabled, "EnforcementStatus": "HEALTHY"}


def add_people(add_listings, add_subscriber, *emails: str) -> dict[str, int]:
    add_listings(listing("a"), listing("b"))
    return {e: add_subscriber(e) for e in emails}


# --- the weekly run through SES ---------------------------------------------------------------------------


def test_the_weekly_run_sends_the_outbox_bytes_through_ses(engine, ses_settings, ses_client, add_listings, add_subscriber,
                                                           tmp_path):
    people = add_people(add_listings, add_subscriber, "ana@example.net", "bo@example.org", "cy@example.com")
    outbox = OutboxTransport(tmp_path / "dry")
    run(ses_settings, NOW, engine=engine, dry_run=True, transport=outbox)  # what the outbox would write

    _, summary = run(ses_settings, NOW, engine=engine)  # the transport the settings name: ses
    assert (summary.due, summary.sent, summary.failed) == (3, 3, 0)
    rows = ledger(engine)
    written = {p.read_bytes() for p in (tmp_path / "dry").rglob("*.eml")}
    for message_id, raw, msg in accepted():
        assert raw.encode() in written  # byte for byte what the outbox writes
        for name in HEADERS_ONCE:
            assert len(msg.get_all(name, [])) == 1, name
        assert msg["List-Unsubscribe"].startswith("<https://subs.example.com/")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
        to = msg["To"].addresses[0].addr_spec
        assert rows[people[to]] == ("sent", message_id)  # the SES MessageId is on the ledger row
    assert sorted(accepted_to()) == sorted(people)


def test_every_send_carries_the_configuration_set_and_tags(engine, ses_settings, ses_client, add_listings, add_subscriber):
    add_people(add_listings, add_subscriber, "ana@example.net", "bo@example.org")
    requests = record_sends(ses_client)
    run_id, _ = run(ses_settings, NOW, engine=engine, transport=make_ses_transport(ses_settings, ses_client))
    assert len(requests) == 2
    for request, (_id, raw, _msg) in zip(requests, accepted()):
        assert request["ConfigurationSetName"] == "digest-events"
        assert request["EmailTags"] == [
            {"Name": "campaign", "Value": "weekly"}, {"Name": "period", "Value": "2026-W48"},
            {"Name": "run", "Value": run_id},
            # SES builds its Feedback-ID header from these two reserved tags: campaign and week.
            {"Name": "ses:feedback-id-a", "Value": "weekly"}, {"Name": "ses:feedback-id-b", "Value": "2026-W48"},
        ]
        assert request["FromEmailAddress"] == "digest@example.com"
        assert request["Destination"] == {"ToAddresses": [_msg["To"].addresses[0].addr_spec]}
        assert request["Content"]["Raw"]["Data"] == raw.encode()


def test_tag_values_are_cut_to_what_ses_accepts():
    assert ses_tags({"period": "2026-W48", "run id": "a.b/c é", "long": "x" * 300}) == [
        {"Name": "period", "Value": "2026-W48"},
        {"Name": "run_id", "Value": "a_b_c__"},
        {"Name": "long", "Value": "x" * 256},
        {"Name": "ses:feedback-id-b", "Value": "2026-W48"},
    ]
    assert ses_tags(None) == [] and ses_tags({"empty": ""}) == [{"Name": "empty", "Value": "_"}]


# --- failures by kind, through the run ------------------------------------------------------------------------


def test_throttling_is_retried_with_backoff_and_everyone_is_sent_once(engine, ses_settings, ses_client, add_listings,
                                                                      add_subscriber, monkeypatch):
    people = add_people(add_listings, add_subscriber, "ana@example.net", "bo@example.org", "cy@example.com")
    faults = Faults(lambda n, to: ("TooManyRequestsException", "Maximum sending rate exceeded.", 429)
                    if n <= 3 else None).install(monkeypatch)
    fake = FakeTime()
    _, summary = run(ses_settings, NOW, engine=engine, transport=fake_transport(ses_settings, ses_client, fake))
    assert (summary.sent, summary.failed) == (3, 0)
    assert len(faults.calls) == 6  # the first message took four tries
    assert [s for s in fake.sleeps if s > 0.01] == pytest.approx([0.1, 0.2, 0.4])  # 0.5 x min(10, 0.2 x 2^n)
    assert sorted(accepted_to()) == sorted(people)  # once each
    assert {status for status, _ in ledger(engine).values()} == {"sent"}


@pytest.mark.parametrize("outage, kind", [
    (("TooManyRequestsException", "Maximum sending rate exceeded.", 429), "throttled"),
    (("InternalFailure", "An internal error occurred.", 500), "unavailable"),
])
def test_a_failure_that_does_not_end_leaves_everyone_due_for_the_next_run(engine, ses_settings, ses_client, add_listings,
                                                                         add_subscriber, monkeypatch, outage, kind):
    people = add_people(add_listings, add_subscriber, "ana@example.net", "bo@example.org", "cy@example.com")
    faults = Faults(lambda n, to: outage).install(monkeypatch)
    fake = FakeTime()
    _, summary = run(ses_settings, NOW, engine=engine,
                     transport=fake_transport(ses_settings, ses_client, fake, throttled_tries=4, unavailable_tries=2))
    assert (summary.sent, summary.failed, getattr(summary, f"failed_{kind}")) == (0, 3, 3)
    assert len(faults.calls) == 3 * (4 if kind == "throttled" else 2)  # bounded tries per message
    assert ledger(engine) == {} and accepted() == []  # given back, nothing marked

    faults.rule = None
    _, again = run(ses_settings, NOW, engine=engine, transport=fake_transport(ses_settings, ses_client, fake))
    assert (again.due, again.sent) == (3, 3)
    assert sorted(accepted_to()) == sorted(people)


def test_rejected_addresses_fail_alone_and_are_not_retried(engine, ses_settings, ses_client, add_listings, add_subscriber,
                                                           monkeypatch):
    people = add_people(add_listings, add_subscriber, "ana@example.net", "bad@example.org", "bo@example.org",
                        "worse@example.org")
    refused = {"bad@example.org": ("MessageRejected", "Email address is not verified.", 400),
               "worse@example.org": ("BadRequestException", "Illegal address", 400)}
    faults = Faults(lambda n, to: refused.get(to)).install(monkeypatch)
    _, summary = run(ses_settings, NOW, engine=engine, transport=make_ses_transport(ses_settings, ses_client))
    assert (summary.sent, summary.failed, summary.failed_rejected) == (2, 2, 2)
    assert sorted(faults.calls) == sorted(people)  # one call each: no retry of a rejection
    rows = ledger(engine)
    assert {to: rows[people[to]][0] for to in people} == {
        "ana@example.net": "sent", "bad@example.org": "rejected", "bo@example.org": "sent",
        "worse@example.org": "rejected"}
    assert sorted(accepted_to()) == ["ana@example.net", "bo@example.org"]


def test_sending_paused_half_way_stops_the_run_with_the_ledger_right(engine, ses_settings, ses_client, add_listings,
                                                                     add_subscriber, monkeypatch):
    people = add_people(add_listings, add_subscriber, *(f"u{i}@example.net" for i in range(6)))
    faults = Faults(lambda n, to: ("SendingPausedException", "Sending is paused for this account.", 400)
                    if n > 3 else None).install(monkeypatch)
    _, summary = run(ses_settings, NOW, engine=engine, transport=make_ses_transport(ses_settings, ses_client))
    assert summary.stopped and summary.stopped.startswith("paused")
    assert summary.sent == 3 and len(faults.calls) == 4  # stopped at once: no retry, nobody after
    rows = ledger(engine)
    assert {sid for sid, (status, _) in rows.items() if status == "sent"} == {people[to] for to in accepted_to()}
    assert {status for status, _ in rows.values()} == {"sent"}  # nothing claimed or failed left behind

    faults.rule = None
    _, rest = run(ses_settings, NOW, engine=engine, transport=make_ses_transport(ses_settings, ses_client))
    assert (rest.due, rest.sent, rest.stopped) == (3, 3, None)
    assert sorted(accepted_to()) == sorted(people)  # everyone once, nobody twice


def test_server_errors_and_connection_resets_are_retried(engine, ses_settings, ses_client, add_listings, add_subscriber,
                                                         monkeypatch):
    people = add_people(add_listings, add_subscriber, "ana@example.net", "bo@example.org", "cy@example.com")
    network = {1: ConnectionClosedError(endpoint_url=ENDPOINT), 4: EndpointConnectionError(endpoint_url=ENDPOINT),
               6: ReadTimeoutError(endpoint_url=ENDPOINT)}
    requests: list[int] = []

    def wire(**kw):  # before moto sees the request: the connection failed, SES never got it
        requests.append(len(requests) + 1)
        if requests[-1] in network:
            raise network[requests[-1]]

    ses_client.meta.events.register_first("before-send.sesv2.SendEmail", wire)
    faults = Faults(lambda n, to: ("ServiceUnavailable", "Service unavailable.", 503) if n == 1 else None)
    faults.install(monkeypatch)
    fake = FakeTime()
    _, summary = run(ses_settings, NOW, engine=engine, transport=fake_transport(ses_settings, ses_client, fake))
    assert (summary.sent, summary.failed) == (3, 0)
    assert len(requests) == 7 and len(faults.calls) == 4  # three lost on the wire, one 503, three accepted
    assert sorted(accepted_to()) == sorted(people)
    assert {status for status, _ in ledger(engine).values()} == {"sent"}


# --- pacing and the 24-hour quota -----------------------------------------------------------------------------


def test_sends_are_never_closer_than_one_over_the_rate(engine, ses_settings, ses_client, add_listings, add_subscriber,
                                                       monkeypatch):
    add_people(add_listings, add_subscriber, *(f"u{i}@example.net" for i in range(12)))
    fake = FakeTime()
    at: list[float] = []
    Faults(lambda n, to: at.append(fake.now)).install(monkeypatch)  # the fake clock when SES gets each message
    _, summary = run(ses_settings, NOW, engine=engine, transport=fake_transport(ses_settings, ses_client, fake, rate=4.0))
    assert summary.sent == 12
    gaps = [b - a for a, b in zip(at, at[1:])]
    assert min(gaps) >= 0.25 - 1e-9  # never faster than 4/s
    assert at[-1] - at[0] == pytest.approx(11 * 0.25)  # and no slower than it has to be


def test_the_rate_limiter_spaces_threads_too():
    limiter = RateLimiter(400.0)
    grants: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(15):
            t = limiter.acquire()
            with lock:
                grants.append(t)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grants.sort()
    assert len(grants) == 60
    assert min(b - a for a, b in zip(grants, grants[1:])) >= 1 / 400


def test_one_limiter_per_rate_in_the_process(ses_client):
    settings = Settings(**SES)
    first, second = make_ses_transport(settings, ses_client), make_ses_transport(settings, ses_client)
    assert first.limiter is second.limiter is shared_limiter(1000.0)
    assert make_ses_transport(settings.with_(ses_rate=7.0), ses_client).limiter is shared_limiter(7.0)


def test_the_24_hour_quota_stops_the_run_and_leaves_the_rest_due(engine, ses_settings, ses_client, add_listings,
                                                                 add_subscriber):
    people = add_people(add_listings, add_subscriber, *(f"u{i}@example.net" for i in range(5)))
    answer = answer_get_account(ses_client, account(max_24h=5, sent_24h=2, rate=50.0))
    transport = make_ses_transport(ses_settings, ses_client)
    assert transport.limiter.rate == 50.0  # the account's rate, below the configured 1000/s
    _, summary = run(ses_settings, NOW, engine=engine, transport=transport)
    assert summary.stopped and summary.stopped.startswith("quota")
    assert summary.sent == 3 and len(accepted()) == 3
    assert {status for status, _ in ledger(engine).values()} == {"sent"} and len(ledger(engine)) == 3

    answer.update(account(max_24h=5, sent_24h=0))  # a new 24-hour window
    _, rest = run(ses_settings, NOW, engine=engine, transport=make_ses_transport(ses_settings, ses_client))
    assert (rest.due, rest.sent, rest.stopped) == (2, 2, None)
    assert sorted(accepted_to()) == sorted(people)


def test_the_quota_is_read_again_in_a_long_lived_process(ses_client):
    answer = answer_get_account(ses_client, account(max_24h=10, sent_24h=9))
    fake = FakeTime()
    transport = fake_transport(Settings(**SES), ses_client, fake)
    transport.send("2026-W48/1", "ana@example.net", b"From: digest@example.com\r\nTo: ana@example.net\r\n\r\nhi\r\n")
    with pytest.raises(TransportError) as stop:
        transport.send("2026-W48/2", "bo@example.org", b"From: digest@example.com\r\nTo: bo@example.org\r\n\r\nhi\r\n")
    assert stop.value.kind == "quota" and stop.value.stops_run
    answer.update(account(max_24h=10, sent_24h=3))
    fake.now += 901  # the warm container's next invocation
    transport.send("2026-W48/2", "bo@example.org", b"From: digest@example.com\r\nTo: bo@example.org\r\n\r\nhi\r\n")
    assert len(accepted()) == 2


def test_an_account_with_sending_disabled_is_paused_without_a_call(ses_client, monkeypatch):
    answer_get_account(ses_client, account(enabled=False))
    faults = Faults().install(monkeypatch)
    transport = make_ses_transport(Settings(**SES), ses_client)
    with pytest.raises(TransportError) as paused:
        transport.send("k", "ana@example.net", b"From: digest@example.com\r\n\r\nhi\r\n")
    assert paused.value.kind == "paused" and faults.calls == []


def test_messages_fail_fast_while_ses_keeps_failing(ses_client, monkeypatch):
    faults = Faults(lambda n, to: ("TooManyRequestsException", "Maximum sending rate exceeded.", 429))
    faults.install(monkeypatch)
    fake = FakeTime()
    transport = fake_transport(Settings(**SES), ses_client, fake, throttled_tries=2, breaker_after=2, breaker_cooldown=60)
    raw = b"From: digest@example.com\r\nTo: ana@example.net\r\n\r\nhi\r\n"
    kinds = []
    for i in range(5):
        with pytest.raises(TransportError) as e:
            transport.send(f"k{i}", "ana@example.net", raw)
        kinds.append(e.value.kind)
    assert kinds == ["throttled"] * 5 and len(faults.calls) == 4  # two messages tried twice, three not at all
    faults.rule = None
    fake.now += 61
    transport.send("k5", "ana@example.net", raw)  # tried again after the cool-down
    assert len(accepted()) == 1


def test_an_unknown_client_error_is_unavailable_at_once_and_names_its_code(ses_client, monkeypatch):
    faults = Faults(lambda n, to: ("NotFoundException", "Configuration set <digest-events> does not exist.", 404))
    faults.install(monkeypatch)
    transport = fake_transport(Settings(**SES), ses_client, FakeTime())
    with pytest.raises(TransportError) as e:
        transport.send("k", "ana@example.net", b"From: digest@example.com\r\nTo: ana@example.net\r\n\r\nhi\r\n")
    assert e.value.kind == "unavailable" and str(e.value).startswith("NotFoundException: Configuration set")
    assert len(faults.calls) == 1  # a 4xx that is not throttling is not tried again

    def no_credentials(**kw):
        raise NoCredentialsError()

    ses_client.meta.events.register_first("before-send.sesv2.SendEmail", no_credentials)
    with pytest.raises(TransportError) as e:  # a TransportError still, so the run keeps its ledger right
        transport.send("k", "ana@example.net", b"From: digest@example.com\r\nTo: ana@example.net\r\n\r\nhi\r\n")
    assert e.value.kind == "unavailable" and str(e.value).startswith("NoCredentialsError")


def _error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "SendEmail")


@pytest.mark.parametrize("code, status, message, expected", [
    ("TooManyRequestsException", 429, "Maximum sending rate exceeded.", ("throttled", True)),
    ("Throttling", 400, "Maximum sending rate exceeded.", ("throttled", True)),
    ("Throttling", 400, "Daily message quota exceeded.", ("quota", False)),
    ("LimitExceededException", 400, "", ("quota", False)),
    ("MessageRejected", 400, "Email address is not verified.", ("rejected", False)),
    ("BadRequestException", 400, "Illegal address", ("rejected", False)),
    ("MailFromDomainNotVerifiedException", 400, "", ("rejected", False)),
    ("SendingPausedException", 400, "", ("paused", False)),
    ("AccountSuspendedException", 400, "", ("paused", False)),
    ("InternalFailure", 500, "", ("unavailable", True)),
    ("ServiceUnavailable", 503, "", ("unavailable", True)),
    ("NotFoundException", 404, "Configuration set <x> does not exist.", ("unavailable", False)),
])
def test_each_ses_error_has_a_kind(code, status, message, expected):
    assert classify(_error(code, status, message)) == expected


# --- refusing to start ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, says", [
    ({"secret_keys": ("k1", DEV_SECRET_KEY)}, "development signing key"),
    ({"base_url": "http://subs.example.com"}, "DIGEST_BASE_URL must be the public https://"),
    ({"base_url": "https://localhost:8000"}, "DIGEST_BASE_URL"),
    ({"base_url": "https://127.0.0.1:8000"}, "DIGEST_BASE_URL"),
    ({"base_url": "https://[::1]"}, "DIGEST_BASE_URL"),
    ({"from_addr": "Jobs <digest@unverified.example.org>"}, "From domain unverified.example.org is not a verified SES"),
    ({"ses_rate": None}, "DIGEST_SES_RATE must be set"),
])
def test_the_ses_transport_refuses_to_start_with_one_clear_line(ses_client, changes, says):
    with pytest.raises(ConfigError) as refused:
        make_ses_transport(Settings(**SES).with_(**changes), ses_client)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_an_unverified_domain_in_the_sandbox_is_named_as_such(ses_client):
    answer_get_account(ses_client, account(production=False, max_24h=200, rate=1.0))
    with pytest.raises(ConfigError, match="not a verified SES identity in us-east-1 and the account is in the SES "
                                          "sandbox"):
        make_ses_transport(Settings(**SES).with_(from_addr="digest@jobs.example.org"), ses_client)
    assert make_ses_transport(Settings(**SES).with_(from_addr="digest@mail.example.com"), ses_client)  # a verified parent


def test_make_transport_builds_the_ses_transport_from_the_settings(ses_client):
    transport = make_transport(Settings(**SES))
    assert transport.name == "ses" and transport.configuration_set == "digest-events"
    config = transport.client.meta.config  # botocore does not retry behind our policy; it does not wait forever
    assert (config.retries["total_max_attempts"], config.connect_timeout, config.read_timeout) == (1, 5, 20)
    with pytest.raises(ConfigError, match="development signing key"):
        make_transport(Settings(**SES).with_(secret_keys=(DEV_SECRET_KEY,)))


def test_settings_read_the_ses_rate_and_region():
    s = Settings.from_env({"DIGEST_SES_RATE": "12.5", "AWS_REGION": "eu-west-1"})
    assert (s.ses_rate, s.ses_region) == (12.5, "eu-west-1")
    both = Settings.from_env({"DIGEST_SES_REGION": "eu-central-1", "AWS_REGION": "eu-west-1"})
    assert both.ses_region == "eu-central-1"
    for bad in ("fast", "0", "-1"):
        with pytest.raises(ConfigError, match="DIGEST_SES_RATE"):
            Settings.from_env({"DIGEST_SES_RATE": bad})


def test_the_outbox_path_never_imports_boto3():
    code = ("import sys; from digest.run import run; from digest.carriers.choose import make_transport; "
            "from digest.settings import Settings; make_transport(Settings()); "
            "sys.exit('boto3' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
