"""Every kind of message the product sends, built through the real code paths from hostile test data.

Listings go in through the importer, subscribers through `upsert`; digests come out of `preview` (the
Composer the weekly run uses), the test send out of `preview.test_send`, the confirmation out of
`notices.confirmation_message`. The clock is the real one, truncated to the hour: SpamAssassin compares
the Date header with the time it runs (DATE_IN_FUTURE_*), so a fixed date in the future would score points
no real message ever gets.
"""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session

from digest import db, tokens
from digest.listings import import_listings
from digest.notices import confirmation_message
from digest.preview import preview, test_send
from digest.render import clean_text, http_url
from digest.settings import Settings
from digest.subscribers import SubscriberIn, upsert
from digest.taxonomy import Taxonomy
from digest.carriers.null import RecordingTransport

STRICT = email.policy.default.clone(raise_on_defect=True)
MAX_JOBS = Settings.max_jobs  # DIGEST_MAX_JOBS default: the most listings one digest shows

XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
WORDS = "Senior Staff Backend Platform Engineer Ledger API Distributed Systems Payments Infrastructure "
HEADER_INJECTION = "\r\nBcc: attacker@evil.example\r\nX-Injected: yes"


def long_title(i: int, lead: str = "") -> str:
    """A 500-character title, the longest the size budget is measured with."""
    return (f"{lead}{i:02d} " + WORDS * 10)[:500]


def long_company(i: int) -> str:
    return f'Globex "International" Holdings & Subsidiaries Worldwide Consolidated Group {i:02d}'


def _listing(id_: str, stack: str, verified_at: datetime, **fields) -> dict:
    base = {
        "id": id_, "title": "Backend Engineer", "company": f"Company {id_}",
        "url": f"https://jobs.example.org/jobs/{id_}?utm_source=digest&utm_medium=email",
        "posted_at": (verified_at - timedelta(hours=2)).isoformat(), "verified": True,
        "verified_at": verified_at.isoformat(), "stack": [stack], "level": "senior",
        "location": "Remote - Europe", "salary": "€85,000 – €105,000",
    }
    return base | fields


def listings(now: datetime) -> list[dict]:
    """The week's board: one stack per message type, so each subscriber's match count is known."""
    at = now - timedelta(days=1)
    out = [
        # digest-1: one listing, long fields, an emoji and right-to-left text in the title
        _listing("rust-0", "rust", at, title=long_title(0, "🦀 مهندس Rust ‏"), company=long_company(0)),
        # digest-5 (and the test send): every hostile value of the issue
        _listing("go-0", "go", at, title=XSS, company='Smith & "Sons" <b>Ltd</b>'),
        _listing("go-1", "go", at - timedelta(minutes=1), title="مهندس Go خلفية\u202eevil\u200b role",
                 company="Zero\u200bWidth\u2066Co\u2069 & Partners", location="Worldwide"),
        _listing("go-2", "go", at - timedelta(minutes=2), title="🚀 Go Engineer 👩‍💻 (Payments) 🇪🇺",
                 company="Café Zürich GmbH", salary=None, level=None),
        _listing("go-3", "go", at - timedelta(minutes=3), title=long_title(3, "Go "),
                 company='Acme "Quotes" & Ampersands, Inc.'),
        _listing("go-4", "go", at - timedelta(minutes=4), title=f"Line{HEADER_INJECTION}\tand\x0bcontrols",
                 company=f"Break{HEADER_INJECTION}", url='https://jobs.example.org/jobs/go-4?a="x"&b=<y>'),
    ]
    # digest-15: more than the maximum, every field long, so the size budget is the worst case
    out += [_listing(f"py-{i:02d}", "python", at - timedelta(minutes=i), title=long_title(i),
                     company=long_company(i), location="Europe · UK · Worldwide · UTC-1 to UTC+3",
                     salary="€90,000 – €120,000 per year") for i in range(MAX_JOBS + 3)]
    # the empty-ish digest: a subscriber whose slot shows one listing and "+N more"
    out += [_listing(f"java-{i}", "java", at - timedelta(minutes=i), title=f"Java Backend Engineer {i}",
                     company=f"Kafka & Co {i}") for i in range(4)]
    return out


# email -> (name, stack, confirmed): names carry CR/LF and non-ASCII, since they reach the To header
SUBSCRIBERS = {
    "one@example.net": ("Zoë Ångström-Łukasiewicz 🚀", "rust", True),
    "five@example.net": (f"Eve{HEADER_INJECTION}", "go", True),
    "max@example.net": ('Max "The Hammer" O\'Neil, Jr.', "python", True),
    "few@example.net": (None, "java", True),
    "new@example.net": (f"María José{HEADER_INJECTION}", "python", False),
}
TEST_SEND_TO = "qa@example.org"
DIGESTS = ("digest-1", "digest-5", f"digest-{MAX_JOBS}", "digest-emptyish", "test-send")
NAMES = (*DIGESTS, "confirmation")  # every kind of message the product sends


@dataclass(frozen=True)
class Listed:
    """One listing as the board sent it (the raw, hostile values)."""

    title: str
    company: str
    url: str


@dataclass(frozen=True)
class Sample:
    """One message as it would leave, with what it must say."""

    name: str
    kind: str  # "digest" or "confirmation"
    raw: bytes
    subscriber_name: str | None
    listings: tuple[Listed, ...] = ()  # shown, in order
    more: int = 0  # the "+N more" count
    links: dict[str, str] = field(default_factory=dict)  # purpose -> the URL the message must carry
    unsubscribe: str = ""

    @cached_property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=STRICT)

    @cached_property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @cached_property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()


def quality_settings(tmp: Path) -> Settings:
    """Production-like settings: https links, our own From domain."""
    return Settings(
        database_url=f"sqlite:///{tmp / 'quality.db'}", outbox_dir=tmp / "outbox",
        base_url="https://mail.example.org", board_url="https://jobs.example.org",
        from_addr="Backend Jobs Weekly <digest@example.org>", secret_keys=("quality-gate-signing-key",),
    )


def build(tmp: Path, taxonomy: Taxonomy, now: datetime | None = None) -> dict[str, Sample]:
    """Load the hostile board and subscribers into a fresh database; return every message type."""
    now = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    settings = quality_settings(tmp)
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    board = listings(now)
    path = tmp / "listings.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in board) + "\n", encoding="utf-8")
    raw_by_id = {r["id"]: Listed(r["title"], r["company"], r["url"]) for r in board}
    samples: dict[str, Sample] = {}
    try:
        with Session(engine) as s:
            report = import_listings(s, str(path), taxonomy, now - timedelta(hours=1))
            assert not report.rejected, report.rejected
            subs = {}
            for addr, (name, stack, confirmed) in SUBSCRIBERS.items():
                data = SubscriberIn.model_validate({"email": addr, "name": name, "stack": [stack],
                                                    "confirmed": confirmed, "timezone": "UTC"})
                subs[addr], _ = upsert(s, data, taxonomy, settings, now - timedelta(days=30))
            s.commit()

            def links(addr: str) -> dict[str, str]:
                sub = subs[addr]
                return {p: f"{settings.base_url}/{p}/{tokens.sign(settings.secret_keys, p, sub.id, sub.token_version)}"
                        for p in ("preferences", "unsubscribe")}

            def digest(name: str, addr: str, st: Settings = settings, **kw) -> Sample:
                p = preview(s, st, taxonomy, addr, now, **kw)
                assert p.message is not None, f"{addr} has no digest at {now}"
                return _digest_sample(name, p.message.raw, subs[addr].name, p.match, raw_by_id, links(addr))

            samples["digest-1"] = digest("digest-1", "one@example.net")
            samples["digest-5"] = digest("digest-5", "five@example.net")
            samples[f"digest-{MAX_JOBS}"] = digest(f"digest-{MAX_JOBS}", "max@example.net")
            samples["digest-emptyish"] = digest("digest-emptyish", "few@example.net", settings.with_(max_jobs=1))

            transport = RecordingTransport()
            p, _ = test_send(s, settings, taxonomy, transport, "five@example.net", TEST_SEND_TO, now)
            ((_key, to, raw),) = transport.sent
            assert to == TEST_SEND_TO
            # A test copy's links all lead to the page that changes nothing (subscribers/test_copy.py).
            inert = {k: f"{settings.base_url}/test-copy/{k}" for k in ("preferences", "unsubscribe")}
            samples["test-send"] = _digest_sample("test-send", raw, None, p.match, raw_by_id, inert)

            new = subs["new@example.net"]
            confirm_token = tokens.sign(settings.secret_keys, "confirm", new.id, new.token_version, issued_at=now)
            samples["confirmation"] = Sample(
                name="confirmation", kind="confirmation", raw=confirmation_message(settings, taxonomy, new, now),
                subscriber_name=new.name, unsubscribe=links("new@example.net")["unsubscribe"],
                links={"confirm": f"{settings.base_url}/confirm/{confirm_token}",
                       "unsubscribe": links("new@example.net")["unsubscribe"]},
            )
    finally:
        engine.dispose()
    assert samples["digest-1"].listings and len(samples["digest-5"].listings) == 5
    assert len(samples[f"digest-{MAX_JOBS}"].listings) == MAX_JOBS
    assert len(samples["digest-emptyish"].listings) == 1 and samples["digest-emptyish"].more == 3
    return samples


def _digest_sample(name, raw, subscriber_name, match, raw_by_id, links) -> Sample:
    shown = tuple(raw_by_id[listing.board_id] for listing in match.listings)
    links = dict(links, board="https://jobs.example.org")
    return Sample(name=name, kind="digest", raw=raw, subscriber_name=subscriber_name, listings=shown,
                  more=match.total - len(shown), links=links, unsubscribe=links["unsubscribe"])


def shown_title(value: str) -> str:
    """A listing title as the templates show it."""
    return clean_text(value) or "Untitled role"


def shown_url(value: str) -> str | None:
    return http_url(value)


def shown_company(value: str) -> str:
    return clean_text(value)
