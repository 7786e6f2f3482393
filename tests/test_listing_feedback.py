"""Per-job feedback from digest cards ("Not for me", "Hide {company}"), on SQLite and PostgreSQL: the links in the
sent messages, their tokens, the pages (a GET changes nothing), the next week's digest, undo, and what operators
see."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest import tokens
from digest.listing_feedback import exclusions
from digest.matching import Exclusions, IndexedListing, ListingIndex
from digest.models import HiddenCompany, Listing, NotForMe, Subscriber
from digest.run import run
from digest.subscribers import remove

from .conftest import NOW, listing, listing_ids, read_outbox
from .support.cli import digest as cli, json_lines
from .support.content import Anchors
from .support.web import FORM, Page

KEYS = ("test-key-1",)
NEXT = NOW + timedelta(days=7)
AFTER = NOW + timedelta(days=14)
# Issued by the code before feedback tokens existed (commit a9caec6): old links must keep working.
OLD_UNSUBSCRIBE = "AQESVVWNAAAAAAAAAHAAAQAAAAA3UH073X7koH4fphA"  # subscriber 112, version 1
OLD_CONFIRM = "AQMSVVWNAAAAAAAAAHAAAwHImZwChTZe9enLZNfD0_g"  # subscriber 112, version 3, issued NOW


def decode(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def refused_as_feedback(token: str, keys=KEYS) -> bool:
    try:
        tokens.verify_listing(keys, token)
    except tokens.TokenError:
        return True
    return False


# --- the tokens ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("purpose", sorted(tokens.LISTING_PURPOSES))
def test_a_feedback_token_names_its_subscriber_listing_and_purpose_and_is_short(purpose):
    for sid, version, lid in ((1, 1, 1), (2**31 - 1, 65535, 2**31 - 1), (112, 3, 40_000)):
        token = tokens.sign_listing(KEYS, purpose, sid, version, lid)
        assert re.fullmatch(r"[A-Za-z0-9_-]{38}", token), token
        assert tokens.verify_listing(KEYS, token) == tokens.ListingClaims(sid, purpose, version, lid)


def test_links_issued_before_feedback_tokens_still_verify():
    assert tokens.verify(KEYS, OLD_UNSUBSCRIBE, "unsubscribe") == tokens.Claims(112, "unsubscribe", 1, None)
    assert tokens.verify(KEYS, OLD_CONFIRM, "confirm") == tokens.Claims(112, "confirm", 3, NOW)
    assert tokens.sign(KEYS, "unsubscribe", 112, 1) == OLD_UNSUBSCRIBE  # and are still issued the same


def test_feedback_tokens_and_the_other_links_never_stand_in_for_each_other():
    for purpose in tokens.LISTING_PURPOSES:
        token = tokens.sign_listing(KEYS, purpose, 5, 1, 9)
        for other in tokens.PURPOSES:
            with pytest.raises(tokens.TokenError):
                tokens.verify(KEYS, token, other)
    for purpose in tokens.PURPOSES:
        assert refused_as_feedback(tokens.sign(KEYS, purpose, 5, 1, NOW))


def test_every_bit_flip_and_character_change_of_a_feedback_token_is_refused():
    token = tokens.sign_listing(KEYS, "not_for_me", 112, 1, 7)
    raw = decode(token)
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert refused_as_feedback(encode(bytes(flipped))), bit
    for i in range(len(token)):
        for c in "A_-9z=+/.":
            changed = token[:i] + c + token[i + 1:]
            if changed != token:
                assert refused_as_feedback(changed), (i, c)
    for n in range(len(token)):
        assert refused_as_feedback(token[:n])
    assert refused_as_feedback(token + "A") and refused_as_feedback(token + "=")


def test_another_listing_subscriber_or_purpose_cannot_be_written_in_without_the_key():
    """The fields re-packed around the old MAC (what a forger can do without the key) name nobody."""
    token = tokens.sign_listing(KEYS, "not_for_me", 112, 1, 7)
    raw = decode(token)
    body, mac = raw[:16], raw[16:]
    fmt, _purpose, kid = body[0], body[1], body[2:6]
    for sid, version, lid, purpose in ((112, 1, 8, 4), (113, 1, 7, 4), (112, 2, 7, 4), (112, 1, 7, 5)):
        forged = bytes([fmt, purpose]) + kid + sid.to_bytes(4, "big") + version.to_bytes(2, "big") + lid.to_bytes(4, "big")
        assert refused_as_feedback(encode(forged + mac)), (sid, version, lid, purpose)
    assert not refused_as_feedback(encode(body + mac))  # the unchanged token, rebuilt the same way, verifies


def test_keys_rotate_for_feedback_tokens_too():
    old = tokens.sign_listing(("old-key",), "hide_company", 5, 1, 9)
    assert not refused_as_feedback(old, keys=("new-key", "old-key"))
    assert refused_as_feedback(old, keys=("new-key",))


# --- the matching index --------------------------------------------------------------------------------------

def indexed(board_id: str, company: str = "Acme", title: str = "Backend Engineer", url: str | None = None,
            key: int | None = None) -> IndexedListing:
    from digest.normalise import repost_key

    return IndexedListing(
        board_id=board_id, title=title, company=company, url=url or f"https://jobs.example.com/{board_id}",
        stack=("python",), level=None, regions=("worldwide",), location=None, salary_display=None, usd_max=None,
        verified_at=NOW, available_at=NOW, posted_at=NOW,
        repost_key=key if key is not None else repost_key(company, title),
    )


def left_out(index: ListingIndex, ex: Exclusions | None) -> list[str]:
    """The listings an index leaves out for these exclusions."""
    bits = index.excluded(ex)
    return sorted(item.board_id for pos, item in enumerate(index.listings) if bits >> pos & 1)


def test_exclusions_take_out_the_job_its_reposts_and_twins_and_every_listing_of_a_hidden_company():
    index = ListingIndex([
        indexed("a1", "Ledgerly", "Senior Python Engineer"),
        indexed("a2", "LEDGERLY", "senior python engineer!"),  # a repost: same company and title, folded
        indexed("a3", "Ledgerly Ltd", "Python Dev", url="https://jobs.example.com/a1"),  # a twin of a1 by URL
        indexed("b1", "Fleetbase, Inc.", "Go Engineer"),
        indexed("b2", "FLEETBASE Inc", "Platform Engineer"),
        indexed("b3", "Other Name", "Go Engineer II", url="https://jobs.example.com/b1"),  # a twin of b1 by URL
        indexed("c1", "Acme"),
    ])
    assert left_out(index, None) == left_out(index, Exclusions()) == []
    assert left_out(index, Exclusions(board_ids=("a1",))) == ["a1", "a2", "a3"]
    a1 = next(item for item in index.listings if item.board_id == "a1")
    assert left_out(index, Exclusions(repost_keys=(a1.repost_key,))) == ["a1", "a2", "a3"]
    assert left_out(index, Exclusions(companies=("fleetbase inc",))) == ["b1", "b2", "b3"]
    assert left_out(index, Exclusions(("a2",), (), ("acme",))) == ["a1", "a2", "a3", "c1"]
    assert left_out(index, Exclusions(("gone",), (1,), ("nobody",))) == []  # names nothing here
    # ... and a digest leaves them out
    from digest.matching import Prefs

    match = index.match(Prefs(), NOW - timedelta(days=1), index.excluded(Exclusions(("a1",), (), ("fleetbase inc",))))
    assert [item.board_id for item in match.listings] == ["c1"] and match.total == 1


# --- the links in the digest, and the next weeks ---------------------------------------------------------------

TEXT_LINK = re.compile(r"   (Not for me|Hide .+?): (https?://\S+)")


def card_links(msg) -> list[tuple[str, str, str]]:
    """(company label, not-for-me path, hide path) of each card, from the text part, checked against the HTML."""
    lines = msg.get_body(("plain",)).get_content().splitlines()
    text = [m.groups() for m in map(TEXT_LINK.fullmatch, lines) if m]
    anchors = Anchors()
    anchors.feed(msg.get_body(("html",)).get_content())
    html = [(label, url) for url, label in anchors.links if label == "Not for me" or label.startswith("Hide ")]
    assert text == html, "the text part must carry the links the HTML carries"
    path = lambda url: re.sub(r"^https?://[^/]+", "", url)  # noqa: E731
    return [(hide[0].removeprefix("Hide "), path(nfm[1]), path(hide[1])) for nfm, hide in zip(text[::2], text[1::2])]


def digest_for(settings, sid: int, when) -> object | None:
    period = f"{when.isocalendar().year}-W{when.isocalendar().week:02d}"
    return read_outbox(settings.outbox_dir).get(f"{period}/{sid}")


def test_every_card_carries_its_own_links_bound_to_the_subscriber_and_listing(settings, engine, add_listings,
                                                                             add_subscriber):
    add_listings(listing("py-1", company="Ledgerly"), listing("py-2", company="Fleetbase"))
    ana, bo = add_subscriber("ana@example.com", stack=["python"]), add_subscriber("bo@example.com", stack=["python"])
    run(settings, NOW)
    with Session(engine) as s:
        ids = dict(s.execute(select(Listing.board_id, Listing.id)).all())
    for sid in (ana, bo):
        msg = digest_for(settings, sid, NOW)
        cards = card_links(msg)
        assert len(cards) == len(listing_ids(msg)) == 2
        for board_id, (company, nfm, hide) in zip(listing_ids(msg), cards):
            assert company == {"py-1": "Ledgerly", "py-2": "Fleetbase"}[board_id]
            assert tokens.verify_listing(settings.secret_keys, nfm.removeprefix("/feedback/")) == \
                tokens.ListingClaims(sid, "not_for_me", 1, ids[board_id])
            assert tokens.verify_listing(settings.secret_keys, hide.removeprefix("/feedback/")) == \
                tokens.ListingClaims(sid, "hide_company", 1, ids[board_id])


def test_not_for_me_and_hidden_companies_are_honoured_next_week_and_undo_brings_them_back(
        settings, engine, add_listings, add_subscriber, web):
    # The ledger already keeps a job from coming back for DIGEST_HISTORY_WEEKS; "not for me" is for good. With no
    # history at all, only it keeps a repost out, and Bo (same wishes, no feedback) shows what would come.
    settings = replace(settings, history_weeks=0)
    add_listings(listing("a-1", title="Senior Python Engineer", company="Ledgerly"),
                 listing("b-1", title="Python Developer", company="Fleetbase, Inc."),
                 listing("c-1", title="Backend Engineer", company="Acme"))
    ana, bo = add_subscriber("ana@example.com", stack=["python"]), add_subscriber("bo@example.com", stack=["python"])
    run(settings, NOW)
    cards = dict(zip(listing_ids(digest_for(settings, ana, NOW)), card_links(digest_for(settings, ana, NOW))))
    assert sorted(cards) == ["a-1", "b-1", "c-1"]

    before = web.dump()
    assert web.client.get(cards["a-1"][1]).status_code == 200 and web.client.get(cards["b-1"][2]).status_code == 200
    assert web.dump() == before  # opening the links (as a mail scanner does) changed nothing
    assert web.post_form(cards["a-1"][1], {"reason": "wrong_level"}).status_code == 200
    assert web.post_form(cards["b-1"][2]).status_code == 200

    week2 = NEXT - timedelta(days=1)
    add_listings(listing("a-2", title="senior python engineer", company="LEDGERLY", verified_at=iso(week2)),  # repost
                 listing("b-2", title="Platform Engineer", company="Fleetbase Inc", verified_at=iso(week2)),
                 listing("d-2", title="API Engineer", company="Globex", verified_at=iso(week2)))
    run(settings, NEXT)
    assert sorted(listing_ids(digest_for(settings, bo, NEXT))) == ["a-2", "b-2", "d-2"]
    assert listing_ids(digest_for(settings, ana, NEXT)) == ["d-2"]

    # Undo both: the "not for me" from its result page, the company from the preferences page's list.
    assert web.post_form(cards["a-1"][1] + "/undo").status_code == 200
    prefs = Page(web.client.get(f"/preferences/{tokens.sign(settings.secret_keys, 'preferences', ana, 1)}").data)
    form = [f for f in prefs.forms if f["action"].endswith("/unhide")]
    assert len(form) == 1 and "Fleetbase, Inc." in prefs.text
    assert web.post_form(form[0]["action"], {"company": prefs.value("company")}).status_code == 200

    week3 = AFTER - timedelta(days=1)
    add_listings(listing("a-3", title="Senior Python Engineer", company="Ledgerly", verified_at=iso(week3)),
                 listing("b-3", title="Python Platform Engineer", company="FLEETBASE INC.", verified_at=iso(week3)))
    run(settings, AFTER)
    assert sorted(listing_ids(digest_for(settings, ana, AFTER))) == ["a-3", "b-3"]


def iso(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_run_reads_every_subscribers_feedback_in_one_query_per_page(engine, add_listings, add_subscriber):
    add_listings(listing("x-1", company="Ledgerly"))
    ids = [add_subscriber(f"p{i}@example.com") for i in range(3)]
    with Session(engine) as s:
        s.add_all([NotForMe(subscriber_id=ids[0], board_id="x-1", repost_key=11, reason=None, created_at=NOW),
                   HiddenCompany(subscriber_id=ids[0], company_key="ledgerly", company="Ledgerly", created_at=NOW),
                   HiddenCompany(subscriber_id=ids[2], company_key="acme", company="Acme", created_at=NOW)])
        s.commit()
        statements = []
        from sqlalchemy import event

        listen = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listen)
        try:
            got = exclusions(s, ids)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    assert len(statements) == 1
    assert got == {ids[0]: Exclusions(("x-1",), (11,), ("ledgerly",)), ids[2]: Exclusions((), (), ("acme",))}


# --- the pages ---------------------------------------------------------------------------------------------------

@pytest.fixture
def card(web, add_listings, add_subscriber):
    """A subscriber, a listing, and the two feedback paths of its card."""
    add_listings(listing("py-1", title="Senior Python Engineer", company="Ledgerly"))
    sid = add_subscriber("ana@example.com", stack=["python"])
    with Session(web.engine) as s:
        lid = s.scalar(select(Listing.id).where(Listing.board_id == "py-1"))
    sign = lambda purpose, **kw: tokens.sign_listing(  # noqa: E731
        kw.get("keys", web.settings.secret_keys), purpose, kw.get("sid", sid), kw.get("version", 1), kw.get("lid", lid))
    return {"sid": sid, "lid": lid, "sign": sign,
            "nfm": f"/feedback/{sign('not_for_me')}", "hide": f"/feedback/{sign('hide_company')}"}


def rows(web, model) -> list[tuple]:
    with Session(web.engine) as s:
        cols = [c for c in model.__table__.columns if c.key not in ("id", "created_at")]
        return [tuple(r) for r in s.execute(select(*cols))]


def test_the_get_pages_show_a_button_and_change_nothing(web, card):
    before = web.dump()
    for path, h1, button in ((card["nfm"], "Not for me", "Not for me"),
                             (card["hide"], "Hide Ledgerly?", "Hide Ledgerly")):
        r = web.client.get(path)
        page = Page(r.data)
        assert r.status_code == 200 and page.h1 == h1, page.text
        assert "Senior Python Engineer" in page.text or path == card["hide"]
        form = page.form(path)
        assert form["method"] == "post" and form["buttons"] == [button]
        assert page.runs_only_own_scripts() and "form-action 'self'" in r.headers["Content-Security-Policy"]
    assert web.dump() == before


def test_not_for_me_records_the_reason_offers_undo_and_undo_takes_it_back(web, card):
    page = Page(web.client.get(card["nfm"]).data)
    assert {i["value"] for i in page.inputs if i.get("name") == "reason"} == {
        "", "wrong_stack", "wrong_level", "wrong_location", "not_interested"}
    r = web.post_form(card["nfm"], {"reason": "wrong_location"})
    page = Page(r.data)
    assert r.status_code == 200 and page.h1 == "You will not see this job again" and "wrong location" in page.text
    assert page.form(card["nfm"] + "/undo")["buttons"] == ["Undo"]
    assert rows(web, NotForMe) == [(card["sid"], "py-1", listing_repost_key(web), "wrong_location")]
    # Again, with another reason (a second click, another tab): one row, the last reason.
    web.post_form(card["nfm"], {"reason": "wrong_level"})
    assert rows(web, NotForMe) == [(card["sid"], "py-1", listing_repost_key(web), "wrong_level")]
    # The GET now shows it done, still without changing anything.
    before = web.dump()
    assert Page(web.client.get(card["nfm"]).data).h1 == "You will not see this job again"
    assert web.dump() == before
    r = web.post_form(card["nfm"] + "/undo")
    page = Page(r.data)
    assert r.status_code == 200 and "Undone" in page.text and page.form(card["nfm"])["buttons"] == ["Not for me"]
    assert rows(web, NotForMe) == []
    assert web.post_form(card["nfm"] + "/undo").status_code == 200  # twice is harmless
    web.post_form(card["nfm"], {})  # no reason at all
    assert rows(web, NotForMe) == [(card["sid"], "py-1", listing_repost_key(web), None)]


def listing_repost_key(web) -> int:
    with Session(web.engine) as s:
        return s.scalar(select(Listing.repost_key).where(Listing.board_id == "py-1"))


def test_hide_records_the_company_once_and_undo_unhides(web, card):
    for _ in range(2):
        r = web.post_form(card["hide"])
        assert r.status_code == 200 and Page(r.data).h1 == "Ledgerly is hidden"
    assert rows(web, HiddenCompany) == [(card["sid"], "ledgerly", "Ledgerly")]
    assert Page(web.post_form(card["hide"] + "/undo").data).form(card["hide"])["buttons"] == ["Hide Ledgerly"]
    assert rows(web, HiddenCompany) == []


@pytest.mark.parametrize("fields", [{"reason": "too_junior"}, [("reason", "wrong_level"), ("reason", "wrong_stack")],
                                    {"reason": "x" * 5000}])
def test_a_bad_reason_is_a_clear_400_and_changes_nothing(web, card, fields):
    before = web.dump()
    r = web.post_form(card["nfm"], fields)
    page = Page(r.data)
    assert r.status_code == 400 and "reason" in page.text and page.form(card["nfm"])
    assert web.dump() == before


def test_a_body_that_is_not_a_form_is_refused(web, card):
    before = web.dump()
    r = web.client.post(card["hide"], data=b'{"a": 1}', content_type="application/json")
    assert r.status_code == 415 and web.dump() == before


def test_bad_forged_revoked_and_misdirected_links_get_the_clear_404_page(web, card):
    sign, sid = card["sign"], card["sid"]
    token = sign("not_for_me")
    bad = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # edited
        token[:20],  # truncated
        sign("not_for_me", keys=("someone-else",)),  # another key
        sign("not_for_me", sid=sid + 1),  # nobody with that id
        tokens.sign(web.settings.secret_keys, "preferences", sid, 1),  # a preferences token at /feedback
        "%00", "x" * 300,
    ]
    web.set(sid, token_version=2)
    bad.append(token)  # revoked: `subscribers revoke-links`
    before = web.dump()
    for t in bad:
        for method, path in (("get", f"/feedback/{t}"), ("post", f"/feedback/{t}"), ("post", f"/feedback/{t}/undo")):
            r = getattr(web.client, method)(path, content_type=FORM)
            assert r.status_code == 404, (t, method, path)
            assert Page(r.data).h1 == "This link is not valid"
    fresh = sign("not_for_me", version=2)
    for path in (f"/preferences/{fresh}", f"/unsubscribe/{fresh}", f"/confirm/{fresh}"):
        assert web.client.get(path).status_code == 404, path  # a feedback token opens no other page
    assert web.dump() == before


def test_a_link_to_a_removed_listing_says_so(web, card):
    with Session(web.engine) as s:
        s.execute(Listing.__table__.delete().where(Listing.id == card["lid"]))
        s.commit()
    for method in ("get", "post"):
        r = getattr(web.client, method)(card["nfm"], content_type=FORM)
        assert r.status_code == 410 and Page(r.data).h1 == "This job is no longer listed"


def test_the_preferences_page_lists_hidden_companies_each_with_an_unhide_button(web, card, add_listings):
    add_listings(listing("go-1", company="Fleetbase, Inc."))
    with Session(web.engine) as s:
        other = s.scalar(select(Listing.id).where(Listing.board_id == "go-1"))
    prefs_path = f"/preferences/{tokens.sign(web.settings.secret_keys, 'preferences', card['sid'], 1)}"
    assert not [f for f in Page(web.client.get(prefs_path).data).forms if f["action"].endswith("/unhide")]
    web.post_form(card["hide"])
    web.post_form(f"/feedback/{card['sign']('hide_company', lid=other)}")
    page = Page(web.client.get(prefs_path).data)
    unhide = [f for f in page.forms if f["action"] == prefs_path + "/unhide"]
    assert [f["buttons"] for f in unhide] == [["Show again"], ["Show again"]]
    assert "Hidden companies" in page.text and "Fleetbase, Inc." in page.text and "Ledgerly" in page.text
    keys = [i["value"] for i in page.inputs if i.get("name") == "company"]
    assert keys == ["fleetbase inc", "ledgerly"]

    r = web.post_form(prefs_path + "/unhide", {"company": "ledgerly"})
    assert r.status_code == 200 and Page(r.data).h1 == "Ledgerly is back"
    assert rows(web, HiddenCompany) == [(card["sid"], "fleetbase inc", "Fleetbase, Inc.")]
    assert Page(web.post_form(prefs_path + "/unhide", {"company": "ledgerly"}).data).h1 == "Nothing to show again"
    assert web.post_form(prefs_path + "/unhide", {}).status_code == 400
    assert web.post_form(prefs_path + "/unhide", [("company", "a"), ("company", "b")]).status_code == 400
    web.set(card["sid"], token_version=2)
    assert web.post_form(prefs_path + "/unhide", {"company": "fleetbase inc"}).status_code == 404  # revoked
    assert rows(web, HiddenCompany) == [(card["sid"], "fleetbase inc", "Fleetbase, Inc.")]


def test_operators_see_not_for_me_by_reason_and_hidden_by_per_listing(db_url, tmp_path, web, card, add_listings,
                                                                      add_subscriber):
    add_listings(listing("py-2", company="LEDGERLY"), listing("go-1", company="Acme"))
    people = [card["sid"]] + [add_subscriber(f"p{i}@example.com") for i in range(3)]
    for sid, reason in zip(people, ("wrong_level", "wrong_level", "", "wrong_stack")):
        web.post_form(f"/feedback/{card['sign']('not_for_me', sid=sid)}", {"reason": reason})
    for sid in people[:2]:
        web.post_form(f"/feedback/{card['sign']('hide_company', sid=sid)}")
    out = {row["id"]: row for row in json_lines(cli(db_url, tmp_path, "listings", "list", "--json").stdout)}
    assert out["py-1"]["not_for_me"] == {"wrong_level": 2, "unspecified": 1, "wrong_stack": 1}
    assert (out["py-1"]["hidden_by"], out["py-2"]["hidden_by"], out["go-1"]["hidden_by"]) == (2, 2, 0)  # one company
    assert out["py-2"]["not_for_me"] == out["go-1"]["not_for_me"] == {}
    shown = json_lines(cli(db_url, tmp_path, "subscribers", "show", "ana@example.com", "--json").stdout)[0]
    assert shown["hidden_companies"] == ["Ledgerly"]


def test_removing_a_subscriber_erases_their_feedback(web, card):
    web.post_form(card["nfm"], {"reason": "wrong_stack"})
    web.post_form(card["hide"])
    with Session(web.engine) as s:
        remove(s, s.get(Subscriber, card["sid"]))
        s.commit()
    assert rows(web, NotForMe) == rows(web, HiddenCompany) == []


def test_revoked_links_stop_working_but_new_ones_do(web, card):
    with Session(web.engine) as s:
        s.execute(update(Subscriber).where(Subscriber.id == card["sid"]).values(token_version=Subscriber.token_version + 1))
        s.commit()
    assert web.post_form(card["hide"]).status_code == 404
    assert web.post_form(f"/feedback/{card['sign']('hide_company', version=2)}").status_code == 200


def test_the_mac_is_hmac_sha256_whatever_the_key():
    """Tokens are signed from the key's precomputed HMAC states: the very bytes hmac.digest gives."""
    import hmac

    for key in ("k", "x" * 64, "y" * 65, "é" * 40, "a-development-key"):
        for body in (b"", b"abc", bytes(range(16)) * 3):
            assert tokens._mac(key, body) == hmac.digest(key.encode(), body, "sha256")[:12]


def test_link_lines_encoded_together_are_each_their_own_quoted_printable():
    from digest.message import encode_pieces, encode_text

    pieces = ["   Not for me: https://x.example/feedback/" + "A" * 60 + "\n   Hide Zoë = Café " + "é" * 50 + ": https://y\n",
              "a \n", ".\n", "=" * 200 + "\n\n", "x\ny\n"]
    assert encode_pieces(pieces) == [encode_text(p) for p in pieces]


def test_a_fifteen_listing_digest_with_its_links_stays_under_60_kb_on_the_wire(settings, add_listings,
                                                                               add_subscriber):
    """Fields longer than most boards': 50-character titles, 35-character companies, a precise location and a
    salary on every card (the quality gate's digest-15, with 500-character titles, is the worst case)."""
    add_listings(*(listing(f"py-{i:02d}", title=f"Senior Backend Engineer, Payments Platform API {i:02d}",
                           company=f"Ledgerly Financial Technologies {i:02d}", level="senior",
                           location="Remote - Europe (CET ± 3 hours)", salary="€90,000 – €120,000",
                           stack=["python", "postgresql", "kafka"]) for i in range(18)))
    sid = add_subscriber("ana.lopez@example.com", name="Ana López", stack=["python"])
    run(replace(settings, base_url="https://digest.remotebackendjobs.example.com"), NOW)
    msg = digest_for(settings, sid, NOW)
    raw = next(settings.outbox_dir.rglob(f"*/{sid}.eml")).read_bytes()
    assert len(card_links(msg)) == 15
    print(f"\n15-listing digest: {len(raw):,} bytes on the wire")
    assert len(raw) < 60 * 1024
