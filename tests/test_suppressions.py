"""`digest suppressions list|remove`: operators see the suppression list (hashes, reasons, dates), ask whether
one address is on it, and lift a mistaken or forged entry, which restores the subscriber and is audited."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import lifecycle, subscribers as subs
from digest.models import Subscriber

from .conftest import NOW, listing, read_outbox
from .support.sns import record_sent
from .support.cli import digest, json_lines
from .support.sns import ses


def complain_and_bounce(db_url, engine, tmp_path, add_subscriber) -> None:
    """angry@ complained about a digest we sent, gone@ bounced one; happy@ is fine."""
    for address in ("angry@example.com", "gone@example.com", "happy@example.com"):
        add_subscriber(address)
    record_sent(engine, "angry@example.com", ses("event-complaint")["mail"]["messageId"])
    record_sent(engine, "gone@example.com", ses("event-bounce-permanent")["mail"]["messageId"])
    path = tmp_path / "feedback.json"
    path.write_text(json.dumps([ses("event-complaint"), ses("event-bounce-permanent")]), encoding="utf-8")
    assert "suppressed 2" in digest(db_url, tmp_path, "feedback", str(path)).stdout


def row(engine, address: str) -> Subscriber:
    with Session(engine) as s:
        return s.scalar(select(Subscriber).where(Subscriber.email_key == address))


def test_the_list_shows_hashes_reasons_and_dates_and_answers_for_one_address(db_url, engine, tmp_path,
                                                                             add_subscriber):
    complain_and_bounce(db_url, engine, tmp_path, add_subscriber)
    listed = digest(db_url, tmp_path, "suppressions", "list")
    assert listed.exit_code == 0
    assert sorted(listed.stdout.splitlines()) == sorted([
        f"{subs.address_hash('angry@example.com')[:16]}  complaint     2026-11-23T09:00:00Z",
        f"{subs.address_hash('gone@example.com')[:16]}  bounce        2026-11-23T09:00:00Z"])
    assert "@" not in listed.stdout
    as_json = json_lines(digest(db_url, tmp_path, "suppressions", "list", "--json").stdout)
    assert {(e["email_hash"], e["reason"]) for e in as_json} == {
        (subs.address_hash("angry@example.com"), "complaint"), (subs.address_hash("gone@example.com"), "bounce")}
    assert digest(db_url, tmp_path, "suppressions", "list", "Angry@Example.com").stdout == (
        "Angry@Example.com is suppressed: complaint since 2026-11-23T09:00:00Z\n")
    assert digest(db_url, tmp_path, "suppressions", "list", "happy@example.com").stdout == (
        "happy@example.com is not suppressed\n")
    assert json_lines(digest(db_url, tmp_path, "suppressions", "list", "happy@example.com", "--json").stdout) == [
        {"email": "happy@example.com", "suppressed": False}]


def test_remove_lifts_a_complaint_restores_the_subscriber_and_is_audited(db_url, engine, tmp_path, settings,
                                                                         add_subscriber, add_listings):
    complain_and_bounce(db_url, engine, tmp_path, add_subscriber)
    assert (row(engine, "angry@example.com").status, row(engine, "angry@example.com").unsubscribed_at) == (
        "suppressed", NOW)
    later = NOW + timedelta(hours=1)
    result = digest(db_url, tmp_path, "suppressions", "remove", "angry@example.com", now=later)
    assert (result.exit_code, result.stdout) == (
        0, "lifted angry@example.com: complaint since 2026-11-23T09:00:00Z; subscriber active again\n")
    angry = row(engine, "angry@example.com")
    assert (angry.status, angry.unsubscribed_at, angry.suppressed_at, angry.suppression_reason) == (
        "active", None, None, None)
    assert digest(db_url, tmp_path, "suppressions", "list", "angry@example.com").stdout == (
        "angry@example.com is not suppressed\n")
    assert row(engine, "gone@example.com").status == "suppressed"  # only the one asked for
    audited = json_lines(digest(db_url, tmp_path, "audit", "--target", "angry@example.com", "--json").stdout)
    assert [(e["command"], e["target_kind"], e["detail"]["reason"], e["detail"]["status"]) for e in audited] == [
        ("suppressions remove", "suppression", "complaint", "active")]
    assert "angry@" not in audited[0]["target"]  # named by a keyed hash, as removed people are
    # And the week's run mails them again.
    add_listings(listing("py-1"))
    assert digest(db_url, tmp_path, "run", "--now", (NOW + timedelta(days=7)).isoformat()).exit_code == 0
    sent = {m["To"].addresses[0].addr_spec for m in read_outbox(tmp_path / "outbox").values()}
    assert "angry@example.com" in sent and "gone@example.com" not in sent


def test_remove_refuses_an_address_not_on_the_list_or_one_that_left_by_itself(db_url, engine, tmp_path,
                                                                              add_subscriber):
    add_subscriber("left@example.com")
    with Session(engine) as s:
        lifecycle.unsubscribe(subs.get(s, "left@example.com"), NOW)
        s.commit()
        subs.remove(s, subs.get(s, "left@example.com"))
        s.commit()
    for address, message in (("nobody@example.com", "nobody@example.com is not on the suppression list"),
                             ("left@example.com", "left@example.com left the list themselves (then was removed): "
                                                  "only their own sign-up brings them back"),
                             ("not an address", "'not an address' is not a valid email address")):
        result = digest(db_url, tmp_path, "suppressions", "remove", address)
        assert result.exit_code == 1 and result.stderr.startswith(f"Error: {message}")
    assert "unsubscribed" in digest(db_url, tmp_path, "suppressions", "list").stdout
