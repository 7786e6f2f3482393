"""Infer a listing's role type and employer type from its raw fields, title, tags and description; pure."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from .errors import NormaliseError
from .datafile import TAG_PARTS as _TAG_PARTS
from .datafile import TAG_SPLIT as _TAG_SPLIT
from .datafile import phrase_key, tag_key, word_key
from .facet_words import DECISIVE, Evidence, Finder
from .taxonomy import Taxonomy

# Ads say what the role and the employer are in their first paragraphs; reading no further than this bounds
# the cost of a 20,000-character description (the import reads 100k listings).
DESCRIPTION_CAP = 3000
_HTML_TAG = re.compile(r"<[^<>]*>")


def role_type(raw: str | None, title: str, tags: list[str], description: str | None, taxonomy: Taxonomy) -> str | None:
    """Return the role type (api, data, platform) a raw value names, else infer it; None when unknown.

    Inference reads the title, then the tags, then the description, and the first of them with enough
    evidence decides, so "Data Engineer" is data whatever the description says. Within one of them each
    type scores 2 for every different title word, tag, decisive description phrase or pattern and 1 for
    every different description hint (the words are in taxonomy.toml, [role_types.*]); the highest score
    of at least 2 wins, and equal scores go to the first type in [role_type_inference] order: data, then
    platform, then api (the more specific role wins: "Data Platform" is data, "Platform API" platform).
    Raises NormaliseError when the raw value is given but names no role type.
    """
    ev = taxonomy.role_type_evidence
    given = _given(raw, taxonomy.role_type_aliases, ev, taxonomy.role_types, "role type")
    if given:
        return given
    return (_pick(_scores(ev.title, title), ev.order)
            or _pick(_tag_scores(tags, ev), ev.order)
            or _pick(_scores(ev.description, _readable(description)), ev.order))


def employer_type(raw: str | None, company: str, description: str | None, taxonomy: Taxonomy) -> str | None:
    """Return the employer type (startup, scaleup, enterprise, agency) a raw value names, else infer it.

    Inference reads the company name ("Northwind Consulting"), then the description, scored as for
    role_type; equal scores go to the first type in [employer_type_inference] order: agency, enterprise,
    scaleup, startup (an agency naming its clients' funding stage is still an agency; a later stage wins
    over an earlier one). Returns None when unknown; raises NormaliseError when the raw value is given but
    names no employer type.
    """
    ev = taxonomy.employer_type_evidence
    given = _given(raw, taxonomy.employer_type_aliases, ev, taxonomy.employer_types, "employer type")
    if given:
        return given
    return (_pick(_scores(ev.company, company), ev.order)
            or _pick(_scores(ev.description, _readable(description)), ev.order))


def _given(raw: str | None, aliases: Mapping[str, str], ev: Evidence, allowed: tuple[str, ...],
           what: str) -> str | None:
    key = phrase_key(raw).casefold() if raw else ""
    if not key or key in ev.unstated:
        return None
    found = aliases.get(key)
    if found is None:
        raise NormaliseError(f"unknown {what} {raw!r}; allowed: {', '.join(allowed)}")
    return found


def _readable(description: str | None) -> str:
    """Return the start of a description as plain text (boards often send HTML)."""
    text = (description or "")[:DESCRIPTION_CAP]
    if "<" in text:
        text = _HTML_TAG.sub(" ", text)
    return html.unescape(text) if "&" in text else text


def _scores(finder: Finder, text: str | None) -> dict[str, int]:
    """Score each type by the different evidence words and patterns found in a text."""
    scores: dict[str, int] = {}
    if not text:
        return scores
    text = " " + text.lower()  # every match starts with the character before its word
    seen: set[object] = set()
    for m in finder.search.finditer(text):
        start = m.start() + 1
        key: object = word_key(text[start:m.end()])
        hit = finder.words.get(key)
        if hit is None:  # not a word, so one of the patterns: the first that matches here
            key = next((i for i, (p, _) in enumerate(finder.patterns) if p.match(text, start)), None)
            hit = (finder.patterns[key][1], DECISIVE) if key is not None else ("", 0)
        if hit[0] and key not in seen:
            seen.add(key)
            scores[hit[0]] = scores.get(hit[0], 0) + hit[1]
    return scores


def _tag_scores(tags: list[str] | str | None, ev: Evidence) -> dict[str, int]:
    """Score each type by the different tags that name it."""
    scores: dict[str, int] = {}
    seen: set[str] = set()
    for item in [tags] if isinstance(tags, str) else tags or ():
        text = str(item)
        for piece in _TAG_SPLIT.split(text) if _TAG_SPLIT.search(text) else (text,):
            key = tag_key(piece)
            # The whole tag first ("ci/cd"), then its parts ("Python (Airflow)", "Terraform/Pulumi").
            whole = key in ev.tags or not _TAG_PARTS.search(key)
            for k in (key,) if whole else map(tag_key, _TAG_PARTS.split(key)):
                kind = ev.tags.get(k)
                if kind and k not in seen:
                    seen.add(k)
                    scores[kind] = scores.get(kind, 0) + DECISIVE
    return scores


def _pick(scores: dict[str, int], order: tuple[str, ...]) -> str | None:
    best = max(scores.values(), default=0)
    if best < DECISIVE:
        return None
    return next(kind for kind in order if scores.get(kind) == best)
