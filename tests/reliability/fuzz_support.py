"""What the fuzz and abuse suites share: one Hypothesis profile, an example counter written to
test-artifacts/fuzz-examples.json, a per-example database reset, and strategies for hostile text.

Hypothesis runs many examples inside one pytest test, so function-scoped fixtures (a fresh database, the web
app) are built once per test: each example resets what it touches itself (`reset_database`).
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from sqlalchemy import Engine, text

from ..conftest import TABLES, write_artifact

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
N = int(os.environ.get("FUZZ_N", 0))  # FUZZ_N=2000 raises every property's example count for a longer hunt

# Deterministic in CI (the same examples every run, no example database); locally random, with the
# example database in .hypothesis/ replaying any failure first.
settings.register_profile(
    "jobdigest-fuzz",
    deadline=None,
    derandomize=CI,
    database=None if CI else settings.default.database,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("jobdigest-fuzz")


def fuzz(max_examples: int):
    """The suite's settings with an explicit example count."""
    return settings(FUZZ, max_examples=max_examples)


# --- counting examples --------------------------------------------------------------------------------------

ARTIFACT = "fuzz-examples.json"
_counts: Counter[str] = Counter()
_current: list[str] = [""]


def counted(fn):
    """Count every example Hypothesis runs through `fn` (generated, explicit and shrinking alike)."""

    @functools.wraps(fn)
    def inner(*args, **kwargs):
        _counts[_current[0] or fn.__name__] += 1
        return fn(*args, **kwargs)

    return inner


@pytest.fixture
def fuzz_property(request):
    """Key the counts by test id (the database variant included)."""
    _current[0] = request.node.nodeid.split("::", 1)[-1]
    yield
    _current[0] = ""


@pytest.fixture(scope="module")
def fuzz_counts():
    """After each module, merge this process's counts into test-artifacts/fuzz-examples.json."""
    yield
    path = Path(__file__).resolve().parents[2] / "test-artifacts" / ARTIFACT
    try:
        known = json.loads(path.read_text(encoding="utf-8")).get("properties", {})
    except (OSError, ValueError):
        known = {}
    known.update({name: n for name, n in _counts.items()})
    write_artifact(ARTIFACT, {
        "total": sum(known.values()),
        "deterministic": CI,
        "properties": dict(sorted(known.items())),
    })
    print(f"\nfuzz examples tried in this module run: {sum(_counts.values())}; "
          f"all properties on record: {sum(known.values())} (test-artifacts/{ARTIFACT})")


# --- the database, per example ------------------------------------------------------------------------------

def reset_database(engine: Engine) -> None:
    """Empty every table (ids restart), as the conftest's fresh database does, without a new file or server."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES.split(", "):
                conn.execute(text(f'DELETE FROM "{table}"'))
            if conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
                conn.execute(text("DELETE FROM sqlite_sequence"))


# --- hostile text -------------------------------------------------------------------------------------------

# Line breaks of every kind (CR, LF, VT, FF, NEL, LS, PS), NUL, escape, bidi overrides, zero-width and BOM,
# markup and quoting characters.
NASTY_CHARS = ("\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\u200b",
               "\u200e", "\u202e", "\u2066", "\ufeff", "\u00a0", "<", ">", '"', "'", "&", ";", ":", "=", "?", "%",
               "\\", "\t", " ")
PAYLOADS = (
    "\r\nBcc: evil@attacker.example", "\nX-Injected: yes", "\rSubject: hijacked", "\u2028Bcc: evil@attacker.example",
    "\x85X-Injected: nel", "\u2029X-Injected: ps", "\x00Bcc: nul@attacker.example",
    "=?utf-8?q?=0D=0ABcc:_evil@attacker.example?=", "=?utf-8?b?DQpCY2M6IGV2aWw=?=", "%0d%0aBcc:%20evil",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>",
    "javascript:alert(1)", "JaVaScRiPt:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)", "<a href=\"javascript:alert(1)\">x</a>", "{{ 7*7 }}", "{% raw %}", "&lt;script&gt;",
    "\u202eevil\u202c", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "👩‍💻", "مهندس",
    "a" * 300, "Ω" * 120,
)


def hostile_text(max_parts: int = 6) -> st.SearchStrategy[str]:
    """Text built from injection payloads, nasty characters and arbitrary Unicode (no lone surrogates)."""
    part = st.one_of(st.sampled_from(PAYLOADS), st.sampled_from(NASTY_CHARS), st.text(max_size=12))
    return st.lists(part, min_size=1, max_size=max_parts).map("".join)
