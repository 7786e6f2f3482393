"""The subscriber web app through Flask's test client, on SQLite and PostgreSQL: what a subscriber sees on
the page, what an operator finds in the database, and what left through the transport."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import tokens
from digest.models import Delivery
from digest.run import run
from digest.carriers.null import RecordingTransport

from .conftest import NOW, listing, listing_ids
from .support.web import (
    BASE_PREFS, FORM, MULTIPART, ONE_CLICK, ONE_CLICK_MULTIPART, TOKEN_ROUTES, Page, mail_link, parse_mail,
)


def run_now(web, now=NOW) -> dict[int, list[str]]:
    """Run the weekly digest at `now`; return the listing ids each subscriber received."""
    sent = RecordingTransport()
    run(web.settings, now, engine=web.engine, transport=sent)
    out = {}
    for key, _to, raw in sent.sent:
        out[int(key.rsplit("/", 1)[1])] = listing_ids(parse_mail(raw))
    return out


def signed_up(web, address="new@example.com", **fields) -> tuple[int, str]:
    """Sign up through the form; return the new subscriber's id and the path of the confirmation link."""
    before = len(web.transport.sent)
    r = web.post_form("/subscribe", {"email": address, "timezone": "UTC"} | fields)
    assert r.status_code == 200, r.data
    assert len(web.transport.sent) == before + 1
    return web.by_email(address)["id"], mail_link(web.mails()[-1], "confirm")


# --- /healthz and the unknown ---------------------------------------------------------------------------

def test_healthz_answers_ok_and_only_reads(web):
    r = web.client.get("/healthz")
    assert (r.status_code, r.json) == (200, {"status": "ok"})
    head = web.client.head("/healthz")
    assert (head.status_code, head.data) == (200, b"")
    post = web.client.post("/healthz")
    assert post.status_code == 405
    assert Page(post.data).h1 == "Not allowed"


def test_an_unknown_path_is_a_clear_page(web):
    r = web.client.get("/no/such/page")
    page = Page(r.data)
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert page.h1 == "This link is not valid"
    assert "/subscribe" in page.links


# --- /subscribe ------------------------------------------------------------------------------------------

def test_the_sign_up_form_offers_every_choice(web, taxonomy):
    r = web.client.get("/subscribe")
    assert r.status_code == 200
    page = Page(r.data)
    form = page.form("/subscribe")
    assert (form["method"], form["buttons"]) == ("post", ["Subscribe"])
    assert page.tags[0] == ("html", {"lang": "en"})
    assert {"email", "timezone"} <= page.labels_for
    assert [i["type"] for i in page.inputs if i.get("name") == "email"] == ["email"]
    for name, values in (("stack", taxonomy.stacks), ("level", taxonomy.levels), ("region", taxonomy.regions)):
        assert [i["value"] for i in page.inputs if i.get("name") == name] == list(values)
        assert page.checked(name) == set()
    assert page.selected("timezone") == ["UTC"]
    assert {"Europe/Berlin", "America/New_York", "Asia/Kolkata"} <= set(page.options("timezone"))
    assert web.client.get("/").data == r.data


def test_sign_up_creates_a_pending_subscriber_and_sends_a_confirmation(web):
    r = web.post_form("/subscribe", {"email": "Ana@Example.com", "stack": ["python", "go"], "level": "senior",
                                     "region": "europe", "timezone": "Europe/Berlin"})
    assert r.status_code == 200
    page = Page(r.data)
    assert page.h1 == "Check your inbox"
    assert "Ana@example.com" in page.text
    row = web.by_email("ana@example.com")
    assert {k: row[k] for k in ("status", "stack", "levels", "regions", "timezone", "source", "confirmed_at",
                                "confirm_sent_at")} == {
        "status": "pending", "stack": ["go", "python"], "levels": ["senior"], "regions": ["europe"],
        "timezone": "Europe/Berlin", "source": "web", "confirmed_at": None, "confirm_sent_at": NOW}
    [msg] = web.mails()
    assert [a.addr_spec for a in msg["To"].addresses] == ["Ana@example.com"]
    assert msg["Subject"].startswith("Confirm your")
    path = mail_link(msg, "confirm")
    claims = tokens.verify(web.settings.secret_keys, path.rsplit("/", 1)[1], "confirm")
    assert (claims.subscriber_id, claims.issued_at) == (row["id"], NOW)
    assert "/unsubscribe/" in msg["List-Unsubscribe"]


def test_the_answer_is_the_same_whatever_the_address_already_is(web):
    """Byte for byte, status and headers too: the page never tells whether someone is subscribed."""
    form = {"email": "same@example.com", "stack": "python", "timezone": "UTC"}

    def answer():
        r = web.post_form("/subscribe", form)
        return r.status_code, sorted(r.headers.items()), r.data

    answers = {"new": answer()}
    sid = web.by_email("same@example.com")["id"]
    answers["pending"] = answer()
    web.set(sid, status="active", confirmed_at=NOW)
    answers["active"] = answer()
    web.set(sid, paused_until=date(2027, 1, 10))
    answers["paused"] = answer()
    web.set(sid, status="unsubscribed", unsubscribed_at=NOW, paused_until=None)
    answers["unsubscribed"] = answer()
    web.set(sid, status="suppressed")
    answers["suppressed"] = answer()
    assert answers["new"][0] == 200
    for state, got in answers.items():
        assert got == answers["new"], state


def test_at_most_one_confirmation_mail_per_address_in_ten_minutes(web):
    form = {"email": "eager@example.com", "timezone": "UTC"}
    first = web.post_form("/subscribe", form)
    assert len(web.transport.sent) == 1
    web.clock.advance(minutes=5)
    again = web.post_form("/subscribe", form)
    assert (again.status_code, again.data) == (first.status_code, first.data)
    assert len(web.transport.sent) == 1
    other = web.post_form("/subscribe", {"email": "other@example.com", "timezone": "UTC"})
    assert other.status_code == 200 and len(web.transport.sent) == 2  # the limit is per address
    web.clock.advance(minutes=6)
    web.post_form("/subscribe", form)
    assert [to for _k, to, _raw in web.transport.sent] == ["eager@example.com", "other@example.com",
                                                         "eager@example.com"]
    assert web.by_email("eager@example.com")["confirm_sent_at"] == NOW + timedelta(minutes=11)
    latest = mail_link(web.mails()[-1], "confirm")
    assert web.post_form(latest).status_code == 200
    assert web.by_email("eager@example.com")["status"] == "active"


def test_two_workers_signing_up_one_new_address_make_one_row_and_one_mail(web, taxonomy):
    """Two processes (two `digest serve`s, two Lambdas) handle sign-ups of one new address at once: the loser of
    the insert starts over and finds the row, so there is one row, one sign-up and one confirmation."""
    import threading

    from sqlalchemy import event

    from digest import page_mail
    from digest.subscribers import SubscriberIn, upsert

    form = {"email": "twice@example.com", "timezone": "UTC"}
    with Session(web.engine) as s:
        request_id = page_mail.enqueue(s, "signup", NOW, email=form["email"], data=SubscriberIn.model_validate(form)).id
        s.commit()
    first = Session(web.engine)  # the other process: row written, not yet committed
    upsert(first, SubscriberIn.model_validate(form), taxonomy, web.settings, NOW, source="web")
    first.flush()
    # PostgreSQL: the worker gets as far as its own insert (then loses it); SQLite: writers queue up at the first.
    wanted = "INSERT INTO SUBSCRIBERS" if web.engine.dialect.name == "postgresql" else "DELETE FROM MAIL_REQUESTS"
    writing = threading.Event()

    def spot(_conn, _cursor, statement, *_):
        if statement.lstrip().upper().startswith(wanted):
            writing.set()

    event.listen(web.engine, "before_cursor_execute", spot)
    outcome = {}

    def work():
        with Session(web.engine, expire_on_commit=False) as s:
            outcome["r"] = page_mail.handle(s, web.settings, taxonomy, web.transport, request_id, web.clock)

    worker = threading.Thread(target=work)
    try:
        worker.start()
        assert writing.wait(10)
        first.commit()
        worker.join(30)
    finally:
        first.close()
        event.remove(web.engine, "before_cursor_execute", spot)
    assert outcome["r"] == page_mail.Outcome("signup", "sent")
    rows = web.dump()
    assert len(rows["subscribers"]) == 1 and len(rows["signups"]) == 1 and rows["mail_requests"] == []
    assert [to for _k, to, _raw in web.transport.sent] == ["twice@example.com"]


@pytest.mark.parametrize("status", ["active", "suppressed"])
def test_a_sign_up_form_never_changes_an_existing_subscription(web, add_subscriber, status):
    sid = add_subscriber("keep@example.com", stack=["rust"], level=["lead"], timezone="Asia/Tokyo",
                         send_day="friday", send_hour=7, min_salary=150000)
    web.set(sid, status=status)
    before = web.dump()
    r = web.post_form("/subscribe", {"email": "KEEP@example.com", "stack": "python", "region": "us",
                                     "timezone": "UTC"})
    assert r.status_code == 200
    after = web.dump()
    # Counted against the client's sign-up limit like any sign-up (else the limit would tell known from unknown).
    assert len(after.pop("rate_limit_hits")) == len(before.pop("rate_limit_hits")) + 1
    assert after == before
    assert web.transport.sent == []


def test_an_unsubscribed_person_can_sign_up_again_and_nothing_changes_until_they_confirm(web, add_subscriber):
    sid = add_subscriber("back@example.com", stack=["rust"])
    web.set(sid, status="unsubscribed", unsubscribed_at=NOW - timedelta(days=3))
    same_sid, path = signed_up(web, "back@example.com", stack="python")
    assert same_sid == sid
    row = web.row(sid)
    # Anyone can type an address: the row keeps its state and preferences until the mailbox confirms.
    assert (row["status"], row["stack"]) == ("unsubscribed", ["rust"])
    assert "Python" in web.mails()[-1].get_body(("plain",)).get_content()  # the mail says what they would get
    assert web.post_form(path).status_code == 200
    row = web.row(sid)
    assert (row["status"], row["stack"], row["unsubscribed_at"]) == ("active", ["python"], None)


@pytest.mark.parametrize("fields, message", [
    ({"timezone": "UTC"}, "email: please give your email address"),
    ({"email": "not-an-address", "timezone": "UTC"}, "email: An email address must have an @-sign."),
    ({"email": "a@example.com", "stack": ["python", "cobol"], "timezone": "UTC"}, "unknown stack 'cobol'"),
    ({"email": "a@example.com", "stack": "python", "timezone": "Mars/Base"}, "unknown timezone 'Mars/Base'"),
    ({"email": "a@example.com", "level": "guru", "timezone": "UTC"}, "unknown level 'guru'"),
])
def test_a_bad_sign_up_form_is_shown_again_with_the_problem(web, fields, message):
    before = web.dump()
    r = web.post_form("/subscribe", fields)
    assert r.status_code == 400
    page = Page(r.data)
    assert page.h1 == "Get remote backend jobs weekly"
    assert message in page.text
    assert page.value("email") == fields.get("email", "")
    assert page.checked("stack") == ({"python"} if "python" in fields.get("stack", ()) else set())
    assert web.dump() == before and web.transport.sent == []


# --- /confirm ----------------------------------------------------------------------------------------------

def test_the_confirmation_link_shows_a_button_and_changes_nothing(web):
    sid, path = signed_up(web)
    before = web.dump()
    r = web.client.get(path)
    assert r.status_code == 200
    page = Page(r.data)
    assert page.h1 == "Confirm your subscription"
    assert page.form(path) == {"method": "post", "action": path, "buttons": ["Confirm my subscription"]}
    assert web.client.head(path).status_code == 200
    assert web.dump() == before
    assert web.row(sid)["status"] == "pending"


def test_the_confirm_button_activates_once(web):
    sid, path = signed_up(web)
    web.clock.advance(hours=2)
    r = web.post_form(path)
    assert r.status_code == 200
    page = Page(r.data)
    assert page.h1 == "You are subscribed"
    row = web.row(sid)
    assert (row["status"], row["confirmed_at"]) == ("active", NOW + timedelta(hours=2))
    [prefs] = [link for link in page.links if link.startswith("/preferences/")]
    assert "new@example.com" in Page(web.client.get(prefs).data).text
    web.clock.advance(days=1)
    before = web.dump()
    assert web.post_form(path).status_code == 200  # twice is harmless
    assert web.dump() == before
    again = Page(web.client.get(path).data)
    assert again.h1 == "You are already confirmed" and again.forms == []


def test_a_confirmed_sign_up_receives_the_next_digest(web, add_listings):
    web.clock.now = NOW - timedelta(days=2)
    sid, path = signed_up(web, stack="python")
    web.post_form(path)
    add_listings(listing("py-1", stack=["python"]), listing("go-1", stack=["go"]))
    assert run_now(web) == {sid: ["py-1"]}


def test_confirming_a_suppressed_address_does_not_claim_success(web):
    sid, path = signed_up(web)
    web.set(sid, status="suppressed")  # the confirmation mail bounced, say
    r = web.post_form(path)
    assert web.row(sid)["status"] == "suppressed"
    assert r.status_code < 500 and Page(r.data).h1 != "You are subscribed"


def test_a_confirmation_link_works_for_seven_days(web):
    sid, path = signed_up(web)
    web.clock.advance(days=6, hours=23)
    assert web.client.get(path).status_code == 200
    assert web.post_form(path).status_code == 200
    assert web.row(sid)["status"] == "active"


def test_an_expired_confirmation_link_offers_a_new_one(web):
    sid, path = signed_up(web)
    web.clock.advance(days=8)
    before = web.dump()
    r = web.client.get(path)
    assert r.status_code == 410
    page = Page(r.data)
    assert page.h1 == "This confirmation link has expired"
    assert page.form(path + "/renew") == {"method": "post", "action": path + "/renew",
                                          "buttons": ["Send me a new link"]}
    assert web.post_form(path).status_code == 410
    assert web.dump() == before and web.row(sid)["status"] == "pending"

    renewed = web.post_form(path + "/renew")
    assert renewed.status_code == 200 and Page(renewed.data).h1 == "Check your inbox"
    assert len(web.transport.sent) == 2
    web.clock.advance(minutes=1)
    web.post_form(path + "/renew")  # pressed twice: still one mail in ten minutes
    assert len(web.transport.sent) == 2
    fresh = mail_link(web.mails()[-1], "confirm")
    assert fresh != path
    assert web.client.get(fresh).status_code == 200
    assert web.post_form(fresh).status_code == 200
    assert web.row(sid)["status"] == "active"


# --- /preferences ------------------------------------------------------------------------------------------

def test_the_preferences_page_shows_the_current_choices(web, add_subscriber, taxonomy):
    sid = add_subscriber("p@example.com", stack=["python", "go"], level=["senior"], region=["europe"],
                         timezone="Europe/Berlin", send_day="friday", send_hour=7, min_salary=90000,
                         hide_no_salary=True)
    web.set(sid, paused_until=date(2026, 12, 24))
    before = web.dump()
    path = f"/preferences/{web.token('preferences', sid)}"
    r = web.client.get(path)
    assert r.status_code == 200
    page = Page(r.data)
    assert "For p@example.com · status: paused" in page.text
    assert [i["value"] for i in page.inputs if i.get("name") == "stack"] == list(taxonomy.stacks)
    assert page.checked("stack") == {"python", "go"}
    assert page.checked("level") == {"senior"}
    assert page.checked("region") == {"europe"}
    assert page.selected("timezone") == ["Europe/Berlin"]
    assert page.selected("send_day") == ["friday"]
    assert page.selected("send_hour") == ["7"]
    assert page.value("min_salary") == "90000"
    assert page.checked("hide_no_salary") == {"1"}
    assert page.value("paused_until") == "2026-12-24"
    assert {"timezone", "send_day", "send_hour", "min_salary", "paused_until"} <= page.labels_for
    assert page.form(path)["buttons"] == ["Save preferences"]
    assert web.dump() == before


def test_saved_preferences_drive_the_very_next_run(web, add_subscriber, add_listings):
    usd = dict(salary_currency="USD", salary_period="year")
    add_listings(
        listing("py-1", stack=["python"]),
        listing("go-rich", stack=["go"], salary_min=140000, salary_max=180000, **usd),
        listing("go-poor", stack=["go"], salary_min=40000, salary_max=60000, **usd),
        listing("go-unknown", stack=["go"]),
    )
    sid = add_subscriber("p@example.com", stack=["python"])
    path = f"/preferences/{web.token('preferences', sid)}"
    r = web.post_form(path, BASE_PREFS | {"stack": "go", "min_salary": "100000", "hide_no_salary": "1"})
    assert r.status_code == 200
    page = Page(r.data)
    assert "Saved. Your next digest uses these choices." in page.text
    assert page.checked("stack") == {"go"} and page.value("min_salary") == "100000"
    row = web.row(sid)
    assert (row["stack"], row["min_salary"], row["hide_no_salary"]) == (["go"], 100000, True)
    assert run_now(web) == {sid: ["go-rich"]}


def test_a_new_day_hour_and_timezone_move_the_delivery(web, add_subscriber, add_listings):
    add_listings(listing("py-1"))
    sid = add_subscriber("p@example.com")
    path = f"/preferences/{web.token('preferences', sid)}"
    r = web.post_form(path, BASE_PREFS | {"timezone": "America/New_York", "send_day": "sunday", "send_hour": "6"})
    assert r.status_code == 200
    assert run_now(web) == {sid: ["py-1"]}
    with Session(web.engine) as s:
        d = s.scalars(select(Delivery)).one()
        # Sunday 06:00 in New York (EST) is 11:00 UTC; that Sunday belongs to ISO week 47.
        assert (d.period, d.slot_at) == ("2026-W47", datetime(2026, 11, 22, 11, tzinfo=UTC))


@pytest.mark.parametrize("field, value, message", [
    ("stack", "cobol", "unknown stack 'cobol'"),
    ("level", "guru", "unknown level 'guru'"),
    ("region", "mars", "unknown region 'mars'"),
    ("send_hour", "25", "send_hour: Input should be less than or equal to 23"),
    ("send_day", "funday", "unknown day 'funday'"),
    ("timezone", "Mars/Base", "unknown timezone 'Mars/Base'"),
    ("timezone", "", "timezone: please choose your timezone"),
    ("min_salary", "abc", "min_salary: Input should be a valid integer"),
    ("min_salary", "-5", "min_salary: Input should be greater than or equal to 0"),
    ("hide_no_salary", "yes", "hide_no_salary: must be checked or not"),
    ("paused_until", "tomorrow", "paused_until: not a date (YYYY-MM-DD)"),
    ("paused_until", "2029-11-23", "paused_until: pause for at most a year"),
])
def test_invalid_preferences_are_named_and_nothing_is_saved(web, add_subscriber, field, value, message):
    sid = add_subscriber("p@example.com", stack=["rust"], timezone="Europe/Berlin")
    path = f"/preferences/{web.token('preferences', sid)}"
    before = web.dump()
    r = web.post_form(path, BASE_PREFS | {field: value})
    assert r.status_code == 400
    page = Page(r.data)
    assert page.h1 == "Your digest preferences"
    assert "Please fix" in page.text and message in page.text
    assert "Saved." not in page.text
    assert page.form(path)["buttons"] == ["Save preferences"]
    assert web.dump() == before


def test_a_pause_date_is_kept_and_a_past_one_ends_the_pause(web, add_subscriber, add_listings):
    add_listings(listing("py-1"))
    sid = add_subscriber("p@example.com")
    other = add_subscriber("q@example.com")
    path = f"/preferences/{web.token('preferences', sid)}"
    assert web.post_form(path, BASE_PREFS | {"paused_until": "2026-12-10"}).status_code == 200
    assert web.row(sid)["paused_until"] == date(2026, 12, 10)
    assert "status: paused" in Page(web.client.get(path).data).text
    assert run_now(web) == {other: ["py-1"]}
    assert web.post_form(path, BASE_PREFS | {"paused_until": "2026-11-01"}).status_code == 200
    assert web.row(sid)["paused_until"] is None


def test_preferences_change_only_preferences(web, add_subscriber):
    """Fields the form does not have (address, status, consent) are ignored, never stored."""
    sid = add_subscriber("p@example.com", confirmed=False)
    path = f"/preferences/{web.token('preferences', sid)}"
    r = web.post_form(path, BASE_PREFS | {"email": "attacker@example.com", "status": "active", "confirmed": "true",
                                          "token_version": "7", "name": "Mallory", "source": "x"})
    assert r.status_code == 200
    row = web.row(sid)
    assert {k: row[k] for k in ("email", "status", "confirmed_at", "token_version", "name", "source")} == {
        "email": "p@example.com", "status": "pending", "confirmed_at": None, "token_version": 1, "name": None,
        "source": "import"}
    web.set(sid, status="unsubscribed")
    assert web.post_form(path, BASE_PREFS).status_code == 200
    assert web.row(sid)["status"] == "unsubscribed"  # saving preferences is not a way back in


# --- /unsubscribe ------------------------------------------------------------------------------------------

def test_the_unsubscribe_page_offers_gentler_choices_and_changes_nothing(web, add_subscriber):
    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    before = web.dump()
    r = web.client.get(path)
    assert r.status_code == 200
    page = Page(r.data)
    assert page.h1 == "Unsubscribe from Backend Jobs Weekly?"
    assert "u@example.com" in page.text
    assert page.form(path) == {"method": "post", "action": path, "buttons": ["Unsubscribe"]}
    assert page.form(path + "/pause") == {"method": "post", "action": path + "/pause",
                                          "buttons": ["Pause for a month"]}
    [prefs] = [link for link in page.links if link.startswith("/preferences/")]
    assert web.client.get(prefs).status_code == 200
    assert web.dump() == before


def test_the_unsubscribe_button_stops_mail_at_once(web, add_subscriber, add_listings):
    add_listings(listing("py-1"))
    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    r = web.post_form(path)
    assert r.status_code == 200
    page = Page(r.data)
    assert page.h1 == "You are unsubscribed"
    assert page.form(path + "/resubscribe")["buttons"] == ["That was a mistake: subscribe me again"]
    row = web.row(sid)
    assert (row["status"], row["unsubscribed_at"]) == ("unsubscribed", NOW)
    assert run_now(web) == {}


@pytest.mark.parametrize("content_type, body", [(FORM, ONE_CLICK), (MULTIPART, ONE_CLICK_MULTIPART)],
                         ids=["urlencoded", "multipart"])
def test_one_click_unsubscribe_exactly_as_mail_providers_send_it(web, add_subscriber, content_type, body):
    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    r = web.client.post(path, data=body, content_type=content_type)
    assert r.status_code == 200
    assert "Location" not in r.headers and "Set-Cookie" not in r.headers
    assert web.row(sid)["status"] == "unsubscribed"
    before = web.dump()
    web.clock.advance(days=2)
    again = web.client.post(path, data=body, content_type=content_type)
    assert again.status_code == 200 and "Location" not in again.headers
    assert web.dump() == before  # the first unsubscribe time stays
    assert web.transport.sent == []


def test_resubscribe_after_unsubscribing(web, add_subscriber, add_listings):
    add_listings(listing("py-1"))
    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    web.clock.now = NOW - timedelta(hours=3)  # Monday 06:00: before this week's 08:00 slot
    web.client.post(path, data=ONE_CLICK, content_type=FORM)
    web.clock.advance(minutes=1)
    r = web.post_form(path + "/resubscribe")
    assert r.status_code == 200
    assert Page(r.data).h1 == "Welcome back"
    row = web.row(sid)
    assert (row["status"], row["unsubscribed_at"]) == ("active", None)
    assert run_now(web) == {sid: ["py-1"]}


def test_a_suppressed_address_stays_suppressed(web, add_subscriber):
    sid = add_subscriber("bounced@example.com")
    web.set(sid, status="suppressed")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    r = web.post_form(path + "/resubscribe")
    assert r.status_code == 400 and Page(r.data).h1 == "We cannot email this address"
    assert web.client.post(path, data=ONE_CLICK, content_type=FORM).status_code == 200
    assert web.row(sid)["status"] == "suppressed"


def test_pause_for_a_month(web, add_subscriber, add_listings):
    add_listings(listing("py-1"))
    sid = add_subscriber("u@example.com")
    other = add_subscriber("v@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    r = web.post_form(path + "/pause")
    assert r.status_code == 200
    assert Page(r.data).h1 == "Paused until December 23, 2026"
    row = web.row(sid)
    assert (row["status"], row["paused_until"]) == ("active", NOW.date() + timedelta(days=30))
    assert run_now(web) == {other: ["py-1"]}
    assert sid not in run_now(web, NOW + timedelta(days=7))


def test_pages_behind_a_link_are_neither_cached_nor_referred(web, add_subscriber):
    """The token in the URL is a key to the person's settings: it must not leak through caches or Referer."""
    sid = add_subscriber("u@example.com", confirmed=False)
    for purpose in tokens.PURPOSES:
        r = web.client.get(f"/{purpose}/{web.token(purpose, sid)}")
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]


# --- no GET or HEAD changes anything ---------------------------------------------------------------------

def test_no_get_or_head_changes_anything(web, add_subscriber, add_listings):
    add_listings(listing("py-1"))
    subs = {"active": add_subscriber("active@example.com"), "paused": add_subscriber("paused@example.com"),
            "unsubscribed": add_subscriber("gone@example.com"), "suppressed": add_subscriber("bounce@example.com")}
    run_now(web)  # deliveries, delivery items and a run row to guard too
    web.set(subs["paused"], paused_until=date(2027, 1, 1))
    web.set(subs["unsubscribed"], status="unsubscribed", unsubscribed_at=NOW)
    web.set(subs["suppressed"], status="suppressed")
    web.clock.now = NOW - timedelta(days=1)
    subs["pending"], _ = signed_up(web, "pending@example.com")
    web.clock.now = NOW
    web.transport.sent.clear()

    tokens_ = ["garbage", "A" * 43, web.token("unsubscribe", 99999), web.token("preferences", 99999),
               web.token("unsubscribe", subs["active"], keys=("another-key",))]
    for sid in subs.values():
        tokens_ += [web.token(p, sid) for p in tokens.PURPOSES]
        tokens_ += [web.token("confirm", sid, issued_at=NOW - timedelta(days=8)),
                    web.token("preferences", sid, version=2), web.token("confirm", sid, version=2)]
    paths = ["/", "/subscribe", "/subscribe?email=scanner%40example.com&timezone=UTC", "/healthz", "/nope",
             "/confirm", "/confirm/", "/preferences/", "/unsubscribe/", "/preferences/%00", "/unsubscribe/..%2f..",
             "/confirm/" + "A" * 5000, "/preferences/\u00fc\u202e", "/unsubscribe/%FF", "/static/x.css"]
    for tok in tokens_:
        for route in TOKEN_ROUTES:
            path = route.format(tok)
            paths += [path, path + "?List-Unsubscribe=One-Click", path + "/"]

    before = web.dump()
    seen = set()
    for path in paths:
        got = web.client.get(path)
        head = web.client.head(path)
        assert got.status_code < 500, path
        assert head.status_code == got.status_code and head.data == b"", path
        seen.add(got.status_code)
        if got.mimetype == "text/html":
            page = Page(got.data)
            assert page.runs_only_own_scripts(), path
            assert all(f["method"] == "post" for f in page.forms), path
    assert web.dump() == before
    assert web.transport.sent == []
    assert seen == {200, 404, 405, 410}


# --- the subscriber's say: kinds of role and employer, cadence, leaving and coming back ------------------------

def test_sign_up_offers_role_and_employer_and_a_timezone_guess_from_our_own_script(web, taxonomy):
    r = web.client.get("/subscribe")
    page = Page(r.data)
    assert {i["value"] for i in page.inputs if i.get("name") == "role"} == set(taxonomy.role_types)
    assert {i["value"] for i in page.inputs if i.get("name") == "employer"} == set(taxonomy.employer_types)
    assert page.selected("timezone") == ["UTC"]  # without JavaScript the form keeps UTC
    scripts = [a for t, a in page.tags if t == "script"]
    assert [a["src"] for a in scripts] == ["/static/timezone.js"] and page.runs_only_own_scripts()
    assert ("select", {"id": "timezone", "name": "timezone", "data-detect": ""}) in page.tags
    policy = r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    js = web.client.get("/static/timezone.js")
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert b"resolvedOptions().timeZone" in js.data
    # A form shown again with a problem keeps the visitor's own choice: no guess over it.
    again = web.post_form("/subscribe", {"email": "bad", "timezone": "Asia/Tokyo"})
    assert again.status_code == 400 and Page(again.data).selected("timezone") == ["Asia/Tokyo"]
    assert not [t for t, _a in Page(again.data).tags if t == "script"]


def test_sign_up_and_preferences_keep_role_employer_and_cadence(web, add_subscriber, add_listings):
    sid, _confirm = signed_up(web, role=["data", "Platform & infrastructure"], employer="startup")
    row = web.row(sid)
    assert (row["roles"], row["employers"], row["cadence"]) == (["data", "platform"], ["startup"], "weekly")

    other = add_subscriber("p@example.com")
    path = f"/preferences/{web.token('preferences', other)}"
    page = Page(web.client.get(path).data)
    assert page.checked("role") == page.checked("employer") == set() and page.selected("cadence") == ["weekly"]
    r = web.post_form(path, list(BASE_PREFS.items()) + [("role", "api"), ("employer", "scaleup"),
                                                        ("employer", "enterprise"), ("cadence", "fortnightly")])
    assert r.status_code == 200
    page = Page(r.data)
    assert page.checked("role") == {"api"} and page.checked("employer") == {"scaleup", "enterprise"}
    assert page.selected("cadence") == ["fortnightly"]
    row = web.row(other)
    assert (row["roles"], row["employers"], row["cadence"]) == (["api"], ["enterprise", "scaleup"], "fortnightly")


@pytest.mark.parametrize("field, value, message", [
    ("role", "frontend", "unknown role 'frontend'; allowed: api, data, platform"),
    ("employer", "charity", "unknown employer 'charity'; allowed: startup, scaleup, enterprise, agency"),
    ("cadence", "monthly", "cadence: unknown cadence 'monthly': use weekly or fortnightly"),
])
def test_an_unknown_role_employer_or_cadence_is_named_and_nothing_is_saved(web, add_subscriber, field, value,
                                                                            message):
    sid = add_subscriber("p@example.com")
    path = f"/preferences/{web.token('preferences', sid)}"
    before = web.dump()
    r = web.post_form(path, BASE_PREFS | {field: value})
    assert r.status_code == 400 and message in Page(r.data).text
    assert web.dump() == before


def test_the_confirmed_page_says_when_the_first_digest_comes(web):
    # Monday 23 November 2026, 04:00 in New York: today's 08:00 slot is still ahead.
    sid, path = signed_up(web, timezone="America/New_York")
    said = lambda r: Page(r.data).text.replace(" ,", ",").replace(" .", ".")  # noqa: E731  (<strong> splits text)
    assert "Your first digest: Monday 23 November at 08:00 (America/New_York), then every week." in said(
        web.post_form(path))
    web.set(sid, status="pending", cadence="fortnightly", send_day=2, send_hour=19)
    web.clock.advance(hours=1)
    assert "Your first digest: Wednesday 25 November at 19:00 (America/New_York), then every two weeks." in said(
        web.post_form(path))


def test_unsubscribe_with_a_reason_keeps_it_with_the_row(web, add_subscriber):
    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    page = Page(web.client.get(path).data)
    assert {i["value"] for i in page.inputs if i.get("name") == "reason"} == {
        "found-job", "too-many-emails", "not-relevant", "other"}
    assert not page.checked("reason")  # optional: nothing chosen for them
    r = web.post_form(path, {"reason": "found-job"})
    assert r.status_code == 200 and Page(r.data).h1 == "You are unsubscribed"
    row = web.row(sid)
    assert (row["status"], row["unsubscribe_reason"]) == ("unsubscribed", "found-job")


def test_unsubscribe_without_a_reason_and_one_click_record_none(web, add_subscriber):
    button, one_click = add_subscriber("a@example.com"), add_subscriber("b@example.com")
    assert web.post_form(f"/unsubscribe/{web.token('unsubscribe', button)}").status_code == 200
    r = web.client.post(f"/unsubscribe/{web.token('unsubscribe', one_click)}", data=ONE_CLICK, content_type=FORM)
    assert r.status_code == 200 and "Location" not in r.headers
    for sid in (button, one_click):
        assert (web.row(sid)["status"], web.row(sid)["unsubscribe_reason"]) == ("unsubscribed", None)


def test_an_unknown_reason_is_named_and_changes_nothing(web, add_subscriber):
    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    before = web.dump()
    r = web.post_form(path, {"reason": "spam"})
    assert r.status_code == 400
    page = Page(r.data)
    assert "reason: choose one of found-job, too-many-emails, not-relevant, other, or none" in page.text
    assert page.form(path)["buttons"] == ["Unsubscribe"]  # the page is there to try again
    assert web.dump() == before


def test_every_two_weeks_is_the_first_offer_and_keeps_them_subscribed(web, add_subscriber, add_listings):
    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    page = Page(web.client.get(path).data)
    offers = [f for f in page.forms if f["action"] != path]
    assert [(f["action"], f["buttons"]) for f in offers[:2]] == [
        (path + "/fortnightly", ["Every two weeks instead"]), (path + "/pause", ["Pause for a month"])]

    web.clock.now = NOW - timedelta(hours=3)  # Monday 06:00 UTC, before this week's 08:00 slot
    r = web.post_form(path + "/fortnightly")
    assert r.status_code == 200
    page = Page(r.data)
    assert page.h1 == "Every two weeks from now on"
    assert "Your next digest: Monday 23 November at 08:00 (UTC)" in page.text
    row = web.row(sid)
    assert (row["status"], row["cadence"]) == ("active", "fortnightly")
    assert [f for f in Page(web.client.get(path).data).forms if f["action"].endswith("/fortnightly")] == []

    add_listings(listing("py-1"))
    assert run_now(web) == {sid: ["py-1"]}  # the first fortnightly week: this one
    add_listings(listing("py-2", verified_at="2026-11-29T10:00:00Z"))
    assert run_now(web, NOW + timedelta(days=7)) == {}  # the off-week
    add_listings(listing("py-3", verified_at="2026-12-06T10:00:00Z"))
    assert run_now(web, NOW + timedelta(days=14)) == {sid: ["py-3", "py-2"]}  # both weeks' listings


def test_after_unsubscribing_the_preferences_page_says_so_and_offers_the_way_back(web, add_subscriber):
    sid = add_subscriber("u@example.com")
    prefs = f"/preferences/{web.token('preferences', sid)}"
    unsub = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    page = Page(web.client.get(prefs).data)
    assert unsub in page.links and "You are unsubscribed" not in page.text  # the way out, from the preferences

    web.post_form(unsub, {"reason": "too-many-emails"})
    page = Page(web.client.get(prefs).data)
    assert "You are unsubscribed: we send you no digests." in page.text
    assert page.form(unsub + "/resubscribe")["buttons"] == ["Subscribe me again"]
    saved = Page(web.post_form(prefs, BASE_PREFS).data)
    assert "Saved." in saved.text and "Your next digest uses these choices" not in saved.text
    assert "You are unsubscribed" in saved.text and web.row(sid)["status"] == "unsubscribed"

    back = web.post_form(unsub + "/resubscribe")
    assert Page(back.data).h1 == "Welcome back"
    row = web.row(sid)
    assert (row["status"], row["unsubscribe_reason"]) == ("active", None)
    assert "Your next digest uses these choices." in Page(web.post_form(prefs, BASE_PREFS).data).text


def test_long_after_unsubscribing_the_way_back_is_a_new_sign_up(web, add_subscriber):
    sid = add_subscriber("u@example.com")
    web.set(sid, status="unsubscribed", unsubscribed_at=NOW - timedelta(days=3))
    page = Page(web.client.get(f"/preferences/{web.token('preferences', sid)}").data)
    assert "You are unsubscribed" in page.text and "/subscribe" in page.links
    assert [f for f in page.forms if f["action"].endswith("/resubscribe")] == []
