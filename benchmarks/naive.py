"""The naive baseline: the simplest correct weekly run a newcomer would write from DESIGN.md.

For each active subscriber, one query for this week's ledger row (and for fortnightly people one for their first
digest's week), one for the previous digest's cutoff, one for the listings already sent and two for their "not
for me" jobs and hidden companies; a Python scan of every listing applying the rules (verified, unexpired, new
since the last digest or the last 7 days, never sent before also as a repost or a twin, not "not for me" nor of
a hidden company, stack / level / role / employer / region / salary), a sort by fit then freshness, and the
first of each job kept (one job exported under two ids, same URL or same company + title, appears once), at most
DIGEST_MAX_PER_COMPANY of one company, a count of what the salary floor kept out, a why-line and feedback links
per card; the MJML compiled for every email and the result handed to Jinja; the message built with
`email.message.EmailMessage`; one ledger row (listings included) committed per message. Only the slot
arithmetic (`digest.schedule`), the taxonomy, link signing, what counts as the same URL
(`digest.matching.canonical_url`) or company (`digest.normalise.company_key`) and whether a location says more
than its regions (`digest.compose.more_precise`) are shared with the real pipeline: the baseline is about
matching, rendering, MIME and the ledger.

`tests/test_benchmark_baseline.py` holds it to the real pipeline: the same listings, in the same order.
"""

from __future__ import annotations

import email.policy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time as dtime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from mjml import mjml2html
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from digest import tokens
from digest.compose import more_precise
from digest.matching import canonical_url
from digest.models import Delivery, HiddenCompany, Listing, NotForMe, Subscriber
from digest.normalise import annual_usd, company_key
from digest.schedule import latest_slot, zone
from digest.settings import Settings
from digest.taxonomy import load_taxonomy
from digest.carriers.base import Transport

FIRST_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=28)
SMTP = email.policy.SMTP
PREHEADER_PAD = Markup("&#847;&zwnj;&nbsp;" * 40)


@dataclass
class NaiveSummary:
    due: int = 0
    sent: int = 0
    skipped_empty: int = 0
    bytes: int = 0
    contexts: list[dict] = field(default_factory=list)  # what was rendered, for the bare-Jinja floor


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class NaiveDigest:
    """One naive run at `now`: listings loaded once, everything else per subscriber."""

    def __init__(self, engine: Engine, settings: Settings, now: datetime, run_id: str = "naive"):
        self.engine, self.settings, self.now, self.run_id = engine, settings, now, run_id
        self.taxonomy = load_taxonomy()
        email_dir = Path(settings.templates_dir) / "email"
        self.mjml_source = (email_dir / "digest.mjml").read_text("utf-8")
        self.text_env = Environment(loader=FileSystemLoader(email_dir), trim_blocks=True, lstrip_blocks=True,
                                    keep_trailing_newline=True)
        with Session(engine) as s:
            self.listings = list(s.scalars(select(Listing)))
            s.expunge_all()
        self.job = self.jobs()

    def jobs(self) -> dict[str, int]:
        """Number the listings on the board this run by the job each is: ids sharing a repost key or a URL
        (also through a third listing) are one job."""
        now = self.now
        label: dict[str, int] = {}
        members: dict[int, list[str]] = {}
        holder: dict[object, str] = {}  # a repost key or a URL -> the first listing seen with it
        for listing in self.listings:
            available_at, expires_at = _aware(listing.available_at), _aware(listing.expires_at)
            if not listing.verified or available_at is None or not now - MAX_WINDOW < available_at <= now:
                continue
            if expires_at is not None and expires_at <= now:
                continue
            label[listing.board_id] = len(members)
            members[len(members)] = [listing.board_id]
            for key in (("key", listing.repost_key), ("url", canonical_url(listing.url))):
                first = holder.setdefault(key, listing.board_id)
                old, new = label[listing.board_id], label[first]
                if old != new:  # two jobs found to be one: relabel every listing of the one just seen
                    for board_id in members.pop(old):
                        label[board_id] = new
                        members[new].append(board_id)
        return label

    # -- who is due -------------------------------------------------------------------------------------
    def due(self, s: Session, sub: Subscriber):
        """This week's slot if the subscriber is due now, else None."""
        slot = latest_slot(self.now, sub.timezone, sub.send_day, sub.send_hour)
        starts = _aware(sub.confirmed_at) or datetime(1970, 1, 1, tzinfo=UTC)
        if sub.paused_until is not None:
            starts = max(starts, datetime.combine(sub.paused_until, dtime(0), tzinfo=zone(sub.timezone)).astimezone(UTC))
        if slot.at < starts:
            return None
        if sub.cadence == "fortnightly" and not self.fortnight_week(s, sub, slot.period):
            return None
        row = s.scalars(select(Delivery).where(Delivery.subscriber_id == sub.id, Delivery.period == slot.period)).first()
        if row is not None:
            return None  # the baseline runs on a fresh week: no claims or failures to take over
        return slot

    def fortnight_week(self, s: Session, sub: Subscriber, period: str) -> bool:
        """Every second ISO week from the first sent digest (weeks counted by their Mondays); no digest yet: due."""
        first = s.scalar(select(func.min(Delivery.period)).where(Delivery.subscriber_id == sub.id,
                                                                 Delivery.status == "sent"))
        if first is None:
            return True
        monday = lambda p: date.fromisocalendar(int(p[:4]), int(p[6:]), 1)  # noqa: E731
        return (monday(period) - monday(first)).days // 7 % 2 == 0

    def history(self, s: Session, sub: Subscriber) -> tuple[datetime, set[str], set[int]]:
        """Where this subscriber's window starts, and what they were already sent (ids and repost keys)."""
        cutoff = s.scalar(select(func.max(Delivery.cutoff)).where(Delivery.subscriber_id == sub.id,
                                                                  Delivery.status == "sent"))
        since = max(_aware(cutoff) or self.now - FIRST_WINDOW, self.now - MAX_WINDOW)
        horizon = self.now - timedelta(weeks=self.settings.history_weeks)
        rows = [pair for listings in s.scalars(select(Delivery.listings).where(
            Delivery.subscriber_id == sub.id, Delivery.status == "sent", Delivery.cutoff >= horizon)) for pair in listings or ()]
        # Jobs they marked "not for me" are left out as if sent (reposts and twins too).
        rows += s.execute(select(NotForMe.board_id, NotForMe.repost_key).where(NotForMe.subscriber_id == sub.id)).all()
        return since, {r[0] for r in rows}, {r[1] for r in rows}

    def hidden(self, s: Session, sub: Subscriber) -> set[str]:
        """The companies (as company_key folds them) this subscriber hid."""
        return set(s.scalars(select(HiddenCompany.company_key).where(HiddenCompany.subscriber_id == sub.id)))

    # -- what they get ----------------------------------------------------------------------------------
    def choose(self, sub: Subscriber, since: datetime, sent_ids: set[str], sent_keys: set[int],
               hidden: set[str] = frozenset()):
        """Scan every listing; return the best DIGEST_MAX_JOBS and how many fit in all."""
        now = self.now
        sent_jobs = {self.job[listing.board_id] for listing in self.listings
                     if listing.board_id in self.job and (listing.board_id in sent_ids or listing.repost_key in sent_keys
                                                    or (hidden and company_key(listing.company) in hidden))}
        fits = []
        below_floor: set[int] = set()  # jobs that fit everything but the salary floor
        for listing in self.listings:
            available_at, expires_at = _aware(listing.available_at), _aware(listing.expires_at)
            if not listing.verified or available_at is None or available_at > now or available_at <= since:
                continue
            if expires_at is not None and expires_at <= now:
                continue
            if listing.board_id in sent_ids or listing.repost_key in sent_keys:
                continue
            if self.job[listing.board_id] in sent_jobs:  # a twin of it was sent
                continue
            if sub.stack and not set(sub.stack) & set(listing.stack):
                continue
            if sub.levels and listing.level is not None and listing.level not in sub.levels:
                continue
            if sub.roles and listing.role_type is not None and listing.role_type not in sub.roles:
                continue
            if sub.employers and listing.employer_type not in sub.employers:
                continue
            if sub.regions and not set(sub.regions) & set(listing.regions) and "worldwide" not in listing.regions:
                continue
            usd = annual_usd(listing.salary_max or listing.salary_min, listing.salary_currency, self.taxonomy) if listing.salary_currency else None
            if sub.min_salary:
                if usd is None and sub.hide_no_salary:
                    continue
                if usd is not None and usd < sub.min_salary:
                    below_floor.add(self.job[listing.board_id])
                    continue
            elif sub.hide_no_salary and usd is None:
                continue
            overlap = sum(1 for t in sub.stack if t in listing.stack)
            level_exact = not sub.levels or listing.level in sub.levels
            role_exact = not sub.roles or listing.role_type in sub.roles
            region_exact = not sub.regions or any(r in sub.regions for r in listing.regions)
            fits.append(((overlap, level_exact, role_exact, region_exact, available_at, _aware(listing.verified_at),
                          listing.board_id), listing))
        fits.sort(key=lambda f: f[0], reverse=True)
        seen_jobs: set[int] = set()
        distinct = []
        for _k, listing in fits:  # best first: the first listing of a job stands for it
            if self.job[listing.board_id] not in seen_jobs:
                seen_jobs.add(self.job[listing.board_id])
                distinct.append(listing)
        shown, per_company = [], {}
        for listing in distinct:
            company = company_key(listing.company)
            if self.settings.max_per_company and per_company.get(company, 0) >= self.settings.max_per_company:
                continue
            per_company[company] = per_company.get(company, 0) + 1
            shown.append(listing)
        self.below_floor = len(below_floor - seen_jobs)
        return shown[: self.settings.max_jobs], len(distinct)

    # -- the email --------------------------------------------------------------------------------------
    def why(self, sub: Subscriber, listing: Listing) -> str:
        taxonomy = self.taxonomy
        stack = [t for t in listing.stack if t in sub.stack] if sub.stack else list(listing.stack[:2])
        parts = [", ".join(taxonomy.stack_label(t) for t in stack),
                 taxonomy.level_label(listing.level) if listing.level else ("level not stated" if sub.levels else "")]
        if sub.roles:
            parts.append(taxonomy.role_type_labels.get(listing.role_type, listing.role_type) if listing.role_type else "role not stated")
        if sub.employers and listing.employer_type:
            parts.append(taxonomy.employer_type_labels.get(listing.employer_type, listing.employer_type))
        if sub.regions:
            shared = [taxonomy.region_label(r) for r in listing.regions if r in sub.regions]
            parts.append(", ".join(shared) or taxonomy.region_label("worldwide"))
        usd = annual_usd(listing.salary_max or listing.salary_min, listing.salary_currency, taxonomy) if listing.salary_currency else None
        if (sub.min_salary or sub.hide_no_salary) and usd is None:
            parts.append("salary not stated")
        return " · ".join(p for p in parts if p)

    def context(self, sub: Subscriber, chosen: list[Listing], total: int, slot, since: datetime) -> dict:
        taxonomy, settings = self.taxonomy, self.settings
        link = lambda purpose: f"{settings.base_url}/{purpose}/{tokens.sign(settings.secret_keys, purpose, sub.id, sub.token_version)}"  # noqa: E731
        regions = lambda listing: " · ".join(taxonomy.region_label(r) for r in listing.regions)  # noqa: E731
        feedback = lambda purpose, listing: f"{settings.base_url}/feedback/{tokens.sign_listing(settings.secret_keys, purpose, sub.id, sub.token_version, listing.id)}"  # noqa: E731
        jobs = [{
            "title": listing.title, "company": listing.company, "href": listing.url,
            "not_for_me_href": feedback("not_for_me", listing), "hide_href": feedback("hide_company", listing),
            "location": regions(listing) if regions(listing) and not more_precise(listing.location, taxonomy) else (listing.location or "Remote")[:80],
            "level": taxonomy.level_label(listing.level) if listing.level else "", "salary": listing.salary_display or "",
            "stack": ", ".join(taxonomy.stack_label(t) for t in listing.stack), "posted": f"{listing.posted_at:%b} {listing.posted_at.day}",
            "verified": f"{listing.verified_at:%b} {listing.verified_at.day}",
            "role": taxonomy.role_type_labels.get(listing.role_type, "") if listing.role_type else "",
            "employer": taxonomy.employer_type_labels.get(listing.employer_type, "") if listing.employer_type else "",
            "why": self.why(sub, listing),
        } for listing in chosen]
        summary = " · ".join([
            ", ".join(taxonomy.stack_label(t) for t in sub.stack) or "Any stack",
            ", ".join(taxonomy.level_label(v) for v in sub.levels) or "any level",
            ", ".join(taxonomy.region_label(r) for r in sub.regions) or "anywhere",
        ] + [", ".join(labels.get(v, v) for v in chosen) for labels, chosen in
             ((taxonomy.role_type_labels, sub.roles), (taxonomy.employer_type_labels, sub.employers)) if chosen]
          + ([f"from ${sub.min_salary // 1000}k"] if sub.min_salary else []))
        query = {k: ",".join(v) for k, v in (("stack", sub.stack), ("level", sub.levels), ("region", sub.regions)) if v}
        query["since"] = since.date().isoformat()
        local = slot.at.astimezone(zone(sub.timezone)).date()
        monday = local - timedelta(days=local.weekday())
        more = total - len(jobs)
        companies = list(dict.fromkeys(j["company"] for j in jobs))
        intro = f"{total} new job{'s' if total != 1 else ''} matched your alert this week."
        return {
            "board_name": "Backend Jobs Weekly", "board_href": settings.board_url,
            "preferences_href": link("preferences"), "unsubscribe_href": link("unsubscribe"),
            "more_href": f"{settings.board_url}/search?{urlencode(query)}" if more else None,
            "to_email": sub.email, "greeting_name": sub.name or "there",
            "week_label": f"week of {monday:%b} {monday.day}, {monday.year}", "summary": summary,
            "intro": intro + (f" Here are the top {len(jobs)}." if more else ""), "jobs": jobs, "total": total,
            "more_count": more, "more_noun": "match" if more == 1 else "matches", "below_floor": self.below_floor,
            "below_floor_line": f"{self.below_floor} more job{'s' if self.below_floor != 1 else ''} matched but fell under"
                                " your salary floor." if self.below_floor else "",
            "subject": f"{total} new backend job{'s' if total != 1 else ''} for you: {summary[:60]}",
            "preheader": f"{total} new remote roles this week: {', '.join(companies[:3])}",
            "preheader_pad": PREHEADER_PAD,
        }

    def render_html(self, ctx: dict) -> str:
        """Compile the MJML and the Jinja template for this email, then render it."""
        compiled = mjml2html(self.mjml_source, disable_comments=True, fonts={})
        return Environment(autoescape=True).from_string(compiled).render(ctx)

    def render_text(self, ctx: dict) -> str:
        return self.text_env.get_template("digest.txt").render(ctx)

    def build(self, sub: Subscriber, ctx: dict, period: str, text: str, html: str) -> bytes:
        """The message through Python's email package."""
        settings = self.settings
        domain = settings.from_domain
        msg = EmailMessage()
        msg["From"] = settings.from_addr
        msg["To"] = f"{sub.name} <{sub.email}>" if sub.name else sub.email
        msg["Subject"] = ctx["subject"]
        msg["Date"] = format_datetime(self.now)
        msg["Message-ID"] = f"<{hashlib.sha256(f'{period}/{sub.id}'.encode()).hexdigest()[:32]}@{domain}>"
        msg["List-Unsubscribe"] = f"<{ctx['unsubscribe_href']}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["List-Id"] = f"{parseaddr(settings.from_addr)[0]} <weekly.{domain}>"
        msg["Feedback-ID"] = f"weekly:{period}:{domain}"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return msg.as_bytes(policy=SMTP)

    def record(self, s: Session, sub: Subscriber, slot, since: datetime, chosen: list[Listing], total: int,
               message_id: str | None) -> None:
        """One ledger row (and its listings) per subscriber, committed on its own."""
        d = Delivery(subscriber_id=sub.id, period=slot.period, status="sent" if chosen else "empty",
                     run_id=self.run_id, slot_at=slot.at, window_start=since, cutoff=self.now, claimed_at=self.now,
                     sent_at=self.now if chosen else None, attempts=1, listing_count=len(chosen),
                     total_matches=total, message_id=message_id,
                     listings=[[listing.board_id, listing.repost_key] for listing in chosen] or None)
        s.add(d)
        s.commit()

    # -- the run ----------------------------------------------------------------------------------------
    def one(self, s: Session, sub: Subscriber, transport: Transport, summary: NaiveSummary, keep: int) -> None:
        slot = self.due(s, sub)
        if slot is None:
            return
        summary.due += 1
        since, sent_ids, sent_keys = self.history(s, sub)
        chosen, total = self.choose(sub, since, sent_ids, sent_keys, self.hidden(s, sub))
        if not chosen:
            self.record(s, sub, slot, since, chosen, total, None)
            summary.skipped_empty += 1
            return
        ctx = self.context(sub, chosen, total, slot, since)
        raw = self.build(sub, ctx, slot.period, self.render_text(ctx), self.render_html(ctx))
        transport.send(f"{slot.period}/{sub.id}", sub.email, raw)
        start = raw.find(b"\r\nMessage-ID: ") + 14
        self.record(s, sub, slot, since, chosen, total, raw[start : raw.find(b"\r\n", start)].decode())
        summary.sent += 1
        summary.bytes += len(raw)
        if len(summary.contexts) < keep:
            summary.contexts.append(ctx)

    def run(self, transport: Transport, *, every: int = 1, limit: int | None = None, keep_contexts: int = 0) -> NaiveSummary:
        """Send to every `every`-th active subscriber (by id), at most `limit` of them."""
        summary = NaiveSummary()
        with Session(self.engine, expire_on_commit=False) as s:
            ids = list(s.scalars(select(Subscriber.id).where(Subscriber.status == "active").order_by(Subscriber.id)))
            for sid in ids[::every][:limit]:
                self.one(s, s.get(Subscriber, sid), transport, summary, keep_contexts)
        return summary


NAIVE_STAGES = (
    ("select", "benchmarks.naive", "NaiveDigest.due"),
    ("select", "benchmarks.naive", "NaiveDigest.history"),
    ("match", "benchmarks.naive", "NaiveDigest.choose"),
    ("render html", "benchmarks.naive", "NaiveDigest.render_html"),
    ("render text", "benchmarks.naive", "NaiveDigest.render_text"),
    ("build message", "benchmarks.naive", "NaiveDigest.build"),
    ("compose (content, links, headers)", "benchmarks.naive", "NaiveDigest.context"),
    ("ledger write", "benchmarks.naive", "NaiveDigest.record"),
)
