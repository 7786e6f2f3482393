"""What the public pages may mail (SQLite and PostgreSQL): "never email this address" for good, lifetime caps with
growing gaps, the hourly budget, the latest sign-up's preferences, /manage, the purge, and the operator's side
(`digest do-not-contact`, audited). Mail leaves after the answer; the test client waits for it."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import contact, tokens
from digest.models import AuditEntry, ContactCount, DoNotContact, MailRequest, Signup, Subscriber

from .conftest import NOW
from .support.cli import digest as cli
from .support.web import FORM, ONE_CLICK, Page, mail_link


def sign_up(web, address: str, **fields) -> int:
    """Sign up through the form; return how many mails this one caused."""
    before = len(web.transport.sent)
    r = web.post_form("/subscribe", {"email": address, "timezone": "UTC"} | fields)
    assert r.status_code == 200 and Page(r.data).h1 == "Check your inbox"
    return len(web.transport.sent) - before


def mails_to(web, address: str) -> list:
    return [m for m in web.mails() if m["To"].addresses[0].addr_spec.lower() == address.lower()]


def never_email(web, address: str) -> None:
    """Follow the latest confirmation mail's "never email this address" link and press its button."""
    path = mail_link(mails_to(web, address)[-1], "unsubscribe")
    page = Page(web.client.get(path).data)
    assert page.h1 == "Never email this address?" and page.form(path)["buttons"] == ["Never email this address"]
    done = Page(web.post_form(path).data)
    assert done.h1 == "We will not email this address again"
    assert "subscribe me again" not in done.text  # no undo offered: the list is lifted by an operator only


# --- never email this address -------------------------------------------------------------------------------

def test_never_email_this_address_holds_through_re_sign_ups_and_removal(web, db_url, tmp_path):
    assert sign_up(web, "victim@example.com", stack="php") == 1
    never_email(web, "victim@example.com")
    row = web.by_email("victim@example.com")
    assert row["status"] == "unsubscribed"
    for days in (0, 1, 30):
        web.clock.now = NOW + timedelta(days=days, minutes=11)
        assert sign_up(web, "victim@example.com", stack="python") == 0
    assert web.by_email("victim@example.com")["stack"] == ["php"]  # the attacker's wishes never landed either
    stored = web.dump()["do_not_contact"]
    assert len(stored) == 1 and "victim" not in repr(stored)  # a keyed hash, not the address
    assert cli(db_url, tmp_path, "subscribers", "remove", "victim@example.com").exit_code == 0
    assert web.dump()["do_not_contact"] == stored  # survives removal
    assert sign_up(web, "victim@example.com") == 0 and web.by_email("victim@example.com") is None
    # An operator's import does not mail it either, even as "confirmed": it comes in unsubscribed.
    people = tmp_path / "people.csv"
    people.write_text("email,confirmed\nvictim@example.com,true\n")
    assert cli(db_url, tmp_path, "subscribers", "import", str(people)).exit_code == 0
    assert web.by_email("victim@example.com")["status"] == "unsubscribed"
    assert len(mails_to(web, "victim@example.com")) == 1


def test_an_active_subscriber_who_leaves_is_not_put_on_the_list(web, add_subscriber):
    """Leaving a digest is not "never email me": signing up again later takes a confirmation, within the caps."""
    sid = add_subscriber("left@example.com", stack=["rust"])
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    assert web.client.post(path, data=ONE_CLICK, content_type=FORM).status_code == 200
    assert web.dump()["do_not_contact"] == []
    assert sign_up(web, "left@example.com", stack="go") == 1


def test_the_operator_lifts_the_entry_and_it_is_audited(web, db_url, tmp_path):
    sign_up(web, "back@example.com")
    never_email(web, "back@example.com")
    check = cli(db_url, tmp_path, "do-not-contact", "check", "back@Example.COM")
    assert check.stdout.startswith("back@example.com: on the do-not-contact list since ")
    assert "(link); confirmation mails 1 of 3" in check.stdout
    lifted = cli(db_url, tmp_path, "do-not-contact", "remove", "back@example.com", now=NOW + timedelta(days=3))
    assert lifted.exit_code == 0
    assert lifted.stdout == ("back@example.com: removed from the do-not-contact list; 1 counted mail forgotten: "
                             "the pages may mail it again\n")
    with Session(web.engine) as s:
        [entry] = s.scalars(select(AuditEntry)).all()
        assert (entry.command, entry.target_kind, entry.at) == ("do-not-contact remove", "do-not-contact",
                                                                NOW + timedelta(days=3))
        assert entry.detail == {"was_listed": True, "mails_forgotten": 1}
        assert "back@" not in entry.target  # a keyed hash: the audit log keeps no address of a person who said no
    found = cli(db_url, tmp_path, "audit", "--target", "back@example.com")
    assert "do-not-contact remove" in found.stdout
    web.clock.now = NOW + timedelta(days=3)
    assert sign_up(web, "back@example.com") == 1  # their own sign-up, now that they asked for it
    again = cli(db_url, tmp_path, "do-not-contact", "remove", "nobody@example.com")
    assert again.exit_code == 1
    assert again.stderr.strip() == ("Error: nobody@example.com is not on the do-not-contact list and has had no "
                                    "mail counted")


def test_the_operator_can_put_an_address_on_the_list(web, db_url, tmp_path, add_subscriber):
    """A person who writes in ("stop mailing me"): unsubscribed at once, never mailed by the pages again."""
    add_subscriber("writes-in@example.com")
    added = cli(db_url, tmp_path, "do-not-contact", "add", "writes-in@example.com")
    assert added.stdout == "writes-in@example.com is now on the do-not-contact list\n"
    assert web.by_email("writes-in@example.com")["status"] == "unsubscribed"
    assert sign_up(web, "writes-in@example.com") == 0
    assert cli(db_url, tmp_path, "do-not-contact", "add", "writes-in@example.com").stdout.endswith("already on the list\n")
    with Session(web.engine) as s:
        assert [e.command for e in s.scalars(select(AuditEntry))] == ["do-not-contact add"]
    bad = cli(db_url, tmp_path, "do-not-contact", "check", "not-an-address")
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: 'not-an-address' is not a valid email address")


def test_entries_made_under_an_old_key_still_hold_after_rotation(settings, engine):
    with Session(engine) as s:
        contact.add(s, settings, "rotated@example.com", "link", NOW)
        s.commit()
    rotated = settings.with_(secret_keys=("a-brand-new-signing-key-0123456789",) + settings.secret_keys)
    with Session(engine) as s:
        assert contact.listed(s, rotated, "ROTATED@example.com") is not None
        s.commit()
        keys = set(s.scalars(select(DoNotContact.email_hash)))
    assert keys == {contact.ref(k, "rotated@example.com") for k in rotated.secret_keys}  # copied under the new key


# --- lifetime caps and the budget ---------------------------------------------------------------------------

def test_confirmations_are_capped_for_life_with_growing_gaps(web, db_url, tmp_path):
    schedule = [(0, 1), (5, 0), (11, 1), (60, 0), (24 * 60 + 10, 0), (24 * 60 + 12, 1), (9 * 24 * 60, 0)]
    for minutes, mailed in schedule:
        web.clock.now = NOW + timedelta(minutes=minutes)
        assert sign_up(web, "eager@example.com") == mailed, minutes
    # The purge forgets the unconfirmed row, not the count: a sign-up after it is still capped.
    purged = cli(db_url, tmp_path, "subscribers", "purge-pending", now=NOW + timedelta(days=40))
    assert purged.stdout == "purged 1 unconfirmed sign-up older than 30 days\n"
    assert web.by_email("eager@example.com") is None
    web.clock.now = NOW + timedelta(days=41)
    assert sign_up(web, "eager@example.com") == 0
    assert sign_up(web, "eager+2@example.com") == 1  # another address, another (capped) allowance
    assert len(mails_to(web, "eager@example.com")) == 3


def test_the_hourly_budget_stops_confirmations_and_logs_an_error(web, caplog):
    web.app.extensions["digest"].settings = web.settings.with_(confirm_budget=3)
    with caplog.at_level(logging.ERROR, logger="digest.contact"):
        sent = [sign_up(web, f"crowd{i}@example.com") for i in range(5)]
        assert sent == [1, 1, 1, 0, 0]
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert [r.getMessage() for r in errors] == [
            "mail budget exceeded: the pages sent their hourly budget, this mail is not sent"] * 2
        assert errors[0].budget == 3 and "crowd" not in repr(vars(errors[0]))
        assert web.by_email("crowd4@example.com") is None  # nothing stored for a mail that did not go
        web.clock.advance(minutes=61)
        assert sign_up(web, "crowd4@example.com") == 1  # the hour has moved on


# --- pending-squatting: the latest sign-up decides -----------------------------------------------------------

def test_a_confirmation_applies_the_preferences_it_was_sent_with(web):
    assert sign_up(web, "squat@example.com", stack="php", level="intern") == 1  # someone else, first
    web.clock.advance(minutes=11)
    assert sign_up(web, "squat@example.com", stack="go", level="senior", region="europe") == 1  # the person
    first, second = mails_to(web, "squat@example.com")
    assert "PHP" in first.get_body(("plain",)).get_content()
    assert "Go · Senior · Europe" in second.get_body(("plain",)).get_content()
    row = web.by_email("squat@example.com")
    assert (row["status"], row["stack"]) == ("pending", ["php"])  # nothing applied before a click
    assert web.post_form(mail_link(second, "confirm")).status_code == 200
    row = web.by_email("squat@example.com")
    assert (row["status"], row["stack"], row["levels"], row["regions"]) == ("active", ["go"], ["senior"], ["europe"])
    with Session(web.engine) as s:
        assert [sg.confirmed_at for sg in s.scalars(select(Signup).order_by(Signup.id))] == [None, NOW + timedelta(minutes=11)]
    # The squatter's own link, clicked later by the person: their click, their choice (it is their mailbox).
    page = Page(web.client.get(mail_link(first, "confirm")).data)
    assert page.form(mail_link(first, "confirm"))["buttons"]


def test_an_unconfirmed_person_who_says_never_withdraws_every_sign_up(web):
    sign_up(web, "both@example.com", stack="php")
    web.clock.advance(minutes=11)
    sign_up(web, "both@example.com", stack="go")
    links = [mail_link(m, "confirm") for m in mails_to(web, "both@example.com")]
    never_email(web, "both@example.com")
    for path in links:
        assert web.client.get(path).status_code == 404
        assert web.post_form(path).status_code == 404
    assert web.by_email("both@example.com")["status"] == "unsubscribed" and web.dump()["signups"] == []


def test_an_expired_link_renews_within_the_caps_for_the_same_sign_up(web):
    sign_up(web, "late@example.com", stack="go")
    expired = mail_link(mails_to(web, "late@example.com")[-1], "confirm")
    web.clock.advance(days=8)
    assert web.post_form(expired).status_code == 410
    assert web.post_form(expired + "/renew").status_code == 200
    fresh = mail_link(mails_to(web, "late@example.com")[-1], "confirm")
    claims = tokens.verify(web.settings.secret_keys, fresh.rsplit("/", 1)[1], "confirm")
    assert claims.signup_id == tokens.verify(web.settings.secret_keys, expired.rsplit("/", 1)[1], "confirm").signup_id
    assert web.post_form(fresh).status_code == 200 and web.by_email("late@example.com")["stack"] == ["go"]
    with Session(web.engine) as s:
        assert s.get(ContactCount, (contact.ref(web.settings.secret_keys[0], "late@example.com"), "confirm")).sent == 2


# --- /manage ------------------------------------------------------------------------------------------------

def test_manage_mails_a_subscriber_their_links_and_answers_alike_for_anyone(web, add_subscriber):
    sid = add_subscriber("lost@example.com", stack=["go"])
    form = Page(web.client.get("/manage").data)
    assert form.h1 == "Lost your links?" and form.form("/manage")["buttons"] == ["Email me my links"]
    assert form.runs_only_own_scripts()
    answers = {}
    for address in ("lost@example.com", "nobody@example.com"):
        r = web.post_form("/manage", {"email": address})
        answers[address] = (r.status_code, r.data.replace(address.encode(), b"ADDRESS"))
    assert answers["lost@example.com"] == answers["nobody@example.com"]
    assert Page(answers["nobody@example.com"][1]).h1 == "Check your inbox"
    [msg] = web.mails()
    assert msg["To"].addresses[0].addr_spec == "lost@example.com" and msg["Subject"].endswith("links")
    prefs = mail_link(msg, "preferences")
    assert web.client.get(prefs).status_code == 200
    assert mail_link(msg, "unsubscribe") == f"/unsubscribe/{web.token('unsubscribe', sid)}"
    # The same caps: again at once nothing, 11 minutes later the second, then a day's pause.
    assert web.post_form("/manage", {"email": "lost@example.com"}).status_code == 200 and len(web.mails()) == 1
    web.clock.advance(minutes=11)
    web.post_form("/manage", {"email": "lost@example.com"})
    assert len(web.mails()) == 2
    assert web.dump()["mail_requests"] == []


def test_manage_never_mails_the_pending_the_unsubscribed_or_the_listed(web, add_subscriber):
    add_subscriber("pending@example.com", confirmed=False)
    left = add_subscriber("left@example.com")
    web.set(left, status="unsubscribed", unsubscribed_at=NOW)
    sign_up(web, "never@example.com")
    never_email(web, "never@example.com")
    before = len(web.mails())
    for address in ("pending@example.com", "left@example.com", "never@example.com"):
        assert web.post_form("/manage", {"email": address}).status_code == 200
    assert len(web.mails()) == before


def test_manage_refuses_a_bad_form_and_counts_against_the_network_limit(web):
    r = web.post_form("/manage", {"email": "not an address"})
    assert r.status_code == 400 and "email:" in Page(r.data).text
    web.app.extensions["digest"].settings = web.settings.with_(signup_limit=2)
    assert [web.post_form("/manage", {"email": f"p{i}@example.com"}).status_code for i in range(3)] == [200, 200, 429]
    assert web.post_form("/subscribe", {"email": "x@example.com", "timezone": "UTC"}).status_code == 429


# --- the page answers first, the request waits in the database -----------------------------------------------

def test_a_request_stored_but_not_handled_is_sent_by_the_next_process(settings, engine):
    """A crash between the answer and the mail: the request is in the database; the next start sends it."""
    from digest.carriers.null import RecordingTransport
    from subscribers.mailer import SqsMailer

    from .support.web import make_app

    unsent = make_app(settings, engine, transport=RecordingTransport())
    unsent.extensions["digest"].mailer = SqsMailer("https://sqs.invalid/never", sqs=Failing())
    client = unsent.test_client()
    assert client.post("/subscribe", data={"email": "kept@example.com", "timezone": "UTC"},
                       content_type=FORM).status_code == 200
    with Session(engine) as s:
        assert [r.email for r in s.scalars(select(MailRequest))] == ["kept@example.com"]
        assert s.scalar(select(Subscriber)) is None  # nothing decided in the request
    transport = RecordingTransport()
    restarted = make_app(settings, engine, transport=transport)
    mailer = restarted.extensions["digest"].mailer
    mailer.start()
    mailer.close()
    assert [to for _k, to, _raw in transport.sent] == ["kept@example.com"]
    with Session(engine) as s:
        assert s.scalar(select(MailRequest)) is None


class Failing:
    def send_message(self, **_kw):
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="https://sqs.invalid/never")


@pytest.mark.parametrize("days, purged", [(29, 0), (31, 1)])
def test_digest_run_purges_unconfirmed_sign_ups_after_30_days(web, db_url, tmp_path, days, purged):
    sign_up(web, "maybe@example.com")
    run = cli(db_url, tmp_path, "run", now=NOW + timedelta(days=days))
    assert run.exit_code == 0
    assert ("purged 1 unconfirmed sign-up older than 30 days" in run.stdout) == bool(purged)
    assert (web.by_email("maybe@example.com") is None) == bool(purged)
