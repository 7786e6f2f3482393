"""html-validate (npm, devDependency) on every message's HTML: tag closing, duplicate ids, alt text and the rest of
its recommended preset, with the email-only exceptions of tests/quality/htmlvalidate.mjs. No errors allowed."""

from __future__ import annotations

import pytest

from .conftest import ARTIFACTS, run_html_validate
from .corpus import NAMES


@pytest.mark.parametrize("name", NAMES)
def test_no_html_validate_errors(html_validate, name):
    messages = html_validate[f"{name}.html"]
    for m in messages:
        print(f"\nhtml-validate {name}:{m['line']}:{m['column']} {m['ruleId']} {m['message']}")
    errors = [m for m in messages if m["severity"] >= 2]
    assert not errors, [(m["ruleId"], m["line"], m["message"]) for m in errors]


def test_the_validator_catches_what_it_is_for(html_validate):
    """The same configuration reports an unclosed tag, a duplicate id and an image without alt."""
    bad = ARTIFACTS / "known-bad.html"
    bad.write_text('<!doctype html><html lang="en"><head><title>t</title></head><body>'
                   '<div id="a"><span id="a">x</div><img src="https://example.org/x.png" width="1"></body></html>')
    try:
        (messages,) = run_html_validate([str(bad)]).values()
    finally:
        bad.unlink()
    rules = {m["ruleId"] for m in messages if m["severity"] >= 2}
    assert {"close-order", "no-dup-id", "wcag/h37"} <= rules, rules
