"""Each card earns its place: why it is there, what it is, where exactly, when the board verified it; at most two
of one company; a word on the jobs the salary floor kept out. Asserted on the parsed outbox, text and HTML parts
alike (the text part says what the HTML says), on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re

from digest.run import run

from .conftest import NOW, listing, read_outbox

CARD = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


def send(settings, engine) -> dict:
    run(settings, NOW, engine=engine)
    return read_outbox(settings.outbox_dir)


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_text(msg) -> str:
    """The HTML part as a reader sees it: tags gone, entities read, whitespace collapsed."""
    markup = msg.get_body(("html",)).get_content()
    markup = re.sub(r"(?is)<(style|title|head)\b.*?</\1>", " ", markup)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def text_cards(msg) -> dict[str, str]:
    """Each card of the text part by title: its lines after the title but the link, joined by " | "."""
    text = text_of(msg)
    out = {}
    for block in re.split(r"\n(?=\d+\. )", text)[1:]:
        title, _, rest = block.partition("\n")
        lines = [" ".join(line.split()) for line in rest.split("\n\n")[0].splitlines()]
        out[title.split(". ", 1)[1].strip()] = " | ".join(line for line in lines if not line.startswith("https://"))
    return out


def why_of(card: str) -> str:
    """The why-line of a card as text_cards gives it."""
    return next((line for line in card.split(" | ") if line.startswith("Why: ")), "")


def both_say(msg, phrase: str) -> bool:
    return phrase in " ".join(text_of(msg).split()) and phrase in html_text(msg)


def test_at_most_two_listings_of_one_company_the_rest_counted_in_more(engine, settings, add_listings, add_subscriber):
    add_listings(*[listing(f"acme-{n}", company="ACME Payments" if n % 2 else "Acme  payments",
                           title=f"Backend Engineer {n}", verified_at=f"2026-11-22T1{n}:00:00Z") for n in range(4)],
                 listing("other", company="Globex", title="Platform Engineer"))
    add_subscriber("ana@example.com")
    [msg] = send(settings, engine).values()
    shown = [t for _n, t in CARD.findall(text_of(msg))]
    assert shown == ["Backend Engineer 3", "Backend Engineer 2", "Platform Engineer"]  # the freshest two of ACME
    assert msg["Subject"].startswith("5 new backend jobs")
    assert both_say(msg, "+2 more matches this week")


def test_no_company_cap_when_set_to_zero(engine, settings, add_listings, add_subscriber):
    add_listings(*[listing(f"acme-{n}", company="ACME", title=f"Backend Engineer {n}") for n in range(4)])
    add_subscriber("ana@example.com")
    [msg] = send(settings.with_(max_per_company=0), engine).values()
    assert len(CARD.findall(text_of(msg))) == 4


def test_the_digest_says_how_many_more_fell_under_the_salary_floor(engine, settings, add_listings, add_subscriber):
    add_listings(
        listing("rich", title="Staff Engineer", salary="$160,000 - $190,000 usd"),
        listing("poor-1", title="Backend Engineer A", salary="$70,000 - $90,000 usd"),
        listing("poor-2", title="Backend Engineer B", salary="€50,000 - €60,000 per year"),
        listing("unsaid", title="Backend Engineer C"),
    )
    add_subscriber("ana@example.com", min_salary=150_000)
    add_subscriber("bo@example.com", min_salary=150_000, hide_no_salary=True)
    add_subscriber("cy@example.com")
    out = send(settings, engine)
    ana, bo, cy = (out[k] for k in sorted(out, key=lambda k: int(k.split("/")[1])))
    assert sorted(t for _n, t in CARD.findall(text_of(ana))) == ["Backend Engineer C", "Staff Engineer"]
    for msg in (ana, bo):
        assert both_say(msg, "2 more jobs matched but fell under your salary floor.")
        pref = re.search(r"Change your salary floor: (\S+)", text_of(msg)).group(1)
        assert "/preferences/" in pref and pref in msg.get_body(("html",)).get_content()
    assert "salary floor" not in text_of(cy)  # no floor, no note
    assert why_of(text_cards(ana)["Backend Engineer C"]) == "Why: Python · salary not stated"


def test_why_line_role_employer_and_verified_date(engine, settings, add_listings, add_subscriber):
    add_listings(
        listing("exact", title="Senior Go Engineer", stack=["golang"], location="Remote - Europe", level="Senior",
                role_type="APIs", employer_type="startup", verified_at="2026-11-21T09:00:00Z"),
        listing("vague", title="Go Developer", stack=["go", "postgres"], location="Worldwide"),
    )
    add_subscriber("ana@example.com", stack=["go"], level=["senior"], region=["europe"])
    [msg] = send(settings, engine).values()
    cards = text_cards(msg)
    assert cards["Senior Go Engineer"].split(" | ")[:3] == [
        "Company exact · Europe · Senior", "Go · APIs & microservices · Startup · Posted Nov 22, verified Nov 21",
        "Why: Go · Senior · Europe"]
    assert why_of(cards["Go Developer"]) == "Why: Go · level not stated · Worldwide"
    for phrase in ("Why: Go · Senior · Europe", "APIs & microservices · Startup", "verified Nov 21",
                   "Why: Go · level not stated · Worldwide"):
        assert phrase in html_text(msg), phrase


def test_a_location_more_precise_than_its_regions_is_shown_as_written(engine, settings, add_listings, add_subscriber):
    add_listings(
        listing("tz", title="Backend Engineer East", location="Remote - US (EST/CST preferred)"),
        listing("us", title="Backend Engineer US", location="Remote - US only"),
        listing("city", title="Backend Engineer Austin", location="Austin, TX"),
        listing("emea", title="Backend Engineer EMEA", location="EMEA"),
    )
    add_subscriber("ana@example.com")
    [msg] = send(settings, engine).values()
    cards = text_cards(msg)
    where = {title: card.split(" | ")[0] for title, card in cards.items()}
    assert where == {
        "Backend Engineer East": "Company tz · Remote - US (EST/CST preferred)",
        "Backend Engineer US": "Company us · United States",  # the text says no more than that
        "Backend Engineer Austin": "Company city · Austin, TX",
        "Backend Engineer EMEA": "Company emea · Africa · Europe · Middle East · United Kingdom",
    }
    assert "Remote - US (EST/CST preferred)" in html_text(msg) and "Austin, TX" in html_text(msg)


def test_the_why_line_names_the_role_and_employer_they_chose(engine, settings, add_listings, add_subscriber):
    add_listings(
        listing("api", title="API Engineer", role_type="api", employer_type="startup"),
        listing("unsaid", title="Backend Engineer", role_type="", employer_type="startup"),
    )
    add_subscriber("ana@example.com", role=["api"], employer=["startup"])
    [msg] = send(settings, engine).values()
    cards = text_cards(msg)
    assert why_of(cards["API Engineer"]) == "Why: Python · APIs & microservices · Startup"
    assert why_of(cards["Backend Engineer"]) == "Why: Python · role not stated · Startup"
    assert "APIs & microservices · Startup" in html_text(msg)  # "You asked for" names them too
