"""Mail-bombing through the sign-up page, against the real `digest serve` on loopback over 60 days of moved wall
clock (SQLite and PostgreSQL). The attacker signs a victim up; the victim follows the confirmation mail's "never
email this address"; the attacker signs them up again and again, after `subscribers remove` too, and tries
plus-address variants (each a new address, each capped for life) and many addresses at once (the hourly budget).
What counts is what a victim would count: the .eml files in the outbox, parsed, by recipient.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from digest.settings import Settings

from ..conftest import fresh_database
from ..support.serve import free_port
from .serve import cli, get, outbox_mails, post, serving

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
VICTIM = "victim@example.com"
VARIANTS = [f"victim+{tag}@example.com" for tag in ("jobs", "news", "x1")]
BUDGET = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template):
    return fresh_database(request.param, request, tmp_path, sqlite_template)


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    port = free_port()
    return Settings(database_url=db_url, outbox_dir=tmp_path / "outbox", base_url=f"http://127.0.0.1:{port}",
                    secret_keys=("mailbomb-test-key-0123456789abcdef",))


def sign_up(base: str, address: str, stack: str = "php") -> None:
    status, page = post(base, "/subscribe", [("email", address), ("stack", stack), ("timezone", "UTC")])
    assert status == 200 and "Check your inbox" in page


def link(msg, purpose: str) -> str:
    body = msg.get_body(("plain",)).get_content()
    return re.search(rf"https?://[^/\s]+(/{purpose}/[A-Za-z0-9_-]+)", body).group(1)


def test_the_mail_bomb_sequence_sends_at_most_the_capped_confirmations(settings, tmp_path):
    port = int(settings.base_url.rsplit(":", 1)[1])
    log = tmp_path / "serve.log"
    env = {"DIGEST_SIGNUP_LIMIT": "0", "DIGEST_CONFIRM_BUDGET": str(BUDGET)}  # the attacker has many networks
    seen: dict[str, object] = {}  # every confirmation that ever reached the outbox, by file name

    def collect():
        seen.update(outbox_mails(settings.outbox_dir, "confirm"))

    def phase(offset: timedelta, *addresses: str):
        with serving(settings, port, log, T0 + offset, **env) as base:
            for address in addresses:
                for _ in range(3):  # again and again: a script does not stop at one
                    sign_up(base, address)
        collect()

    # Day 0: the attacker signs the victim up; the victim says "never email this address".
    with serving(settings, port, log, T0, **env) as base:
        sign_up(base, VICTIM)
        for address in VARIANTS:
            sign_up(base, address)
    collect()
    [first] = [m for m in seen.values() if m["To"].addresses[0].addr_spec == VICTIM]
    never = link(first, "unsubscribe")
    assert first["List-Unsubscribe"] == f"<{settings.base_url}{never}>"
    with serving(settings, port, log, T0 + timedelta(minutes=2), **env) as base:
        status, page = get(base, never)
        assert status == 200 and "Never email this address?" in page
        status, page = post(base, never, {})
        assert status == 200 and "We will not email this address again" in page
        sign_up(base, VICTIM)  # at once, again
    assert "on the do-not-contact list" in cli(settings, None, "do-not-contact", "check", VICTIM)

    # Again and again over moved time: 10 minutes, a day, a week later (the variants' gaps), then a removal, a
    # month later (the unconfirmed are purged by the run), two months later.
    phase(timedelta(minutes=5), VICTIM, *VARIANTS)
    phase(timedelta(minutes=11), VICTIM, *VARIANTS)
    phase(timedelta(hours=12), VICTIM, *VARIANTS)
    phase(timedelta(days=1, minutes=12), VICTIM, *VARIANTS)
    cli(settings, T0 + timedelta(days=2), "subscribers", "remove", VICTIM)
    phase(timedelta(days=2, minutes=5), VICTIM)
    phase(timedelta(days=9), VICTIM, *VARIANTS)
    purged = cli(settings, T0 + timedelta(days=40), "run")
    assert "purged 3 unconfirmed sign-ups older than 30 days" in purged  # the variants' pending rows
    phase(timedelta(days=40, hours=1), VICTIM, *VARIANTS)

    to = Counter(m["To"].addresses[0].addr_spec for m in seen.values())
    assert to == Counter({VICTIM: 1} | {address: 3 for address in VARIANTS})  # 1, then never; 3 each for life
    for address in VARIANTS:  # the gaps grow: 10 minutes, then a day
        dates = sorted(m["Date"].datetime for m in seen.values() if m["To"].addresses[0].addr_spec == address)
        minutes = [timedelta(minutes=(d - T0) // timedelta(minutes=1)) for d in dates]  # (a server starts in seconds)
        assert minutes == [timedelta(0), timedelta(minutes=11), timedelta(days=1, minutes=12)]

    # Many addresses at once: the hourly budget stops confirmations, says so as an ERROR, and holds the hour.
    crowd = [f"person{i}@example.org" for i in range(BUDGET + 8)]
    with serving(settings, port, log, T0 + timedelta(days=60), **env) as base:
        for address in crowd:
            sign_up(base, address)
    collect()
    reached = {m["To"].addresses[0].addr_spec for m in seen.values()} & set(crowd)
    assert len(reached) == BUDGET
    assert log.read_text().count("mail budget exceeded") == len(crowd) - BUDGET
    total = len(seen)
    assert total == 1 + 3 * len(VARIANTS) + BUDGET
    print(f"mail-bomb sequence: {total} confirmation mails in all, victim 1, each plus-variant 3, "
          f"budget {BUDGET} of {len(crowd)}")
