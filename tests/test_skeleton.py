"""The page skeleton renders exactly what Jinja renders, for the digest's own pages and for templates it cannot
follow (which it hands back to Jinja)."""

from __future__ import annotations

import random

import pytest
from jinja2 import Environment, StrictUndefined, UndefinedError
from markupsafe import Markup

from digest import skeleton
from digest.render import get_renderer
from digest.settings import Settings
from digest.skeleton import Skeleton

NASTY = ["", "plain", "<b>&amp;</b>", "Ann \"Quote\" O'Brien", "\x00greeting_name\x00", "·–… 🚀", "%(x)s {{ x }}",
         "a\nb", "=?utf-8?q?x?="]


def _values(rng: random.Random) -> dict:
    text = lambda: rng.choice(NASTY)  # noqa: E731
    more = rng.choice([0, 0, 1, 2, 37])
    return {
        "board_name": text() or "Board", "board_href": "https://jobs.example.com", "to_email": text(),
        "preferences_href": "https://d.example.com/preferences/x?a=1&b=2", "unsubscribe_href": "https://d.example.com/u/y",
        "more_href": rng.choice([None, "https://jobs.example.com/search?stack=go&since=2026-11-16"]),
        "greeting_name": text(), "week_label": text(), "summary": rng.choice(["", None, "Go · Senior", "<i>x</i>"]),
        "intro": text(), "jobs": [{"title": "x"}], "total": rng.randrange(0, 500), "more_count": more,
        "more_noun": "match" if more == 1 else "matches", "below_floor": rng.choice([0, 0, 3]),
        "below_floor_line": text(), "subject": text(), "preheader": text(),
    }


@pytest.mark.parametrize("part", ["html", "text"])
def test_the_digest_pages_filled_from_skeletons_equal_jinjas_render(part):
    renderer = get_renderer(Settings().templates_dir)
    split = renderer._html_cards if part == "html" else renderer._text_cards
    page = Skeleton(split.page, split.page_source)
    assert not page.broken and page.truthy == ("below_floor", "more_count", "summary") and page.keyed == ()
    rng = random.Random(7)
    for _ in range(400):
        ctx = _values(rng) | {"cards": Markup("<div>c</div>") if part == "html" else "1. card\n",
                              "preheader_pad": Markup("&#847;&zwnj;&nbsp;")}
        assert page.render(ctx) == split.page.render(ctx)
    # Shapes are the truth of three names (a falsy one by its value: "" and None print apart), not their values.
    assert not page.broken and 1 < len(page._shapes) <= 2 * 2 * 3


def test_a_name_compared_or_filtered_keys_the_shape_by_its_value():
    env = Environment(autoescape=True, undefined=StrictUndefined)
    source = "{{ n }} {{ 'one' if n == 1 else 'many' }} {{ name|upper }} {% if flag %}[{{ flag }}]{% endif %} {{ s }}"
    page = Skeleton(env.from_string(source), source)
    assert page.keyed == ("n", "name") and page.truthy == ("flag",) and page.printed == {"s"}
    for n, name, flag, s in [(1, "a", "", "<x>"), (2, "a", "y", "z"), (1, "b", None, ""), (1, "a", "&", "q")]:
        ctx = {"n": n, "name": name, "flag": flag, "s": s}
        assert page.render(ctx) == env.from_string(source).render(ctx)
    assert not page.broken


def test_a_template_it_cannot_follow_goes_to_jinja():
    env = Environment(autoescape=False, undefined=StrictUndefined)
    source = "{% for x in xs %}{{ x }},{% endfor %}{{ y }}"
    page = Skeleton(env.from_string(source), source)
    assert page.broken
    assert page.render({"xs": [1, 2], "y": "z"}) == "1,2,z"


def test_a_template_holding_a_mark_like_text_is_rendered_by_jinja():
    env = Environment(autoescape=False, undefined=StrictUndefined)
    source = "a \x00y\x00 {{ y }}"
    page = Skeleton(env.from_string(source), source)
    assert page.render({"y": "v"}) == "a \x00y\x00 v" and page.broken


def test_a_missing_name_is_jinjas_error_and_shapes_stay_bounded(monkeypatch):
    env = Environment(autoescape=True, undefined=StrictUndefined)
    source = "{{ 'x' if n > 1 else 'y' }}{{ v }}"
    page = Skeleton(env.from_string(source), source)
    with pytest.raises(UndefinedError):
        page.render({"v": 1})
    monkeypatch.setattr(skeleton, "MAX_SHAPES", 5)
    for n in range(40):
        assert page.render({"n": n, "v": n}) == ("x" if n > 1 else "y") + str(n)
    assert len(page._shapes) <= 5
