"""The subscriber pages' HTTP Lambda (`subscribers.lambda_handler`), fed API Gateway HTTP API (payload 2.0) events as
AWS sends them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from digest import tokens
from digest.models import Subscriber

from .support.http_lambda import KEY, event, text
from .support.web import FORM, MULTIPART, ONE_CLICK, ONE_CLICK_MULTIPART, Page, dump

def status(engine, sid: int) -> str:
    with Session(engine) as s:
        return s.get(Subscriber, sid).status


def test_healthz(handler):
    r = handler(event("GET", "/healthz"), None)
    assert r["statusCode"] == 200
    assert r["headers"]["content-type"] == "application/json"
    assert json.loads(text(r)) == {"status": "ok"}


def test_the_unsubscribe_page_reads_only(handler, engine, add_subscriber):
    sid = add_subscriber("ana@example.com")
    path = f"/unsubscribe/{tokens.sign((KEY,), 'unsubscribe', sid, 1)}"
    before = dump(engine)
    r = handler(event("GET", path), None)
    assert r["statusCode"] == 200 and r["headers"]["content-type"].startswith("text/html")
    page = Page(text(r))
    assert page.h1 == "Unsubscribe from Backend Jobs Weekly?"
    assert page.form(path)["buttons"] == ["Unsubscribe"]
    assert dump(engine) == before


@pytest.mark.parametrize("content_type, body", [(FORM, ONE_CLICK), (MULTIPART, ONE_CLICK_MULTIPART)],
                         ids=["urlencoded", "multipart"])
def test_one_click_unsubscribe(handler, engine, add_subscriber, content_type, body):
    sid = add_subscriber("ana@example.com")
    path = f"/unsubscribe/{tokens.sign((KEY,), 'unsubscribe', sid, 1)}"
    r = handler(event("POST", path, body, content_type), None)
    assert r["statusCode"] == 200
    assert "location" not in r["headers"] and r["cookies"] == []
    assert Page(text(r)).h1 == "You are unsubscribed"
    assert status(engine, sid) == "unsubscribed"
    before = dump(engine)
    again = handler(event("POST", path, body, content_type), None)
    assert again["statusCode"] == 200
    assert dump(engine) == before  # repeating it is harmless


def test_a_bad_link_is_a_clear_404(handler, engine, add_subscriber):
    sid = add_subscriber("ana@example.com")
    forged = tokens.sign(("not-the-key",), "unsubscribe", sid, 1)
    r = handler(event("POST", f"/unsubscribe/{forged}", ONE_CLICK, FORM), None)
    assert r["statusCode"] == 404 and Page(text(r)).h1 == "This link is not valid"
    assert status(engine, sid) == "active"
