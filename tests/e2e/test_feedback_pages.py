"""The feedback links of a digest's cards in Debian's Chromium against `digest serve`, JavaScript on and off: opening a
link changes nothing, the button applies, undo takes it back, hidden companies come back from the preferences
page; axe on every page (light and dark); screenshots for the README."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.models import HiddenCompany, NotForMe
from digest.run import run

from ..conftest import NOW, listing, listing_ids
from .conftest import DESKTOP, PHONE, SHOTS as SCREENSHOTS, check_page
from ..support.journey import JS, digests, fresh, link, save_png, subscriber

NEXT_WEEK = NOW + timedelta(days=7)
SHOTS = ("feedback-not-for-me-phone.png", "feedback-done-phone.png", "feedback-hide-phone.png",
         "preferences-hidden-desktop.png")


def feedback_rows(engine) -> tuple[list[tuple], list[tuple]]:
    with Session(engine) as s:
        return (s.execute(select(NotForMe.board_id, NotForMe.reason)).all(),
                s.execute(select(HiddenCompany.company)).all())


@JS
def test_not_for_me_from_the_digest_applies_on_the_button_and_undo_takes_it_back(server, settings, engine,
                                                                                add_listings, add_subscriber,
                                                                                new_page, js):
    add_listings(listing("py-sr", title="Senior Python Engineer", company="Ledgerly", level="senior"),
                 listing("py-2", title="Python Developer", company="Acme Health"))
    add_subscriber("ana@example.com", stack=["python"])
    run(settings, NOW)
    (week1,) = digests(settings, "ana@example.com").values()
    assert listing_ids(week1) == ["py-sr", "py-2"]

    page = new_page(java_script_enabled=js)
    page.goto(link(week1, "Not for me"))  # the first card's
    expect(page.get_by_role("heading", level=1)).to_have_text("Not for me")
    expect(page.get_by_text("Senior Python Engineer")).to_be_visible()
    check_page(page, "not for me", axe=js)
    assert feedback_rows(engine) == ([], [])  # a scanner opening the link changes nothing

    page.get_by_role("group", name=re.compile("Why")).get_by_label("Wrong level").check()
    page.get_by_role("button", name="Not for me").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You will not see this job again")
    expect(page.get_by_role("status")).to_contain_text("Reason: wrong level")
    check_page(page, "not for me (done)", axe=js)
    assert feedback_rows(engine) == ([("py-sr", "wrong_level")], [])

    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status")).to_contain_text("Undone")
    check_page(page, "not for me (undone)", axe=js)
    assert feedback_rows(engine) == ([], [])
    page.get_by_role("button", name="Not for me").click()  # and again, without a reason this time
    expect(page.get_by_role("heading", level=1)).to_have_text("You will not see this job again")
    assert feedback_rows(engine) == ([("py-sr", None)], [])


@JS
def test_hide_a_company_and_show_it_again_from_the_preferences_page(server, settings, engine, add_listings,
                                                                    add_subscriber, new_page, js):
    add_listings(listing("py-1", title="Python Engineer", company="Fleetbase, Inc."),
                 listing("py-2", title="Backend Engineer", company="Acme Health"))
    add_subscriber("bo@example.com", stack=["python"])
    run(settings, NOW)
    (week1,) = digests(settings, "bo@example.com").values()
    page = new_page(java_script_enabled=js)
    page.goto(link(week1, "Hide Fleetbase, Inc."))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hide Fleetbase, Inc.?")
    check_page(page, "hide company", axe=js)
    assert feedback_rows(engine) == ([], [])

    page.get_by_role("button", name="Hide Fleetbase, Inc.").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fleetbase, Inc. is hidden")
    check_page(page, "hide company (done)", axe=js)
    assert feedback_rows(engine) == ([], [("Fleetbase, Inc.",)])

    add_listings(fresh("py-3", NEXT_WEEK, title="Platform Engineer", company="FLEETBASE INC"),
                 fresh("py-4", NEXT_WEEK, title="API Engineer", company="Globex"))
    run(settings, NEXT_WEEK)
    assert listing_ids(digests(settings, "bo@example.com")["2026-W49"]) == ["py-4"]

    page.get_by_role("link", name=re.compile("hidden companies")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your digest preferences")
    hidden = page.get_by_role("list", name="Hidden companies")
    expect(hidden.get_by_role("listitem")).to_have_text(["Fleetbase, Inc. Show again"])
    check_page(page, "preferences with hidden companies", axe=js)
    hidden.get_by_role("button", name="Show again").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fleetbase, Inc. is back")
    check_page(page, "company shown again", axe=js)
    assert feedback_rows(engine) == ([], [])
    assert subscriber(engine, "bo@example.com").status == "active"


def test_feedback_pages_pass_axe_in_the_dark_and_answer_bad_links_with_the_404_page(server, settings, add_listings,
                                                                                    add_subscriber, page):
    add_listings(listing("py-1", company="Ledgerly"))
    add_subscriber("cy@example.com", stack=["python"])
    run(settings, NOW)
    (week1,) = digests(settings, "cy@example.com").values()
    nfm, hide = link(week1, "Not for me"), link(week1, "Hide Ledgerly")
    page.emulate_media(color_scheme="dark")
    for name, url in (("not for me (dark)", nfm), ("hide company (dark)", hide)):
        page.goto(url)
        check_page(page, name)
    response = page.goto(nfm[:-2])
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")


def test_feedback_screenshots(server, settings, add_listings, add_subscriber, new_page):
    shots = SCREENSHOTS
    add_listings(listing("py-1", title="Senior Python Engineer (Payments API)", company="Ledgerly", level="senior",
                         location="Remote - Europe", salary="€85,000 – €105,000"),
                 listing("go-1", title="Backend Engineer, Go", company="Fleetbase", stack=["go"]))
    add_subscriber("ana@example.com", stack=["python", "go"], timezone="Europe/Berlin")
    run(settings, NOW)
    (msg,) = digests(settings, "ana@example.com").values()
    page = new_page(viewport=PHONE, color_scheme="light", bypass_csp=False)
    page.goto(link(msg, "Not for me"))
    page.get_by_label("Wrong level").check()
    save_png(shots / SHOTS[0], page.screenshot(full_page=True))
    page.get_by_role("button", name="Not for me").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You will not see this job again")
    save_png(shots / SHOTS[1], page.screenshot(full_page=True))
    page.goto(link(msg, "Hide Fleetbase"))
    save_png(shots / SHOTS[2], page.screenshot(full_page=True))
    page.get_by_role("button", name="Hide Fleetbase").click()
    desktop = new_page(viewport=DESKTOP, color_scheme="light", bypass_csp=False)
    desktop.goto(link(msg, "Manage preferences"))
    expect(desktop.get_by_role("list", name="Hidden companies")).to_be_visible()
    desktop.get_by_role("list", name="Hidden companies").scroll_into_view_if_needed()
    save_png(shots / SHOTS[3], desktop.screenshot(full_page=True))
    assert all((shots / name).exists() for name in SHOTS)
