"""No enumeration (SQLite and PostgreSQL): the sign-up, confirm and unsubscribe answers, status code, headers and
body, are the same whether an address is new, pending, active, paused, unsubscribed, suppressed, or was removed
(with or without a suppression-list entry), and whether a link names someone unknown or someone removed.

Extends tests/test_web.py's test_the_answer_is_the_same_whatever_the_address_already_is. Only the address the
sign-up page echoes back is normalised when different addresses are compared. Timing is not asserted; instead
the answer must not show work done for some addresses only: when the confirmation mail cannot be sent (the one
piece of work a new address causes), the answer is still the same page.
"""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from digest import tokens
from digest.models import Subscriber
from digest.subscribers import record_suppression, remove
from digest.carriers.base import TransportError
from digest.carriers.null import RecordingTransport

from ..conftest import NOW
from ..support.web import FORM, MULTIPART, ONE_CLICK, TOKEN_ROUTES, FakeClock, Web, make_app, multipart

STATES = ("new", "pending", "pending-mailed-just-now", "active", "paused", "unsubscribed", "suppressed",
          "removed-after-unsubscribe", "removed-after-bounce", "removed-active", "mail-failing")


class FailingTransport(RecordingTransport):
    """A carrier that refuses every message (SES throttling or an outage that outlasted the retries)."""

    def send(self, key, to, raw, tags=None):
        raise TransportError("Maximum sending rate exceeded.", "throttled")


@pytest.fixture
def site(settings, engine) -> Web:
    """The app without the per-client sign-up limit (tests/reliability/test_rate_limits.py covers that)."""
    clock, transport = FakeClock(), RecordingTransport()
    app = make_app(settings.with_(signup_limit=0), engine, transport=transport, clock=clock)
    return Web(app, app.test_client(use_cookies=False), transport, clock, engine, settings)


def put_in_state(site: Web, add_subscriber, address: str, state: str) -> None:
    """Make `address` be in `state` as the events that lead there would leave it."""
    if state in ("new", "mail-failing"):
        return
    sid = add_subscriber(address, confirmed=state != "pending" and not state.startswith("pending"))
    if state == "pending":
        site.set(sid, confirm_sent_at=NOW - timedelta(days=2))
    elif state == "pending-mailed-just-now":
        site.set(sid, confirm_sent_at=NOW - timedelta(minutes=2))
    elif state == "paused":
        site.set(sid, paused_until=date(2027, 1, 10))
    elif state in ("unsubscribed", "removed-after-unsubscribe"):
        site.set(sid, status="unsubscribed", unsubscribed_at=NOW - timedelta(days=5))
    elif state in ("suppressed", "removed-after-bounce"):
        site.set(sid, status="suppressed", suppressed_at=NOW - timedelta(days=5), suppression_reason="bounce")
    if state.startswith("removed"):
        with Session(site.engine) as s:
            remove(s, s.get(Subscriber, sid))
            s.commit()  # remove() leaves the commit to its caller
    if state == "removed-after-bounce":
        with Session(site.engine) as s:  # (remove keeps the hash; make sure it is there either way)
            record_suppression(s, address, "bounce", NOW - timedelta(days=5))
            s.commit()


def normalised(r, address: str) -> tuple:
    """The answer as a person (or a script) sees it, with the echoed address replaced."""
    body = r.get_data(as_text=True).replace(address, "ADDRESS")
    headers = sorted((k, v) for k, v in r.headers.items() if k != "Content-Length")
    return r.status_code, headers, body


def sign_up(site: Web, address: str, how: str):
    fields = [("email", address), ("stack", "python"), ("timezone", "UTC")]
    if how == "multipart":
        return site.client.post("/subscribe", data=multipart(fields), content_type=MULTIPART)
    return site.post_form("/subscribe", fields)


@pytest.mark.parametrize("how", ["urlencoded", "multipart"])
def test_the_sign_up_answer_never_tells_what_an_address_is(site, add_subscriber, how):
    addresses = {state: f"{state}@example.com" for state in STATES}
    for state, address in addresses.items():
        put_in_state(site, add_subscriber, address, state)
    answers = {}
    for state, address in addresses.items():
        typed = address.upper() if state != "new" else address  # as someone probing would type it
        if state == "mail-failing":
            site.app.extensions["digest"].transport = FailingTransport()
        try:
            r = sign_up(site, typed, how)
        finally:
            site.app.extensions["digest"].transport = site.transport
        echoed = typed.split("@")[0] + "@example.com"  # the page shows the address as typed, domain normalised
        answers[state] = normalised(r, echoed)
    assert answers["new"][0] == 200
    different = {state for state, answer in answers.items() if answer != answers["new"]}
    assert different == set(), {s: answers[s][:2] for s in different}
    # The mail went to exactly the addresses that may receive one: new (or erased without a bounce), pending
    # without a recent one, and those who once left (coming back takes the confirmation).
    assert sorted(to.lower() for _k, to, _raw in site.transport.sent) == sorted(
        f"{state}@example.com" for state in ("new", "pending", "unsubscribed", "removed-after-unsubscribe",
                                             "removed-active"))


def test_a_sign_up_whose_mail_fails_can_be_retried(site):
    """A failed confirmation mail leaves nothing behind (no row, nothing counted): the next try sends it."""
    site.app.extensions["digest"].transport = FailingTransport()
    assert sign_up(site, "retry@example.com", "urlencoded").status_code == 200
    site.app.extensions["digest"].transport = site.transport
    assert site.by_email("retry@example.com") is None
    assert site.dump()["contact_counts"] == [] and site.dump()["mail_requests"] == []
    assert sign_up(site, "retry@example.com", "urlencoded").status_code == 200
    assert [to for _k, to, _raw in site.transport.sent] == ["retry@example.com"]
    assert site.by_email("retry@example.com")["status"] == "pending"


def test_the_same_address_answers_alike_in_every_state_byte_for_byte(site, add_subscriber):
    """One address walked through every state, removal included: status, headers and body identical."""
    address = "walk@example.com"

    def answer():
        r = sign_up(site, address, "urlencoded")
        return r.status_code, sorted(r.headers.items()), r.data

    first = answer()  # new: created pending, mailed
    seen = {"pending": answer()}
    sid = site.by_email(address)["id"]
    for state, cols in (("active", dict(status="active", confirmed_at=NOW)),
                        ("paused", dict(paused_until=date(2027, 1, 10))),
                        ("unsubscribed", dict(status="unsubscribed", unsubscribed_at=NOW, paused_until=None)),
                        ("suppressed", dict(status="suppressed", suppression_reason="complaint"))):
        site.set(sid, **cols)
        seen[state] = answer()
    with Session(site.engine) as s:
        remove(s, s.get(Subscriber, sid))
        s.commit()
    seen["removed-after-complaint"] = answer()
    assert {state for state, a in seen.items() if a != first} == set()
    assert first[0] == 200


# --- links: unknown, removed, and every state --------------------------------------------------------------

def link_answers(site: Web, token: str) -> list[tuple]:
    """GET and POST on every token route (POST as a one-click body)."""
    out = []
    for route in TOKEN_ROUTES:
        path = route.format(token)
        for r in (site.client.get(path), site.client.post(path, data=ONE_CLICK, content_type=FORM)):
            out.append((route, r.status_code, sorted(r.headers.items()), r.data))
    return out


def test_links_for_someone_unknown_or_removed_answer_alike(site, add_subscriber):
    """A genuine signature naming nobody, or someone erased: every route answers as for any bad link."""
    removed = {}
    for state in ("pending", "active", "unsubscribed", "suppressed"):
        sid = add_subscriber(f"gone-{state}@example.com", confirmed=state != "pending")
        if state in ("unsubscribed", "suppressed"):
            site.set(sid, status=state)
        removed[state] = {p: [site.token(p, sid), site.token(p, sid, issued_at=NOW - timedelta(days=30))]
                          for p in tokens.PURPOSES}
        with Session(site.engine) as s:
            remove(s, s.get(Subscriber, sid))
            s.commit()
    nobody = {p: [site.token(p, 10**9), site.token(p, 10**9, issued_at=NOW - timedelta(days=30))]
              for p in tokens.PURPOSES}
    before = site.dump()
    reference = link_answers(site, "not-a-token")
    assert {status for _route, status, _h, _b in reference} <= {404, 405}
    for purpose in tokens.PURPOSES:
        for tok in nobody[purpose] + [t for state in removed.values() for t in state[purpose]]:
            assert link_answers(site, tok) == reference, (purpose, tok)
    assert site.dump() == before and site.transport.sent == []


@pytest.mark.parametrize("forge", ["other-key", "bit-flip", "revoked-version"])
def test_a_bad_link_answers_alike_whatever_state_its_target_is_in(site, add_subscriber, forge):
    """Whoever a forged link names (pending, active, paused, unsubscribed, suppressed, nobody), the answer is the
    same: a forger learns nothing about the person behind an id."""
    targets = {}
    for state in ("pending", "active", "paused", "unsubscribed", "suppressed"):
        sid = add_subscriber(f"t-{state}@example.com", confirmed=state != "pending")
        targets[state] = sid
        if state == "paused":
            site.set(sid, paused_until=date(2027, 1, 10))
        elif state != "pending" and state != "active":
            site.set(sid, status=state)
    targets["nobody"] = 10**9

    def bad(purpose: str, sid: int) -> str:
        if forge == "other-key":
            return site.token(purpose, sid, keys=("forger-key",))
        if forge == "revoked-version":
            return site.token(purpose, sid, version=7)
        good = site.token(purpose, sid)
        raw = bytearray(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
        raw[-1] ^= 0x01  # one bit of the MAC
        return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    before = site.dump()
    for purpose in tokens.PURPOSES:
        if forge == "revoked-version" and purpose == "unsubscribe":
            continue  # unsubscribe links work whatever their version (leaving always works)
        answers = {state: link_answers(site, bad(purpose, sid)) for state, sid in targets.items()}
        reference = link_answers(site, "not-a-token")
        assert {s for s, a in answers.items() if a != reference} == set(), purpose
    assert site.dump() == before and site.transport.sent == []


def test_renewing_a_confirmation_never_tells_the_state(site, add_subscriber):
    """An expired confirmation link's "send me a new link" answers the same page whatever became of the person
    (the link holder already knows the address; the page says nothing more)."""
    answers = {}
    for state in ("pending", "active", "paused", "unsubscribed", "suppressed"):
        address = f"renew-{state}@example.com"
        sid = add_subscriber(address, confirmed=state != "pending")
        site.set(sid, confirm_sent_at=NOW - timedelta(days=9))
        if state == "paused":
            site.set(sid, paused_until=date(2027, 1, 10))
        elif state in ("unsubscribed", "suppressed"):
            site.set(sid, status=state)
        expired = site.token("confirm", sid, issued_at=NOW - timedelta(days=9))
        r = site.post_form(f"/confirm/{expired}/renew")
        answers[state] = normalised(r, address)
    assert answers["pending"][0] == 200
    assert {s for s, a in answers.items() if a != answers["pending"]} == set()
    assert [to for _k, to, _raw in site.transport.sent] == ["renew-pending@example.com"]
