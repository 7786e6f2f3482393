"""What a subscriber's journey in the browser reads and writes: links in the mail in the outbox, their row, listings
fresh a day before a moment, the js/no-js parametrisation and screenshots written only when they changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.models import Subscriber

from ..conftest import listing, read_outbox
from .content import Anchors


JS = pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])



def html_part(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content()



def link(msg: EmailMessage, text: str) -> str:
    """The href of the HTML part's first link whose text is exactly `text`."""
    parser = Anchors()
    parser.feed(html_part(msg))
    hrefs = [href for href, label in parser.links if label == text]
    assert hrefs, f"no link {text!r} in the message; links: {parser.links}"
    return hrefs[0]



def digests(settings, to: str) -> dict[str, EmailMessage]:
    """The weekly digests in the outbox addressed to `to`, by period, oldest first."""
    return {key.split("/")[0]: msg for key, msg in read_outbox(settings.outbox_dir).items()
            if not key.startswith("confirm/") and to in str(msg["To"])}



def subscriber(engine, address: str) -> Subscriber:
    with Session(engine) as s:
        return s.scalars(select(Subscriber).where(Subscriber.email_key == address.lower())).one()



def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")



def fresh(id: str, at: datetime, **fields) -> dict:
    """A listing posted and verified a day before `at`."""
    return listing(id, posted_at=iso(at - timedelta(days=1, hours=2)), verified_at=iso(at - timedelta(days=1)),
                   **fields)



def save_png(path: Path, png: bytes) -> None:
    """Write only when the picture changed (a refresh of docs/screenshots then touches only what changed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != png:
        path.write_bytes(png)
