"""Bad input to the subscriber web app: every hostile body, field and path gets a clear 4xx page, the stored
data stays as it was, and nothing is echoed unescaped (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import NOW

from .support.web import (
    BASE_PREFS, FORM, MULTIPART, ONE_CLICK, ONE_CLICK_MULTIPART, Page, multipart,
)

def post_paths(web, add_subscriber) -> list[str]:
    """One path for every POST route, with a genuine token, for subscribers the POST would change."""
    pending = add_subscriber("pending@example.com", confirmed=False)
    active = add_subscriber("active@example.com")
    gone = add_subscriber("gone@example.com")
    web.set(gone, status="unsubscribed", unsubscribed_at=NOW)
    confirm, unsub = web.token("confirm", pending), web.token("unsubscribe", active)
    expired = web.token("confirm", pending, issued_at=NOW - timedelta(days=9))
    return ["/subscribe", f"/confirm/{expired}/renew", f"/confirm/{confirm}",
            f"/preferences/{web.token('preferences', active)}", f"/unsubscribe/{unsub}", f"/unsubscribe/{unsub}/pause",
            f"/unsubscribe/{unsub}/fortnightly",
            f"/unsubscribe/{web.token('unsubscribe', gone)}/resubscribe"]


def test_genuine_posts_on_every_route_change_something(web, add_subscriber):
    """The guard for the tests below: each of these paths, given a good form, does change the data."""
    for path in post_paths(web, add_subscriber):
        before = web.dump()
        fields = {"email": "someone@example.com", "timezone": "UTC"} if path == "/subscribe" else BASE_PREFS
        r = web.post_form(path, fields)
        assert r.status_code == 200, path
        assert web.dump() != before, path


def test_oversized_bodies_are_refused(web, add_subscriber):
    paths = post_paths(web, add_subscriber)
    before = web.dump()
    big = b"List-Unsubscribe=One-Click&email=" + b"a" * 70_000
    for path in paths:
        for content_type, body in ((FORM, big), (MULTIPART, ONE_CLICK_MULTIPART + b"x" * 70_000)):
            r = web.client.post(path, data=body, content_type=content_type)
            assert r.status_code == 413, path
            assert Page(r.data).h1 == "Too much data"
    assert web.dump() == before and web.transport.sent == []


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/xml"])
def test_bodies_that_are_not_forms_are_refused(web, add_subscriber, content_type):
    paths = post_paths(web, add_subscriber)
    before = web.dump()
    for path in paths:
        for body in (b'{"List-Unsubscribe": "One-Click", "email": "x@example.com"}', ONE_CLICK):
            r = web.client.post(path, data=body, content_type=content_type)
            assert r.status_code == 415, path
            assert Page(r.data).h1 == "Unsupported form"
    assert web.dump() == before and web.transport.sent == []


def test_a_chunked_body_that_is_not_a_form_is_refused(web, add_subscriber):
    import io

    sid = add_subscriber("u@example.com")
    path = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    r = web.client.post(path, input_stream=io.BytesIO(b'{"List-Unsubscribe": "One-Click"}'),
                        content_type="application/json", headers={"Transfer-Encoding": "chunked"})
    assert r.status_code == 415
    assert web.row(sid)["status"] == "active"


def test_a_single_field_given_twice_is_refused(web, add_subscriber):
    sid = add_subscriber("p@example.com")
    prefs = f"/preferences/{web.token('preferences', sid)}"
    before = web.dump()
    cases = [("/subscribe", [("email", "a@example.com"), ("email", "b@example.com"), ("timezone", "UTC")], "email"),
             ("/subscribe", [("email", "a@example.com"), ("timezone", "UTC"), ("timezone", "Asia/Tokyo")], "timezone")]
    base = list(BASE_PREFS.items())
    for name, second in (("timezone", "Asia/Tokyo"), ("send_day", "friday"), ("send_hour", "9"),
                         ("min_salary", "5000"), ("paused_until", "2026-12-01"), ("hide_no_salary", "1")):
        fields = [(k, v) for k, v in base if k != name] + [(name, BASE_PREFS.get(name, second)), (name, second)]
        cases.append((prefs, fields, name))
    for path, fields, name in cases:
        r = web.post_form(path, fields)
        assert r.status_code == 400, (path, name)
        assert f"{name}: given 2 times; send it once" in Page(r.data).text
    assert web.dump() == before and web.transport.sent == []


MARKUP = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"]
SIGN_UP_FIELDS = ("email", "timezone", "stack", "level", "region", "role", "employer")
PREFERENCE_FIELDS = ("stack", "level", "region", "role", "employer", "timezone", "send_day", "send_hour", "cadence",
                     "min_salary", "hide_no_salary", "paused_until")


def test_markup_in_any_field_comes_back_only_escaped(web, add_subscriber):
    from markupsafe import escape

    sid = add_subscriber("p@example.com")
    prefs = f"/preferences/{web.token('preferences', sid)}"
    before = web.dump()
    echoed = {"email", "timezone", "stack", "level", "region", "role", "employer", "min_salary", "paused_until"}
    for payload in MARKUP:
        cases = [("/subscribe", {"email": "a@example.com", "timezone": "UTC"} | {f: payload}, f)
                 for f in SIGN_UP_FIELDS]
        cases += [(prefs, BASE_PREFS | {f: payload}, f) for f in PREFERENCE_FIELDS]
        cases.append(("/subscribe", {"email": f'"{payload}"@example.com', "timezone": "UTC"}, "email"))
        for path, fields, name in cases:
            r = web.post_form(path, fields)
            body = r.get_data(as_text=True)
            assert r.status_code == 400, (path, name, payload)
            assert payload not in body and "<script" not in body and "<img" not in body and "<svg" not in body
            assert Page(body).runs_only_own_scripts(), (path, name, payload)
            if name in echoed:
                assert str(escape(payload)) in body, (path, name, payload)
    assert web.dump() == before and web.transport.sent == []


GOOD = {"email": "a@example.com", "timezone": "UTC", "stack": "python", "level": "senior", "region": "europe",
        "role": "data", "employer": "startup", "send_day": "monday", "send_hour": "8", "cadence": "fortnightly",
        "min_salary": "1000", "hide_no_salary": "1", "paused_until": "2026-12-01"}


def test_nul_and_overlong_values_are_refused(web, add_subscriber):
    """A NUL (which PostgreSQL cannot store) or a value longer than any of ours: 400, never 500."""
    sid = add_subscriber("p@example.com")
    prefs = f"/preferences/{web.token('preferences', sid)}"
    before = web.dump()
    for bad in (lambda v: v + "\x00", lambda v: "\x00" + v, lambda v: v[:3] + "\x00" + v[3:], lambda v: v + "x" * 400):
        cases = [("/subscribe", {"email": "a@example.com", "timezone": "UTC"} | {f: bad(GOOD[f])}, f)
                 for f in SIGN_UP_FIELDS]
        cases += [(prefs, BASE_PREFS | {f: bad(GOOD[f])}, f) for f in PREFERENCE_FIELDS]
        for path, fields, name in cases:
            if name in ("level", "region", "role", "employer") and "\x00" in fields[name]:
                continue  # read on their letters and digits: see the next test
            r = web.post_form(path, fields)
            assert r.status_code == 400, (path, name, fields[name][-5:])
    assert web.dump() == before and web.transport.sent == []


@pytest.mark.parametrize("name, column", [("level", "levels"), ("region", "regions"), ("role", "roles"),
                                          ("employer", "employers")])
def test_a_nul_in_a_level_or_region_never_reaches_the_database(web, add_subscriber, name, column):
    """Levels, regions, roles and employers are matched on their letters and digits (as in imports):
    "senior\\0" may read as "senior" or be refused, but only a canonical value is ever stored and the answer is
    never a 500."""
    sid = add_subscriber("p@example.com")
    prefs = f"/preferences/{web.token('preferences', sid)}"
    value = GOOD[name][:3] + "\x00" + GOOD[name][3:] + "\x00"
    signup = web.post_form("/subscribe", {"email": "a@example.com", "timezone": "UTC", name: value})
    saved = web.post_form(prefs, BASE_PREFS | {name: value})
    assert {signup.status_code, saved.status_code} <= {200, 400}
    for row in (web.by_email("a@example.com"), web.row(sid)):
        if row is not None:
            assert row[column] in ([], [GOOD[name]])
    assert "\\x00" not in repr(web.dump())


def test_non_utf8_bytes_in_the_body_are_refused(web, add_subscriber):
    sid = add_subscriber("p@example.com")
    prefs = f"/preferences/{web.token('preferences', sid)}"
    before = web.dump()
    for raw in (b"\xff\xfe", b"\xc3\x28", b"%FF%FE", b"%C3%28"):
        for path, base, names in (("/subscribe", {"email": b"a@example.com", "timezone": b"UTC"},
                                   ("timezone", "stack", "level", "region")),
                                  (prefs, {k: v.encode() for k, v in BASE_PREFS.items()}, PREFERENCE_FIELDS)):
            for name in names:
                fields = base | {name: b"Europe/" + raw if name == "timezone" else raw}
                urlencoded = b"&".join(k.encode() + b"=" + v for k, v in fields.items())
                r = web.client.post(path, data=urlencoded, content_type=FORM)
                assert r.status_code == 400, (path, name, raw, "urlencoded")
                if not raw.startswith(b"%"):
                    r = web.client.post(path, data=multipart(list(fields.items())), content_type=MULTIPART)
                    assert r.status_code == 400, (path, name, raw, "multipart")
    r = web.client.post("/subscribe", data=b"email=\xff\xfe%40example.com&timezone=UTC", content_type=FORM)
    assert r.status_code == 400
    assert web.dump() == before and web.transport.sent == []



def test_an_address_with_non_ascii_letters_gets_an_answer_not_a_500(web):
    """Either refused with a clear message and nothing stored, or accepted and the confirmation mail sent."""
    r = web.post_form("/subscribe", {"email": "jos\u00e9@example.com", "timezone": "UTC"})
    if r.status_code == 400:
        assert "email" in Page(r.data).text
        assert web.by_email("jos\u00e9@example.com") is None and web.transport.sent == []
    else:
        assert r.status_code == 200
        assert [to for _k, to, _raw in web.transport.sent] == ["jos\u00e9@example.com"]


def test_non_utf8_bytes_in_a_multipart_address_are_refused(web):
    before = web.dump()
    body = multipart([("email", b"\xff\xfe@example.com"), ("timezone", b"UTC")])
    r = web.client.post("/subscribe", data=body, content_type=MULTIPART)
    assert r.status_code == 400
    assert web.dump() == before and web.transport.sent == []


def test_percent_escaped_non_utf8_in_the_address_is_refused(web):
    before = web.dump()
    r = web.client.post("/subscribe", data=b"email=%FF%FE%40example.com&timezone=UTC", content_type=FORM)
    assert r.status_code == 400
    assert web.dump() == before and web.transport.sent == []


@pytest.mark.parametrize("zone_name", ["Europe", "America/Argentina"])
def test_a_timezone_that_names_a_folder_is_refused(web, add_subscriber, zone_name):
    sid = add_subscriber("p@example.com")
    before = web.dump()
    signup = web.post_form("/subscribe", {"email": "a@example.com", "timezone": zone_name})
    prefs = web.post_form(f"/preferences/{web.token('preferences', sid)}", BASE_PREFS | {"timezone": zone_name})
    assert (signup.status_code, prefs.status_code) == (400, 400)
    assert f"unknown timezone '{zone_name}'" in Page(prefs.data).text
    assert web.dump() == before and web.transport.sent == []


def test_odd_paths_get_a_clear_page(web, add_subscriber):
    sid = add_subscriber("u@example.com")
    tok = web.token("unsubscribe", sid)
    before = web.dump()
    odd = ["/preferences/%00", "/unsubscribe/..%2f..", "/unsubscribe/..%2F..%2Fhealthz", "/confirm/" + "A" * 8000,
           "/preferences/\u00fc\u00f1\u00ee", "/unsubscribe/\U0001f600", "/unsubscribe/%FF%FE",
           "/preferences/%E2%80%AE",
           f"/unsubscribe/{tok}/", f"/unsubscribe/{tok}%00", f"/unsubscribe/{tok}/..", f"/unsubscribe/{tok}/nope",
           f"/unsubscribe/{tok[:-1]}", f"/unsubscribe/{tok}A", "/unsubscribe/%2e%2e", "/%00", "/subscribe/%00"]
    for path in odd:
        for r in (web.client.get(path), web.client.post(path, data=ONE_CLICK, content_type=FORM)):
            assert 400 <= r.status_code < 500, (path, r.status_code)
            assert Page(r.data).h1, path
    assert web.dump() == before and web.transport.sent == []
