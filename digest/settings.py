"""Configuration, read once from the environment at the edge into a frozen object."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import ConfigError

# Long enough for the key rule below, so a fresh checkout runs; refused by the ses transport and by `digest serve`
# on anything but loopback.
DEV_SECRET_KEY = "dev-insecure-key-change-me-never-use-it-in-production"
MIN_KEY_BYTES = 32  # HMAC-SHA256 keys: 256 bits, as the hash
MAKE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
TRANSPORTS = ("outbox", "ses", "smtp")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
REPO_ROOT = Path(__file__).resolve().parent.parent
SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


def _default_templates_dir() -> Path:
    packaged = Path(__file__).resolve().parent / "_templates"
    return packaged if packaged.is_dir() else REPO_ROOT / "templates"


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to know about its environment."""

    # Neither the database URL (it may hold a password) nor the signing keys appear in a repr or a log line.
    database_url: str = field(default="sqlite:///digest.db", repr=False)
    transport: str = "outbox"
    outbox_dir: Path = Path("outbox")
    base_url: str = "http://127.0.0.1:8000"
    board_url: str = "https://jobs.example.com"
    secret_keys: tuple[str, ...] = field(default=(DEV_SECRET_KEY,), repr=False)
    from_addr: str = "Backend Jobs Weekly <digest@example.com>"
    ses_configuration_set: str | None = None
    ses_rate: float | None = None  # messages/second this process may send when SES cannot tell (or to stay lower)
    ses_region: str | None = None
    # The smtp transport's server: smtp+starttls://user:password@host:587, smtps://…:465 or smtp://127.0.0.1:25.
    smtp_url: str | None = field(default=None, repr=False)  # it holds a password: never in a repr or a log line
    default_timezone: str = "UTC"
    send_day: str = "monday"
    send_hour: int = 8
    max_jobs: int = 15
    max_per_company: int = 2  # listings of one company in a digest; the rest count in "+N more" (0 = no cap)
    claim_lease_seconds: int = 600
    history_weeks: int = 26
    signup_limit: int = 10  # sign-up and confirmation-renewal POSTs per client network per window; 0 = no limit
    signup_window: int = 3600  # seconds
    confirm_cap: int = 3  # confirmation mails one address may ever get from the pages (and /manage link mails)
    confirm_budget: int = 100  # mails the public pages may send in any hour, all addresses together
    # The reputation guard (digest.guard): rates over the last 7 days above which a run sends nothing more, and
    # the sends the window must hold before it can trip at all.
    bounce_guard: float = 0.04
    complaint_guard: float = 0.0008
    guard_min_sent: int = 1000
    # The proxies in front of `digest serve` (addresses or networks) whose X-Forwarded-For entries are believed.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # Origins besides DIGEST_BASE_URL's whose pages may post the sign-up form ("https://jobs.example.com").
    signup_origins: tuple[str, ...] = ()
    templates_dir: Path = field(default_factory=_default_templates_dir)
    # The SNS topic SES publishes bounces and complaints to: messages from any other topic are dropped.
    sns_topic_arn: str | None = None
    # Downloads an SNS signing certificate (digest.sns_verify.fetch_certificate when None); tests hand in theirs.
    sns_cert_fetcher: Callable[[str], bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from DIGEST_* variables, refusing values that cannot work."""
        env = os.environ if env is None else env
        get = env.get
        keys = tuple(k.strip() for k in get("DIGEST_SECRET_KEYS", DEV_SECRET_KEY).split(",") if k.strip())
        settings = cls(
            database_url=get("DIGEST_DATABASE_URL", cls.database_url),
            transport=get("DIGEST_TRANSPORT", cls.transport).strip().lower(),
            outbox_dir=Path(get("DIGEST_OUTBOX_DIR", "outbox")),
            base_url=get("DIGEST_BASE_URL", cls.base_url).rstrip("/"),
            board_url=get("DIGEST_BOARD_URL", cls.board_url).rstrip("/"),
            secret_keys=keys or (DEV_SECRET_KEY,),
            from_addr=get("DIGEST_FROM", cls.from_addr),
            ses_configuration_set=get("DIGEST_SES_CONFIGURATION_SET") or None,
            ses_rate=_rate(get("DIGEST_SES_RATE")),
            ses_region=get("DIGEST_SES_REGION") or get("AWS_REGION") or get("AWS_DEFAULT_REGION") or None,
            smtp_url=get("DIGEST_SMTP_URL", "").strip() or None,
            default_timezone=get("DIGEST_DEFAULT_TIMEZONE", cls.default_timezone),
            send_day=get("DIGEST_SEND_DAY", cls.send_day).strip().lower(),
            **{name: read(get, variable, getattr(cls, name)) for name, variable, read in _NUMBERS},
            trusted_proxies=_networks(get("DIGEST_TRUSTED_PROXIES")),
            signup_origins=_origins(get("DIGEST_SIGNUP_ORIGINS")),
            templates_dir=Path(get("DIGEST_TEMPLATES_DIR") or _default_templates_dir()),
            sns_topic_arn=get("DIGEST_SNS_TOPIC_ARN", "").strip() or None,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that cannot work."""
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"DIGEST_TRANSPORT must be 'outbox', 'ses' or 'smtp', not {self.transport!r}")
        if self.transport == "smtp" and not self.smtp_url:
            raise ConfigError("DIGEST_TRANSPORT=smtp needs DIGEST_SMTP_URL, for example "
                              "smtp+starttls://user:password@mail.example.com:587")
        if self.smtp_url:
            from .carriers.smtp_url import parse_smtp_url  # only when one is set: it brings db.py's imports

            parse_smtp_url(self.smtp_url)
        if self.send_day not in WEEKDAYS:
            raise ConfigError(f"DIGEST_SEND_DAY must be one of {', '.join(WEEKDAYS)}, not {self.send_day!r}")
        if not 0 <= self.send_hour <= 23:
            raise ConfigError(f"DIGEST_SEND_HOUR must be 0-23, not {self.send_hour}")
        if not 1 <= self.max_jobs <= 50:
            raise ConfigError(f"DIGEST_MAX_JOBS must be 1-50, not {self.max_jobs}")
        if not 0 <= self.max_per_company <= 50:
            raise ConfigError(f"DIGEST_MAX_PER_COMPANY must be 0-50 (0 = no cap), not {self.max_per_company}")
        if not 0 <= self.signup_limit <= 100_000:
            raise ConfigError(f"DIGEST_SIGNUP_LIMIT must be 0-100000 (0 = no limit), not {self.signup_limit}")
        if not 1 <= self.signup_window <= 7 * 86400:
            raise ConfigError(f"DIGEST_SIGNUP_WINDOW must be 1-604800 seconds, not {self.signup_window}")
        if not 1 <= self.confirm_cap <= 20:
            raise ConfigError(f"DIGEST_CONFIRM_CAP must be 1-20 mails per address, not {self.confirm_cap}")
        if not 1 <= self.confirm_budget <= 1_000_000:
            raise ConfigError(f"DIGEST_CONFIRM_BUDGET must be 1-1000000 mails per hour, not {self.confirm_budget}")
        for name in ("bounce_guard", "complaint_guard"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"DIGEST_{name.upper()} must be a fraction above 0 and at most 1 "
                                  f"(0.04 = 4 %), not {getattr(self, name)}")
        if not 0 <= self.guard_min_sent <= 10_000_000:
            raise ConfigError(f"DIGEST_GUARD_MIN_SENT must be 0-10000000 mails, not {self.guard_min_sent}")
        if self.sns_topic_arn and not SNS_ARN.fullmatch(self.sns_topic_arn):
            raise ConfigError(f"DIGEST_SNS_TOPIC_ARN must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), "
                              f"not {self.sns_topic_arn!r}")
        for n, key in enumerate(self.secret_keys, start=1):
            if len(key.encode()) < MIN_KEY_BYTES:  # never the key itself in the message
                raise ConfigError(f"DIGEST_SECRET_KEYS: key {n} is {len(key.encode())} bytes; each key must be at "
                                  f"least {MIN_KEY_BYTES} bytes. Make one with: {MAKE_KEY}")
        if not is_zone_name(self.default_timezone):
            raise ConfigError(f"DIGEST_DEFAULT_TIMEZONE {self.default_timezone!r} is not an IANA timezone")
        for name in ("base_url", "board_url"):
            url = getattr(self, name)
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"DIGEST_{name.upper()} must start with http:// or https://")
            if not url.isascii() or not url.isprintable() or any(c in url for c in " <>,\"") or "=?" in url:
                # It goes into every message's links and List-Unsubscribe header as it is.
                raise ConfigError(f"DIGEST_{name.upper()} must be a plain ASCII URL (no spaces, quotes, <>, commas or =?)")

    @property
    def own_origin(self) -> str:
        """The origin of DIGEST_BASE_URL: where the app's own pages are served from."""
        return origin_of(self.base_url) or ""

    @property
    def from_domain(self) -> str:
        return self.from_addr.rsplit("@", 1)[-1].strip(" >").lower()

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def _int(get, name: str, default: int) -> int:
    raw = get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from e


def _fraction(get, name: str, default: float) -> float:
    raw = get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be a fraction such as 0.04 (= 4 %), not {raw!r}") from e


# The numeric settings, read in this order: each field, its variable and its reader (which names the variable
# when the value is not a number).
_NUMBERS = (
    ("send_hour", "DIGEST_SEND_HOUR", _int),
    ("max_jobs", "DIGEST_MAX_JOBS", _int),
    ("max_per_company", "DIGEST_MAX_PER_COMPANY", _int),
    ("claim_lease_seconds", "DIGEST_CLAIM_LEASE", _int),
    ("history_weeks", "DIGEST_HISTORY_WEEKS", _int),
    ("signup_limit", "DIGEST_SIGNUP_LIMIT", _int),
    ("signup_window", "DIGEST_SIGNUP_WINDOW", _int),
    ("confirm_cap", "DIGEST_CONFIRM_CAP", _int),
    ("confirm_budget", "DIGEST_CONFIRM_BUDGET", _int),
    ("bounce_guard", "DIGEST_BOUNCE_GUARD", _fraction),
    ("complaint_guard", "DIGEST_COMPLAINT_GUARD", _fraction),
    ("guard_min_sent", "DIGEST_GUARD_MIN_SENT", _int),
)


def _rate(raw: str | None) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        rate = float(raw)
    except ValueError as e:
        raise ConfigError(f"DIGEST_SES_RATE must be messages per second, not {raw!r}") from e
    if not 0 < rate < float("inf"):
        raise ConfigError(f"DIGEST_SES_RATE must be above 0, not {raw!r}")
    return rate


def _networks(raw: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """DIGEST_TRUSTED_PROXIES: comma-separated addresses or networks ("10.0.0.0/8,127.0.0.1"); empty or 0 = none."""
    items = [item.strip() for item in (raw or "").split(",") if item.strip()]
    if items == ["0"]:
        return ()  # the old default, "no proxy"
    out = []
    for item in items:
        if item.isdigit():
            raise ConfigError(f"DIGEST_TRUSTED_PROXIES is the proxies' addresses or networks now, not a count "
                              f"({item!r}): for example DIGEST_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1")
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as e:
            raise ConfigError(f"DIGEST_TRUSTED_PROXIES: {item!r} is not an IP address or network "
                              f"(for example 10.0.0.0/8,127.0.0.1)") from e
    return tuple(out)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower-case, default port left out; None when it has none."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port and port != default else "")


def _origins(raw: str | None) -> tuple[str, ...]:
    """DIGEST_SIGNUP_ORIGINS: comma-separated origins, each `https://host[:port]` with no path."""
    out = []
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        origin = origin_of(item)
        if origin is None or urlsplit(item).path not in ("", "/") or urlsplit(item).query or "@" in item:
            raise ConfigError(f"DIGEST_SIGNUP_ORIGINS: {item!r} is not an origin (scheme://host[:port], no path), "
                              f"for example https://jobs.example.com")
        out.append(origin)
    return tuple(out)


# Files and folders of the zone database that ZoneInfo opens but that are no place on Earth: the POSIX default
# rules, the leap-second ("right/") and duplicate ("posix/") trees, "Factory" (the "Local time zone must be set"
# zone) and "localtime" (whatever the machine is set to).
NOT_ZONES = frozenset({"posixrules", "Factory", "localtime"})


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_zone_name(name: str) -> bool:
    """Whether `name` is an IANA timezone a person can live in ("Europe/Berlin", "UTC", "US/Eastern")."""
    if not name or name in NOT_ZONES or name.startswith(("posix/", "right/")) or name not in _zone_names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
