"""The digest templates: what the subscriber reads, escaped, accessible, compiled once."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from digest import render
from digest.compose import Composer
from digest.content import FeedbackLinks
from digest.message import encode_text
from digest.render import Renderer, clean_text, get_renderer, http_url
from digest.settings import Settings
from digest.skeleton import ascii_html
from digest.taxonomy import load_taxonomy

from .support.content import XSS, TEMPLATES, Anchors, long_jobs, make_content, tricky_jobs

ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # a flag made of tag characters


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


def anchors(html: str) -> list[tuple[str, str]]:
    parser = Anchors()
    parser.feed(html)
    return parser.links


@pytest.mark.parametrize(
    ("jobs", "total", "expected"),
    [
        (1, None, "1 new backend job for you: Python, Go · Senior · Europe"),
        (5, None, "5 new backend jobs for you: Python, Go · Senior · Europe"),
        (15, 42, "42 new backend jobs for you: Python, Go · Senior · Europe"),
    ],
)
def test_subject_counts_the_new_matches(renderer, jobs, total, expected):
    assert renderer.subject(make_content(jobs, total)) == expected


def test_subject_without_summary_and_with_a_hostile_one(renderer):
    assert renderer.subject(make_content(2, summary="")) == "2 new backend jobs for you"
    subject = renderer.subject(make_content(2, summary="Python\r\nBcc: x@y " + "Go " * 40))
    assert "\r" not in subject and "\n" not in subject and len(subject) < 100


def test_preheader_names_companies_and_is_hidden(renderer):
    content = make_content(5)
    preheader = renderer.preheader(content)
    assert preheader == "5 new remote roles this week: Acme 0, Acme 1, Acme 2, …"
    html = renderer.html(content)
    hidden = html.index('<div style="display:none;')
    assert hidden < html.index(ascii_html(htmllib.escape(preheader, quote=True))) < html.index('role="article"')


def test_html_document_is_accessible_and_self_contained(renderer):
    content = make_content(5)
    html = renderer.html(content)
    assert html.startswith("<!doctype html>")
    assert '<html lang="en"' in html
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert htmllib.unescape(title) == renderer.subject(content)
    assert '<meta name="color-scheme" content="light dark"' in html
    assert "prefers-color-scheme: dark" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'role="presentation"' in html and "role=\"article\"" in html
    assert "fonts.googleapis" not in html and "<link" not in html
    assert "{{" not in html and "{%" not in html and "<mj-" not in html


def test_html_links_are_http_and_meaningful(renderer):
    content = make_content(tricky_jobs(), total=9)
    links = anchors(renderer.html(content))
    assert links and all(href.startswith(("https://", "http://")) for href, _ in links)
    texts = {text for _, text in links}
    expected = {"Manage preferences", "Unsubscribe", "See all 9 matches", "Browse all jobs on Backend Jobs Weekly"}
    assert expected <= texts
    assert not texts & {"", "here", "click here", "link", "more", "this"}
    assert (content.unsubscribe_url, "Unsubscribe") in links
    assert (content.more_url, "See all 9 matches") in links


def test_html_escapes_everything_from_listings(renderer):
    html = renderer.html(make_content(tricky_jobs()))
    assert "<script" not in html and "<img" not in html and "<b>Ltd" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Smith &amp; &#34;Sons&#34; &lt;b&gt;Ltd&lt;/b&gt;" in html
    assert "javascript:" not in html and "data:text" not in html
    # the job with the unsafe URL keeps its title, just not as a link
    assert "LinkedTitleWithControls" not in html and "Linked Title" in html


def test_html_strips_bidi_and_zero_width_but_keeps_emoji_and_rtl(renderer):
    raw = renderer.html(make_content(tricky_jobs()))
    assert raw.isascii()  # other characters as references, which is what a reader reads
    html = htmllib.unescape(raw)
    for char in "\u202e\u200b\u2066\u2069\x00\x1b\r":
        assert char not in html
    assert "مهندس Python" in html and "🚀 Rocket Engineer 👩‍💻" in html and "Café Zürich GmbH" in html


def test_text_part_says_what_the_html_says(renderer):
    content = make_content(tricky_jobs(), total=9)
    text = renderer.text(content)
    for job in content.jobs:
        for value in (job.company, job.location, job.level, job.salary, *job.stack):
            if value:
                assert clean_text(value) in text
        assert clean_text(job.title) in text
    assert "https://jobs.example.com/jobs/0?ref=digest&src=email" in text  # no HTML escaping here
    assert XSS in text  # plain text shows the title as written; it is never interpreted
    assert "javascript:" not in text and "data:text" not in text
    assert f"See all 9 matches: {content.more_url}" in text
    assert f"Manage preferences: {content.preferences_url}" in text
    assert f"Unsubscribe: {content.unsubscribe_url}" in text
    assert f"Browse all jobs on Backend Jobs Weekly: {content.board_url}" in text
    assert "🚀 Rocket Engineer 👩‍💻" in text and "مهندس Python" in text
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069]", text)


def test_text_part_reads_well(renderer):
    text = renderer.text(make_content(2))
    assert text.startswith("Backend Jobs Weekly · week of Nov 23, 2026\n\nHi Ana,\n")
    assert (
        "1. Senior Python Engineer 0\n"
        "   Acme 0 · Europe · UK · Senior\n"
        "   $140k–$180k / year · Python, PostgreSQL · Posted Nov 18\n"
        "   https://jobs.example.com/jobs/0?ref=digest&src=email\n"
    ) in text
    assert "\n\n\n\n" not in text and "more match" not in text


def test_more_link_only_when_there_are_more(renderer):
    assert "See all" not in renderer.html(make_content(3)) + renderer.text(make_content(3))
    one_more = make_content(3, total=4)
    assert "+1 more match this week" in renderer.text(one_more)
    assert "+1 more match this week" in renderer.html(one_more)


def test_greeting_without_a_name(renderer):
    content = make_content(1, to_name=None)
    assert "Hi there," in renderer.text(content) and "Hi there," in renderer.html(content)


def test_unsafe_system_links_are_refused(renderer):
    with pytest.raises(ValueError, match="unsubscribe_url"):
        renderer.html(make_content(1, unsubscribe_url="javascript:alert(1)"))


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize(
    ("fg", "bg"),
    [(fg, bg) for fg in ("#1f2937", "#4b5563", "#1d4ed8") for bg in ("#ffffff", "#f3f4f6")]
    + [(fg, bg) for fg in ("#e5e7eb", "#9ca3af", "#93c5fd") for bg in ("#1f2937", "#111827")],
)
def test_palette_contrast_meets_wcag_aa(renderer, fg, bg):
    html = renderer.html(make_content(2))
    assert fg in html and bg in html
    assert contrast(fg, bg) >= 4.5, f"{fg} on {bg}: {contrast(fg, bg):.2f}"


def test_mjml_is_compiled_once_per_renderer_and_process(monkeypatch, tmp_path):
    calls = []
    real = render.mjml2html
    monkeypatch.setattr(render, "mjml2html", lambda *a, **k: calls.append(a) or real(*a, **k))
    renderer = Renderer(TEMPLATES)
    renderer.html(make_content(1))
    renderer.html(make_content(5))
    renderer.text(make_content(5))
    assert len(calls) == 1
    render._cached_renderer.cache_clear()
    try:
        first = get_renderer(TEMPLATES)
        assert get_renderer(TEMPLATES) is first
        assert get_renderer(TEMPLATES / ".." / "templates") is first
        first.html(make_content(2))
        assert len(calls) == 2
    finally:
        render._cached_renderer.cache_clear()


def test_html_size_stays_lean(renderer):
    html = renderer.html(make_content(long_jobs(15), total=40))
    one = renderer.html(make_content(1))
    print(f"\nHTML: 1 job {len(one.encode())} B, 15 long jobs {len(html.encode())} B")
    assert len(html.encode()) < 60_000


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\u202eb\u200bc\r\nd", "abc d"),
        ("  many   spaces\t\there ", "many spaces here"),
        ("👩‍💻 dev", "👩‍💻 dev"),
        ("stray\u200djoiner", "strayjoiner"),
        (ENGLAND + " flag", ENGLAND + " flag"),
        ("smuggled\U000e0041\U000e0042", "smuggled"),
        ("line\u2028sep", "line sep"),
        (None, ""),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://jobs.example.com/a?b=1&c=2", "https://jobs.example.com/a?b=1&c=2"),
        (" http://x.example.com/ ", "http://x.example.com/"),
        ("https://ex.com/a b\"<>", "https://ex.com/a%20b%22%3C%3E"),
        ("https://exämple.com/ü", "https://ex%C3%A4mple.com/%C3%BC"),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("//evil.example.com", None),
        ("https:\\\\evil.example.com", None),
        ("https://x.example.com/\r\nBcc: y", None),
        ("https://x.example.com/\u202emoc.live", None),
        ("https://[::1", None),
        ("", None),
    ],
)
def test_http_url(raw, url):
    assert http_url(raw) == url


@pytest.mark.parametrize("jobs", [1, 5, "long", "tricky", "mixed"])
def test_cards_rendered_once_per_job_give_the_very_bytes_of_the_template_loop(jobs):
    """Each listing's card is rendered once per run and joined; the result must equal the plain loop."""
    fresh = Renderer(TEMPLATES)
    assert fresh._html_cards is not None and fresh._text_cards.card_parts is not None  # the fast path is on
    chosen = {"long": long_jobs(), "tricky": tricky_jobs(), "mixed": tricky_jobs()[:2] + long_jobs(3)}.get(jobs, jobs)
    n = len(make_content(chosen).jobs)
    whys = tuple(["Go · Senior · Europe", "", "<b>Rust</b> & Go · level not stated", "\u202eevil\u200b · Worldwide",
                  "Python"] * 4)[:n]
    linked = make_content(chosen, feedback=feedback_for(make_content(chosen).jobs, skip_first=True))
    for content in (make_content(chosen), make_content(chosen, total=40), make_content(chosen, to_name="Zoë"), linked,
                    make_content(chosen, whys=whys, below_floor=3),
                    make_content(chosen, whys=whys, feedback=linked.feedback)):
        ctx = fresh._ctx(content)
        # the page Jinja renders, in ASCII (what the renderer hands out: other characters as references)
        assert fresh.html(content) == ascii_html(fresh._html.render(ctx, preheader_pad=render._PREHEADER_PAD))
        assert fresh.text(content) == fresh._text.render(ctx)
        # What a send uses: one render of everything, the text in pieces cut at line ends.
        rendered = fresh.render(content)
        assert (rendered.html, rendered.text) == (
            ascii_html(fresh._html.render(ctx, preheader_pad=render._PREHEADER_PAD)), fresh._text.render(ctx))
        assert (rendered.subject, rendered.preheader) == (fresh.subject(content), fresh.preheader(content))
        cards = [piece for pair in zip(rendered.text_cards, rendered.text_links) for piece in pair if piece]
        pieces = [rendered.text_head, *cards, rendered.text_tail]
        assert len(rendered.text_cards) == len(content.jobs) and all(p.endswith("\n") for p in pieces[:-1])
        # ... so their quoted-printable, joined, is the quoted-printable of the whole text.
        assert b"".join(encode_text(p) for p in pieces) == encode_text(rendered.text)
        # The composer keeps each card's encoding in two memoised pieces (numbered line, rest): still the whole's.
        composer = Composer(Settings(), load_taxonomy(), fresh)
        for _twice in (1, 2):
            assert composer.text_body(rendered.text_head, rendered.text_cards, rendered.text_tail,
                                      rendered.text_links) == encode_text(rendered.text)
    again = make_content(chosen)
    assert fresh.html(again) == fresh.html(again)  # from the card cache now
    assert fresh.html(linked) == fresh.html(linked)
    assert (fresh.html(linked) != fresh.html(again)) == any(linked.feedback)  # one job: its card has no links


def feedback_for(jobs, skip_first: bool = False) -> tuple[FeedbackLinks | None, ...]:
    """Per-subscriber feedback links for each card (none for the first, when asked: a listing not from the
    database has none)."""
    return tuple(None if skip_first and i == 0 else
                 FeedbackLinks(f"https://digest.example.com/feedback/nfm{i}-{j.id}",
                               f"https://digest.example.com/feedback/hide{i}-{j.id}")
                 for i, j in enumerate(jobs))


def test_each_card_has_its_subscribers_feedback_links_in_both_parts(renderer):
    jobs = tricky_jobs()[:2] + long_jobs(2)
    content = make_content(jobs, feedback=feedback_for(jobs))
    html, text = renderer.html(content), renderer.text(content)
    hrefs = re.findall(r'href="(https://digest\.example\.com/feedback/[^"]+)"', html)
    assert hrefs == [u for f in content.feedback for u in (f.not_for_me_url, f.hide_company_url)]
    for job, links in zip(jobs, content.feedback):
        assert f"Not for me: {links.not_for_me_url}" in text
        assert re.search(rf"   Hide .+: {re.escape(links.hide_company_url)}\n", text)
    assert text.count("Not for me:") == html.count(">Not for me</a>") == len(jobs)
    # Another subscriber, the same cards: their own links, none of the first one's.
    other = make_content(jobs, feedback=tuple(FeedbackLinks(f.not_for_me_url + "x", f.hide_company_url + "x")
                                              for f in content.feedback))
    assert all(f"{f.not_for_me_url}x" in renderer.html(other) and f'{f.not_for_me_url}"' not in renderer.html(other)
               for f in content.feedback)
    assert ">Not for me</a>" not in renderer.html(make_content(jobs))  # no links given, none shown
