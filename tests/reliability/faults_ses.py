"""An SES that misbehaves on a script: throttling, server errors, broken connections, rejections, a pause.

Every HTTP attempt the SES transport makes is numbered (per run) and answered by the script: a network fault
before SES sees the request, an SES error answer (moto serialises it, botocore parses it, as from AWS), or
acceptance by moto's SES. The log of attempts, and moto's list of accepted messages, are what tests compare the
ledger and the run's summary against.
"""

from __future__ import annotations

import email
import email.policy
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.ses.models import SESBackend, ses_backends

import digest.carriers.ses
from digest.carriers.ses import RateLimiter, RetryPolicy

from ..support.aws import ENDPOINT, FakeTime
from ..support.lambda_events import REGION

# What SES answers, as (error code, message, HTTP status): the codes of the SES v2 API reference.
ANSWERS = {
    "throttle": ("TooManyRequestsException", "Maximum sending rate exceeded.", 429),
    "500": ("InternalFailure", "An internal error occurred.", 500),
    "503": ("ServiceUnavailable", "Service is unavailable.", 503),
    "rejected": ("MessageRejected", "Email address is on the account-level suppression list.", 400),
    "paused": ("SendingPausedException", "Email sending is disabled for this account.", 400),
}
# Faults on the wire: the request never reaches SES.
WIRE = {
    "reset": lambda: ConnectionClosedError(endpoint_url=ENDPOINT),
    "refused": lambda: EndpointConnectionError(endpoint_url=ENDPOINT),
    "connect-timeout": lambda: ConnectTimeoutError(endpoint_url=ENDPOINT),
    "read-timeout": lambda: ReadTimeoutError(endpoint_url=ENDPOINT),
}
THROTTLED = {"throttle"}
UNAVAILABLE = {"500", "503", *WIRE}
STRICT = email.policy.default.clone(raise_on_defect=True)


@dataclass
class Attempt:
    run: int
    n: int  # attempt number within the run, from 1
    to: str
    answer: str  # "accepted", "accepted-lost" (accepted, but the answer never came back), or a fault name


@dataclass
class StormySes:
    """Decides the answer to each SendEmail attempt; keeps the log.

    `script(n)` names the fault of attempt n of the current run (or None); `rejected` addresses are always
    refused; from attempt `paused_from` of the current run on, SES answers SendingPausedException.
    `lost_after_accept` attempt numbers are accepted by SES but the client sees a read timeout.
    """

    script: Callable[[int], str | None] = lambda n: None
    rejected: frozenset[str] = frozenset()
    paused_from: int | None = None
    lost_after_accept: frozenset[int] = frozenset()
    latency: float = 0.05  # fake seconds each attempt takes on the wire
    log: list[Attempt] = field(default_factory=list)
    run: int = 0
    time: FakeTime = field(default_factory=FakeTime)
    _pending: str | None = None
    _n: int = 0

    def next_run(self, script=None, paused_from=None, lost_after_accept=frozenset()) -> None:
        """Start numbering attempts again for a new run with its own script."""
        self.run, self._n = self.run + 1, 0
        self.script = script or (lambda n: None)
        self.paused_from = paused_from
        self.lost_after_accept = frozenset(lost_after_accept)

    def install(self, monkeypatch) -> "StormySes":
        """Answer through moto's SES backend, and make every SES transport built from settings use this."""
        original_send = SESBackend.send_raw_email
        storm = self

        def send_raw_email(backend, source, destinations, raw_data):
            fault, storm._pending = storm._pending, None
            if fault is not None:
                code, message, status = ANSWERS[fault]
                error = JsonRESTError(code, message)
                error.code = status
                raise error
            return original_send(backend, source, destinations, raw_data)

        monkeypatch.setattr(SESBackend, "send_raw_email", send_raw_email)
        original_make = digest.carriers.ses.make_ses_transport

        def make_ses_transport(settings, client=None, **kw):
            # The real factory (boto3 client, account and identity checks); only time and chance are ours.
            rng = random.Random(7)
            transport = original_make(
                settings, client, limiter=RateLimiter(settings.ses_rate or 14.0, storm.time.clock, storm.time.sleep),
                policy=RetryPolicy(), clock=storm.time.clock, sleep=storm.time.sleep, rand=rng.random)
            storm.attach(transport.client)
            return transport

        monkeypatch.setattr(digest.carriers.ses, "make_ses_transport", make_ses_transport)
        return self

    def attach(self, client) -> None:
        client.meta.events.register_first("before-send.sesv2.SendEmail", self._before_send)
        client.meta.events.register("after-call.sesv2.SendEmail", self._after_call)

    def _before_send(self, request, **kw):
        self.time.now += self.latency
        to = _destination(request.body)
        self._n += 1
        n = self._n
        if self.paused_from is not None and n >= self.paused_from:
            fault = "paused"  # a paused account refuses every message, whoever it is for
        elif to in self.rejected:
            fault = "rejected"
        else:
            fault = self.script(n)
        accepted = "accepted-lost" if n in self.lost_after_accept else "accepted"
        self.log.append(Attempt(self.run, n, to, fault or accepted))
        if fault in WIRE:
            raise WIRE[fault]()
        self._pending = fault  # moto's backend answers with it
        return None

    def _after_call(self, http_response, parsed, **kw):
        if self.log[-1].answer == "accepted-lost" and http_response.status_code == 200:
            raise ReadTimeoutError(endpoint_url=ENDPOINT)  # SES took it; the answer was lost on the way back

    # --- what happened -------------------------------------------------------------------------------------

    def attempts(self, run: int | None = None) -> list[Attempt]:
        return [a for a in self.log if run is None or a.run == run]

    def last_answer(self, run: int) -> dict[str, str]:
        """Each address's final answer in a run, in the order first tried."""
        out: dict[str, str] = {}
        for a in self.attempts(run):
            out[a.to] = a.answer
        return out

    def expected_outcomes(self, run: int) -> Counter:
        """What the run should report, from SES's side: sent, rejected, throttled, unavailable, paused."""
        kinds = Counter()
        for answer in self.last_answer(run).values():
            if answer.startswith("accepted"):
                kinds["sent"] += 1
            elif answer in THROTTLED:
                kinds["throttled"] += 1
            elif answer in UNAVAILABLE:
                kinds["unavailable"] += 1
            else:
                kinds[answer] += 1
        return kinds


def accepted() -> list[tuple[str, str, email.message.EmailMessage]]:
    """Every message moto's SES accepted: (SES MessageId, To address, parsed message), in order."""
    out = []
    for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages:
        msg = email.message_from_string(m.raw_data, policy=STRICT)
        out.append((m.id, msg["To"].addresses[0].addr_spec, msg))
    return out


def _destination(body) -> str:
    return json.loads(body)["Destination"]["ToAddresses"][0]


def ses_env(db_url: str, outbox: str, rate: float = 14.0) -> dict[str, str]:
    """The environment an operator gives `digest run` for SES (credentials are moto's)."""
    return {
        "DIGEST_DATABASE_URL": db_url, "DIGEST_TRANSPORT": "ses", "DIGEST_SECRET_KEYS": "faults-ses-signing-key-0123456789abcdef",
        "DIGEST_BASE_URL": "https://subs.example.com", "DIGEST_SES_RATE": str(rate), "DIGEST_SES_REGION": REGION,
        "DIGEST_SES_CONFIGURATION_SET": "digest-events", "DIGEST_OUTBOX_DIR": outbox,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }

