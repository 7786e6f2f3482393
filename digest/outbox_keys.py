"""The names messages go by, in the outbox and the ledger: made here only, so erasing a person finds them all.

    <period>/<id>                      a weekly digest ("2026-W48/123"): also its ledger key
    test/<period>-<id>-<time>          a test send of that digest (`digest test-send`)
    confirm/<id>-<time>, links/<id>-<time>   notices (kind/...)
"""

from __future__ import annotations

import re
from datetime import datetime

_TIME = "%Y%m%dT%H%M%S"
_ID = re.compile(r"(\d+)(?:-\d{8}T\d{6})?$")  # the id at the end of any stem above, before its time if any
NOTICE_KINDS = ("confirm", "links")


def digest_key(period: str, subscriber_id: int) -> str:
    """The key of one subscriber's digest for one week."""
    return f"{period}/{subscriber_id}"


def notice_key(kind: str, subscriber_id: int, at: datetime) -> str:
    """The key of a notice (a confirmation or links mail) sent at `at`."""
    return f"{kind}/{subscriber_id}-{at:{_TIME}}"


def test_key(period: str, subscriber_id: int, at: datetime) -> str:
    """The key of a test send of a subscriber's digest, sent at `at`."""
    return f"test/{period}-{subscriber_id}-{at:{_TIME}}"


def subscriber_of(stem: str) -> int | None:
    """The subscriber id a message's file stem names, or None."""
    m = _ID.search(stem)
    return int(m.group(1)) if m else None


def file_patterns(subscriber_id: int) -> list[str]:
    """Glob patterns, under the outbox, of every file of a message to this subscriber."""
    return ([f"*/{subscriber_id}.eml", f"*/{subscriber_id}.html", f"test/*-{subscriber_id}-*.*"]
            + [f"{kind}/{subscriber_id}-*.*" for kind in NOTICE_KINDS])
