"""SpamAssassin (Debian's package, local tests only) scores every message type at most 1.0.

Local tests only (-L): no DNS blocklists, no Razor/Pyzor. What the network adds in production (SPF, DKIM,
DMARC results, URI blocklists) is the sending domain's setup: README "Deliverability".
"""

from __future__ import annotations

import pytest

from .conftest import SPAM_LOG, start_spamd
from .corpus import NAMES

LIMIT = 1.0


@pytest.mark.parametrize("name", NAMES)
def test_scores_at_most_one_point(spamassassin, samples, name):
    score, rules, report = spamassassin.report(samples[name].raw)
    SPAM_LOG[name] = {"score": score, "rules": [{"points": p, "rule": r, "description": d} for p, r, d in rules]}
    fired = ", ".join(f"{r} {p:+.1f}" for p, r, _ in rules) or "none"
    print(f"\nSpamAssassin {name}: {score:.1f} ({fired})")
    assert score <= LIMIT, f"{name} scores {score}:\n{report}"
    # Within the limit, but hidden-text tricks are what spam does: the preheader hides without a colour
    assert "HTML_FONT_LOW_CONTRAST" not in {r for _, r, _ in rules}, report
    assert sum(p for p, _, _ in rules) == pytest.approx(score, abs=0.15)  # the report lists what counted


def test_the_gate_sees_a_bad_message(spamassassin, samples):
    """The same check scores an HTML-only digest without Date and Message-ID above the limit."""
    raw = samples["digest-1"].raw
    head, _, _ = raw.partition(b"\r\n\r\n")
    kept = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith((b"Date:", b"Message-ID:")))
    html = samples["digest-1"].message.get_body(("html",))
    bad = kept.split(b"\r\nContent-Type:")[0] + b"\r\n" + html.as_bytes(policy=html.policy.clone(linesep="\r\n"))
    score, rules, _ = spamassassin.report(bad)
    assert score > LIMIT and {"MISSING_DATE", "MISSING_MID"} <= {r for _, r, _ in rules}, rules


def test_missing_rules_are_an_error_not_a_zero(spamassassin, tmp_path):
    """What an sa-update without network leaves behind (an empty rules directory) is reported, never scored."""
    run_dir, empty = tmp_path / "spamd", tmp_path / "rules"
    run_dir.mkdir()
    empty.mkdir()
    sa, problem = start_spamd(run_dir, empty)
    assert sa is None and "no rules were found" in problem, problem
