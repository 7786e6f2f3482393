"""Link tokens: what they carry, how they are refused, and what a refused link looks like in the app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy.orm import Session

from digest import lifecycle, tokens
from digest.models import Subscriber
from digest.run import run
from digest.settings import Settings
from digest.subscribers import remove
from digest.carriers.null import RecordingTransport

from .conftest import NOW, listing
from .support.web import (
    FORM, ONE_CLICK, FakeClock, Page, mail_link, make_app, parse_mail,
)

KEYS = ("test-key-1",)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
GET_ROUTES = {"confirm": ["/confirm/{}"], "preferences": ["/preferences/{}"], "unsubscribe": ["/unsubscribe/{}"]}
POST_ROUTES = {"confirm": ["/confirm/{}", "/confirm/{}/renew"], "preferences": ["/preferences/{}"],
               "unsubscribe": ["/unsubscribe/{}", "/unsubscribe/{}/pause", "/unsubscribe/{}/fortnightly",
                               "/unsubscribe/{}/resubscribe"]}


def decode(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def refused(token: str, purpose: str = "unsubscribe", keys=KEYS) -> bool:
    try:
        tokens.verify(keys, token, purpose)
    except tokens.TokenError:
        return True
    return False


# --- the token itself ------------------------------------------------------------------------------------

@pytest.mark.parametrize("purpose", sorted(tokens.PURPOSES))
def test_a_token_round_trips(purpose):
    for sid, version in ((1, 1), (2**31 + 7, 3), (2**63 - 1, 65535)):
        issued = datetime(2026, 11, 23, 9, 41, 59, tzinfo=UTC) if purpose == "confirm" else None
        claims = tokens.verify(KEYS, tokens.sign(KEYS, purpose, sid, version, issued), purpose)
        assert (claims.subscriber_id, claims.purpose, claims.version) == (sid, purpose, version)
        assert claims.issued_at == (datetime(2026, 11, 23, 9, 41, tzinfo=UTC) if issued else None)


def test_tokens_are_short_and_url_safe():
    for purpose in tokens.PURPOSES:
        for sid in (1, 99999, 2**63 - 1):
            token = tokens.sign(KEYS, purpose, sid, 65535, NOW)
            assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and quote(token, safe="") == token
            assert len(token) <= 60


def test_every_bit_flip_is_refused():
    token = tokens.sign(KEYS, "unsubscribe", 112, 1)
    raw = decode(token)
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        for purpose in tokens.PURPOSES:
            assert refused(encode(bytes(flipped)), purpose), (bit, purpose)


def test_every_character_change_that_changes_the_token_is_refused():
    token = tokens.sign(KEYS, "preferences", 112, 1)
    for i in range(len(token)):
        for c in ALPHABET + "+/=.~!*'()$&,;:@ %\t\x00é":
            changed = token[:i] + c + token[i + 1 :]
            try:
                same = decode(changed) == decode(token)
            except ValueError:
                same = False
            if c != token[i] and not same:
                assert refused(changed, "preferences"), (i, c)


def test_truncated_and_extended_tokens_are_refused():
    token = tokens.sign(KEYS, "unsubscribe", 5, 1)
    for n in range(len(token)):
        assert refused(token[:n]), n
    for tail in [*ALPHABET, "AA", "AAAA", token, "." + token, "%00", "\x00", "é"]:
        assert refused(token + tail), tail
        assert refused(tail + token), tail


def test_only_the_issued_spelling_verifies():
    token = next(t for sid in range(1, 1000) if "-" in (t := tokens.sign(KEYS, "unsubscribe", sid, 1)) and "_" in t)
    spellings = [token + "=", token + "==", token.replace("-", "+"), token.replace("_", "/")]
    spellings += [token[:-1] + c for c in ALPHABET if c != token[-1] and decode(token[:-1] + c) == decode(token)]
    assert len(spellings) == 7
    assert [s for s in spellings if not refused(s)] == []


def test_another_key_refuses():
    token = tokens.sign(("someone-else",), "unsubscribe", 5, 1)
    assert refused(token)
    assert not refused(token, keys=("someone-else",))


def test_a_token_serves_one_purpose_only():
    for purpose in tokens.PURPOSES:
        token = tokens.sign(KEYS, purpose, 5, 1, NOW)
        for other in tokens.PURPOSES:
            assert refused(token, other) == (other != purpose), (purpose, other)


def test_another_subscriber_cannot_be_named_without_the_key():
    token = tokens.sign(KEYS, "preferences", 5, 1)
    raw = bytearray(decode(token))
    body = bytearray(raw[:20])
    body[6:14] = (6).to_bytes(8, "big")  # the subscriber id, in place
    assert refused(encode(bytes(body) + raw[20:]), "preferences")  # same MAC: refused
    wrong = hmac.new(b"guessed-key", bytes(body), hashlib.sha256).digest()[:12]
    assert refused(encode(bytes(body) + wrong), "preferences")  # re-signed without the key: refused
    right = hmac.new(KEYS[0].encode(), bytes(body), hashlib.sha256).digest()[:12]
    # With the key it would verify: the id really sits where this test put it.
    assert tokens.verify(KEYS, encode(bytes(body) + right), "preferences").subscriber_id == 6


def test_key_rotation_keeps_old_links_and_signs_with_the_first_key():
    settings = Settings.from_env({"DIGEST_SECRET_KEYS": " new-key-0123456789abcdef0123456789 , old-key-0123456789abcdef0123456789 "})
    assert settings.secret_keys == ("new-key-0123456789abcdef0123456789", "old-key-0123456789abcdef0123456789")
    old = tokens.sign(("old-key-0123456789abcdef0123456789",), "unsubscribe", 5, 1)
    assert tokens.verify(settings.secret_keys, old, "unsubscribe").subscriber_id == 5
    new = tokens.sign(settings.secret_keys, "unsubscribe", 5, 1)
    assert not refused(new, keys=("new-key-0123456789abcdef0123456789",))
    assert refused(new, keys=("old-key-0123456789abcdef0123456789",))
    assert refused(old, keys=("new-key-0123456789abcdef0123456789",))  # dropping a key retires its links


def test_the_mac_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    token = tokens.sign(KEYS, "unsubscribe", 5, 1)
    tokens.verify(KEYS, token, "unsubscribe")
    assert len(calls) == 1 and calls[0][0] == decode(token)[20:] and len(calls[0][1]) == 12
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    assert refused(token)  # the decision is compare_digest's, not an `==` beside it


def test_confirmation_tokens_expire_after_seven_days():
    token = tokens.sign(KEYS, "confirm", 5, 1, NOW)
    claims = tokens.verify(KEYS, token, "confirm")
    tokens.check_fresh(claims, NOW + timedelta(days=7), lifecycle.CONFIRM_TTL)
    with pytest.raises(tokens.TokenExpired):
        tokens.check_fresh(claims, NOW + timedelta(days=7, minutes=1), lifecycle.CONFIRM_TTL)
    undated = tokens.verify(KEYS, tokens.sign(KEYS, "confirm", 5, 1), "confirm")
    with pytest.raises(tokens.TokenExpired):
        tokens.check_fresh(undated, NOW, lifecycle.CONFIRM_TTL)


# --- refused links in the app ------------------------------------------------------------------------------

def people(web, add_subscriber) -> dict[str, int]:
    pending = add_subscriber("pending@example.com", confirmed=False)
    active = add_subscriber("active@example.com")
    return {"confirm": pending, "preferences": active, "unsubscribe": active}


def refusals(web, token_purposes: list[tuple[str, str]]) -> set:
    """Every GET and POST answer for these (token, purpose-of-routes) pairs: (status, content type, body)."""
    seen = set()
    for token, purpose in token_purposes:
        for route in GET_ROUTES[purpose]:
            r = web.client.get(route.format(token))
            seen.add((r.status_code, r.content_type, r.data))
        for route in POST_ROUTES[purpose]:
            r = web.client.post(route.format(token), data=ONE_CLICK, content_type=FORM)
            seen.add((r.status_code, r.content_type, r.data))
    return seen


def not_found_page(web) -> tuple:
    r = web.client.get("/preferences/not-a-token")
    page = Page(r.data)
    assert r.status_code == 404 and page.h1 == "This link is not valid"
    assert "subscri" not in page.text.split("valid", 1)[1].split("Go to")[0]  # no word about the address
    return r.status_code, r.content_type, r.data


def test_a_token_works_only_on_its_own_routes(web, add_subscriber):
    sids = people(web, add_subscriber)
    before = web.dump()
    pairs = [(web.token(purpose, sids[purpose]), other) for purpose in tokens.PURPOSES
             for other in tokens.PURPOSES if other != purpose]
    assert refusals(web, pairs) == {not_found_page(web)}
    assert web.dump() == before and web.transport.sent == []


def test_every_bad_token_gets_the_same_page(web, add_subscriber):
    sids = people(web, add_subscriber)
    gone = add_subscriber("gone@example.com")
    gone_tokens = {p: web.token(p, gone) for p in tokens.PURPOSES}
    with Session(web.engine) as s:
        remove(s, s.get(Subscriber, gone))
        s.commit()  # remove() leaves the commit to its caller
    before = web.dump()
    pairs = []
    for purpose in tokens.PURPOSES:
        good = web.token(purpose, sids[purpose])
        raw = decode(good)
        bad = ["x", "not-a-token", good[:-1], good[:20], good + "A", good + good, "A" * len(good), "A" * 5000,
               "\u00e9" * 10, good[:10] + "\u202e" + good[11:],
               web.token(purpose, sids[purpose], keys=("other-key",)),
               web.token(purpose, 424242),  # genuine signature, nobody with that id
               gone_tokens[purpose],  # genuine signature, person erased
               web.token(purpose, 424242, issued_at=NOW - timedelta(days=30))]
        if purpose != "unsubscribe":  # (unsubscribe links ignore the version: leaving always works)
            bad.append(web.token(purpose, sids[purpose], version=2))  # a version the subscriber does not have
        for i in range(len(raw)):  # one bit in every byte
            flipped = bytearray(raw)
            flipped[i] ^= 0x10
            bad.append(encode(bytes(flipped)))
        pairs += [(t, purpose) for t in bad]
    assert refusals(web, pairs) == {not_found_page(web)}
    assert web.dump() == before and web.transport.sent == []


def test_another_spelling_of_a_link_is_refused_by_the_app(web, add_subscriber):
    sid = add_subscriber("active@example.com")
    token = web.token("unsubscribe", sid)
    r = web.client.post(f"/unsubscribe/{token}=", data=ONE_CLICK, content_type=FORM)
    assert r.status_code == 404
    assert web.row(sid)["status"] == "active"


def test_revoked_links_stop_working_but_unsubscribe_still_does(web, add_subscriber, add_listings):
    sid = add_subscriber("active@example.com", confirmed=False)
    old = {p: web.token(p, sid) for p in tokens.PURPOSES}
    with Session(web.engine) as s:
        lifecycle.revoke_links(s.get(Subscriber, sid), NOW)
        s.commit()
    assert web.row(sid)["token_version"] == 2
    before = web.dump()
    pairs = [(old["confirm"], "confirm"), (old["preferences"], "preferences")]
    assert refusals(web, pairs) == {not_found_page(web)}
    assert web.dump() == before and web.transport.sent == []
    assert web.client.get(f"/preferences/{web.token('preferences', sid, version=2)}").status_code == 200
    assert web.post_form(f"/confirm/{web.token('confirm', sid, version=2)}").status_code == 200

    # Mail sent after the revocation carries the new links.
    add_listings(listing("py-2", verified_at="2026-11-26T10:00:00Z", posted_at="2026-11-26T09:00:00Z"))
    sent = RecordingTransport()
    run(web.settings, NOW + timedelta(days=7), engine=web.engine, transport=sent)
    [(_key, _to, raw)] = sent.sent
    fresh = mail_link(parse_mail(raw), "preferences")
    assert fresh == f"/preferences/{web.token('preferences', sid, version=2)}"

    assert web.client.get(f"/unsubscribe/{old['unsubscribe']}").status_code == 200
    r = web.client.post(f"/unsubscribe/{old['unsubscribe']}", data=ONE_CLICK, content_type=FORM)
    assert r.status_code == 200 and web.row(sid)["status"] == "unsubscribed"


def test_key_rotation_in_the_app(settings, engine, add_subscriber):
    sid = add_subscriber("active@example.com")
    old_link = f"/preferences/{tokens.sign(('old-key',), 'preferences', sid, 1)}"

    def app_with(*keys):
        transport = RecordingTransport()
        app = make_app(settings.with_(secret_keys=keys), engine, transport=transport, clock=FakeClock())
        return app.test_client(use_cookies=False), transport

    client, transport = app_with("new-key", "old-key")
    assert client.get(old_link).status_code == 200
    r = client.post(old_link, data={"stack": "go", "timezone": "UTC"}, content_type=FORM)
    assert r.status_code == 200
    client.post("/subscribe", data={"email": "fresh@example.com", "timezone": "UTC"}, content_type=FORM)
    [(_key, _to, raw)] = transport.sent
    confirm = mail_link(parse_mail(raw), "confirm").rsplit("/", 1)[1]
    assert not refused(confirm, "confirm", keys=("new-key",)) and refused(confirm, "confirm", keys=("old-key",))

    retired, _ = app_with("new-key")
    assert retired.get(old_link).status_code == 404


@pytest.mark.parametrize("keys", [("k" * 40,), ("a much longer signing key than one SHA-256 block holds " * 3, "old")])
def test_a_digests_feedback_tokens_signed_at_once_are_the_ones_signed_one_by_one(keys):
    ids = [1, 2, 3, 255, 256, 65_535, 2**31 - 1, 4_000_000_000]
    at_once = tokens.feedback_tokens(keys, 123_456, 7, ids)
    one_by_one = [tokens.sign_listing(keys, purpose, 123_456, 7, lid) for lid in ids
                  for purpose in ("not_for_me", "hide_company")]
    assert at_once == one_by_one
    for token, (lid, purpose) in zip(at_once, [(lid, p) for lid in ids for p in ("not_for_me", "hide_company")]):
        assert re.fullmatch(r"[A-Za-z0-9_-]{38}", token)
        assert tokens.verify_listing(keys, token) == tokens.ListingClaims(123_456, purpose, 7, lid)
    assert tokens.feedback_tokens(keys, 1, 1, []) == []
