"""Amazon SES v2: raw sends paced under the account's rate, retried by kind, stopped before the daily quota."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Callable, Mapping

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as NetworkError

from ..errors import ConfigError
from ..settings import Settings
from .base import TransportError
from .real import check_real_carrier
from .retry import RetryPolicy

log = logging.getLogger("digest.ses")  # the name operators' log filters know (before the carriers package)

# Our retry policy is the only one: botocore's own retries would multiply with it and hide throttling.
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20)

THROTTLED = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
REJECTED = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue",
                      "MailFromDomainNotVerifiedException"})
PAUSED = frozenset({"SendingPausedException", "AccountSuspendedException"})
QUOTA = frozenset({"LimitExceededException"})
NOT_ALLOWED = frozenset({"AccessDeniedException", "AccessDenied", "NotImplemented", "UnknownOperationException"})

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class RateLimiter:
    """Grant at most `rate` sends per second, evenly spaced, to every thread that shares it."""

    def __init__(self, rate: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        if not rate > 0:
            raise ValueError(f"rate must be above 0, not {rate!r}")
        self.rate = rate
        self.interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = float("-inf")

    def acquire(self) -> float:
        """Wait for the next free slot; return the clock reading at which it was granted."""
        # The lock is held while waiting, and the next slot counts from the moment this one was granted:
        # two grants are never closer than 1/rate, however late a sleeping thread wakes up.
        with self._lock:
            now = self._clock()
            while now < self._next:
                self._sleep(self._next - now)
                now = self._clock()
            self._next = now + self.interval
            return now


_limiters: dict[float, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(rate: float) -> RateLimiter:
    """The process's limiter for `rate`: every transport (and thread) sending at that rate shares it."""
    with _limiters_lock:
        if rate not in _limiters:
            _limiters[rate] = RateLimiter(rate)
        return _limiters[rate]


@dataclass(frozen=True)
class Account:
    """What SES says the account may do: its send rate, what is left of the 24-hour quota, its status."""

    max_rate: float | None = None
    left_24h: float | None = None  # None: unlimited or unknown
    production: bool | None = None  # False: still in the SES sandbox
    sending_enabled: bool = True


def read_account(client: Any) -> Account | None:
    """The account's limits from `get_account`; None where that call is not allowed or not implemented."""
    try:
        found = client.get_account()
    except NotImplementedError:  # moto
        return None
    except ClientError as e:
        if _code(e) in NOT_ALLOWED:
            return None
        raise
    quota = found.get("SendQuota", {})
    left = None
    if quota.get("Max24HourSend", -1) >= 0:  # -1 means unlimited
        left = quota["Max24HourSend"] - quota.get("SentLast24Hours", 0)
    return Account(max_rate=quota.get("MaxSendRate") or None, left_24h=left,
                   production=found.get("ProductionAccessEnabled"),
                   sending_enabled=found.get("SendingEnabled", True))


def classify(error: ClientError) -> tuple[str, bool]:
    """The TransportError kind of an SES error, and whether sending the same message again may work."""
    code, status = _code(error), error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in THROTTLED or status == 429:
        # SES reports the used-up daily quota with the same code as a too-high send rate.
        if "daily message quota" in _message(error).lower():
            return "quota", False
        return "throttled", True
    if code in PAUSED:
        return "paused", False
    if code in QUOTA:
        return "quota", False
    if code in REJECTED:
        return "rejected", False
    return "unavailable", status >= 500


_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def ses_tags(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    """EmailTags for SES: names and values cut to its alphabet (letters, digits, _ and -) and 256 characters.

    A `campaign` tag also becomes `ses:feedback-id-a` and `period` `ses:feedback-id-b`: SES writes its own
    Feedback-ID header and takes our campaign and week into it only through these two reserved tags.
    """
    tags = dict(tags or {})
    out = [{"Name": _tag(k), "Value": _tag(v)} for k, v in tags.items()]
    for ours, reserved in (("campaign", "ses:feedback-id-a"), ("period", "ses:feedback-id-b")):
        if ours in tags:
            out.append({"Name": reserved, "Value": _tag(tags[ours])})
    return out


def _tag(value: object) -> str:
    return _TAG_UNSAFE.sub("_", str(value))[:256] or "_"


class SesTransport:
    """Send each message's raw bytes with SES v2 `send_email`; return the SES MessageId."""

    name = "ses"

    def __init__(self, client: Any, from_address: str, limiter: RateLimiter, *, account: Account | None = None,
                 configuration_set: str | None = None, policy: RetryPolicy = RetryPolicy(),
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep, rand: Callable[[], float] = random.random,
                 refresh_after: float = 900.0):
        self.client = client
        self.from_address = from_address
        self.limiter = limiter
        self.configuration_set = configuration_set
        self.policy = policy
        self._clock, self._sleep, self._rand = clock, sleep, rand
        self._refresh_after = refresh_after
        self._lock = threading.Lock()
        self._account = account
        self._read_at = clock()
        self._left = account.left_24h if account else None  # quota left, minus sends reserved since it was read
        self._in_flight = 0
        self._streak = 0  # messages in a row given up on as throttled or unavailable
        self._open_until = float("-inf")
        self._streak_kind = "unavailable"

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None) -> str:
        """Hand one message to SES (paced, retried by kind); raise TransportError saying which kind failed."""
        self._admit()
        request: dict[str, Any] = {
            "FromEmailAddress": self.from_address,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": ses_tags(tags),
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            message_id = self._attempts(request)
        except TransportError as e:
            self._settle(ok=False, kind=e.kind)
            raise
        self._settle(ok=True)
        return message_id

    def close(self) -> None:
        pass

    def _attempts(self, request: dict[str, Any]) -> str:
        tries = {"throttled": 0, "unavailable": 0}
        while True:
            self.limiter.acquire()  # every attempt counts against the send rate, retries too
            try:
                return self.client.send_email(**request)["MessageId"]
            except ClientError as e:
                error, (kind, again) = e, classify(e)
                why = f"{_code(e)}: {_message(e)}"
            except (NetworkError, HTTPClientError) as e:
                # Refused, reset or timed out. After a read timeout SES may have taken the message; trying
                # again risks a second copy, which is better than a lost week.
                error, kind, again, why = e, "unavailable", True, f"{type(e).__name__}: {e}"
            except BotoCoreError as e:  # no credentials, a bad parameter: nothing a retry would mend
                error, kind, again, why = e, "unavailable", False, f"{type(e).__name__}: {e}"
            if kind not in tries or not again:
                raise TransportError(why, kind) from error
            tries[kind] += 1
            limit = self.policy.throttled_tries if kind == "throttled" else self.policy.unavailable_tries
            if tries[kind] >= limit:
                raise TransportError(f"{why} (after {tries[kind]} tries)", kind) from error
            self._sleep(self.policy.backoff(tries[kind] - 1, self._rand))

    def _admit(self) -> None:
        """Refuse to try while the account is paused, SES keeps failing, or the 24-hour quota is used up."""
        with self._lock:
            self._refresh()
            if self._account is not None and not self._account.sending_enabled:
                raise TransportError("SES sending is disabled for this account (get_account: SendingEnabled false)",
                                     "paused")
            wait = self._open_until - self._clock()
            if wait > 0:
                raise TransportError(f"SES gave up on {self._streak} messages in a row; not trying for another "
                                     f"{wait:.0f} s", self._streak_kind)
            if self._left is not None:
                if self._left < 1:
                    raise TransportError("the 24-hour sending quota is used up (Max24HourSend - SentLast24Hours)",
                                         "quota")
                self._left -= 1
            self._in_flight += 1

    def _settle(self, ok: bool, kind: str = "") -> None:
        with self._lock:
            self._in_flight -= 1
            if ok:
                self._streak = 0
                return
            if self._left is not None:
                self._left += 1  # SES counts only what it accepted
            if kind in ("throttled", "unavailable"):
                self._streak += 1
                self._streak_kind = kind
                if self._streak >= self.policy.breaker_after:
                    self._open_until = self._clock() + self.policy.breaker_cooldown
            elif kind == "rejected":
                self._streak = 0  # SES answered: it is up

    def _refresh(self) -> None:
        """Re-read the quota now and then: a warm Lambda container outlives a 24-hour window's view."""
        if self._account is None or self._clock() - self._read_at < self._refresh_after:
            return
        self._read_at = self._clock()
        try:
            fresh = read_account(self.client)
        except (ClientError, BotoCoreError) as e:
            log.warning("ses get_account failed; keeping the last quota", extra={"error": str(e)})
            return
        if fresh is not None:
            self._account = fresh
            self._left = None if fresh.left_24h is None else fresh.left_24h - self._in_flight


def make_ses_transport(settings: Settings, client: Any = None, *, limiter: RateLimiter | None = None,
                       policy: RetryPolicy = RetryPolicy(), clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
                       rand: Callable[[], float] = random.random) -> SesTransport:
    """Check the settings and the SES account, and return a transport ready to send; ConfigError if it must not."""
    check_settings(settings)
    if client is None:
        client = _starting(lambda: boto3.client("sesv2", region_name=settings.ses_region, config=CLIENT_CONFIG))
    account = _starting(lambda: read_account(client))
    rates = [r for r in (account.max_rate if account else None, settings.ses_rate) if r]
    if not rates:
        raise ConfigError("DIGEST_SES_RATE must be set (messages per second): SES get_account is not available "
                          "to tell the account's send rate")
    rate = min(rates)  # a configured rate below the account's leaves room for other senders and workers
    from_address = parseaddr(settings.from_addr)[1]
    identity = _starting(lambda: verified_identity(client, from_address))
    if identity is None:
        sandbox = " and the account is in the SES sandbox" if account and account.production is False else ""
        raise ConfigError(f"From domain {settings.from_domain} is not a verified SES identity in "
                          f"{client.meta.region_name}{sandbox}: verify it in SES or change DIGEST_FROM")
    log.info("ses transport ready", extra={"rate": rate, "identity": identity,
                                           "left_24h": account.left_24h if account else None,
                                           "production": account.production if account else None})
    return SesTransport(client, from_address, limiter or shared_limiter(rate), account=account,
                        configuration_set=settings.ses_configuration_set, policy=policy, clock=clock, sleep=sleep,
                        rand=rand)


def _starting(call: Callable[[], Any]) -> Any:
    """Make a start-up call; no region or credentials, or SES out of reach, is one line for the operator."""
    try:
        return call()
    except BotoCoreError as e:
        raise ConfigError(f"cannot reach Amazon SES to start sending: {e}") from e


def check_settings(settings: Settings) -> None:
    """Refuse settings that must never reach real subscribers: the development key, a local base URL."""
    check_real_carrier(settings, "ses")


def verified_identity(client: Any, address: str) -> str | None:
    """The SES identity that lets us send from `address` (itself, its domain or a parent domain), or None."""
    labels = address.rpartition("@")[2].lower().split(".")
    for identity in [address, *(".".join(labels[i:]) for i in range(len(labels) - 1))]:
        try:
            found = client.get_email_identity(EmailIdentity=identity)
        except ClientError as e:
            if _code(e) == "NotFoundException":
                continue
            if _code(e) in NOT_ALLOWED:
                raise ConfigError(f"cannot check the SES identity {identity} ({_code(e)}): "
                                  "allow ses:GetEmailIdentity") from e
            raise
        # moto fills in VerificationStatus but leaves VerifiedForSendingStatus false; AWS sets both.
        if found.get("VerifiedForSendingStatus") or found.get("VerificationStatus") == "SUCCESS":
            return identity
    return None


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")
