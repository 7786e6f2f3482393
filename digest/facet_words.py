"""Load the role-type and employer-type sections of the taxonomy into the evidence digest.facets reads."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from .datafile import claim, labelled, phrase_key, strs as _strs, table as _table, tag_key, word_key
from .errors import ConfigError

_ro = MappingProxyType
DECISIVE = 2  # what a title word, tag, company word, decisive description word or pattern scores
_HINT = 1  # what a description hint scores: two different hints make one decisive piece of evidence
_NO_EVIDENCE = re.compile(r"(?!)")
# What may come right before a word; digest.facets puts a space before the text. Matching this one character,
# rather than testing (?<!\w) everywhere, lets the search skip ahead to the places where a word can start.
_BEFORE_WORD = "[\\s!-/:-@\\[-^`{-~\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u00ab\u00bb\u201e]"
_FACET_KEYS = {
    "role_types": ("label", "aliases", "title_words", "title_patterns", "tag_words", "description_words",
                   "description_hints", "description_patterns"),
    "employer_types": ("label", "aliases", "company_words", "description_words", "description_hints",
                       "description_patterns"),
}


class Finder(NamedTuple):
    """Evidence words and patterns of one tier, compiled into one search over " " + the lowercased text."""

    search: re.Pattern[str]  # a separator, then a word (longest first) or a pattern
    words: Mapping[str, tuple[str, int]]  # word_key -> (type, or "" for a false friend; score)
    patterns: tuple[tuple[re.Pattern[str], str], ...]  # each pattern alone, to tell which matched, and its type


class Evidence(NamedTuple):
    """What digest.facets reads to infer one facet when the raw field is empty."""

    order: tuple[str, ...]  # equal scores within a tier go to the first type here
    unstated: frozenset[str]  # raw values (casefolded phrase_key) that say nothing
    title: Finder
    tags: Mapping[str, str]  # tag_key -> type
    company: Finder
    description: Finder


def load_facets(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for section, facet in (("role_types", "role_type"), ("employer_types", "employer_type")):
        labels, aliases, evidence = _facet(data, section, f"{facet}_inference")
        fields.update({section: tuple(labels), f"{facet}_labels": _ro(labels), f"{facet}_aliases": _ro(aliases),
                       f"{facet}_evidence": evidence})
    return fields


def _facet(data: dict[str, Any], section: str, rules_key: str) -> tuple[dict, dict, Evidence]:
    labels, aliases, entries = labelled(data, section, lambda alias: phrase_key(alias).casefold())
    allowed = _FACET_KEYS[section]
    for name, entry in entries.items():
        for key in entry:
            if key not in allowed:
                raise ConfigError(f"{section}.{name}.{key}: unknown key; allowed: {', '.join(allowed)}")
    rules = _table(data, rules_key)
    order = _strs(rules.get("order"), f"{rules_key}.order")
    if sorted(order) != sorted(labels):
        raise ConfigError(f"{rules_key}.order must list each of {', '.join(labels)} once")
    unstated = frozenset(phrase_key(w).casefold() for w in _strs(rules.get("unstated"), f"{rules_key}.unstated"))
    if both := sorted(unstated & aliases.keys()):
        raise ConfigError(f"{rules_key}.unstated: {both[0]!r} is also an alias of {aliases[both[0]]}")
    ignore = _strs(rules.get("ignore"), f"{rules_key}.ignore")
    tags: dict[str, str] = {}
    for name, entry in entries.items():
        for tag in _strs(entry.get("tag_words"), f"{section}.{name}.tag_words"):
            claim(tags, tag_key(tag), name, f"{section}.{name}.tag_words")
    finders = {tier: _finder(section, entries, tier, ignore, rules_key)
               for tier in ("title", "company", "description")}
    return labels, aliases, Evidence(order=tuple(order), unstated=unstated, tags=_ro(tags), **finders)


def _finder(section: str, entries: dict[str, Any], tier: str, ignore: list[str], rules_key: str) -> Finder:
    """Compile one tier: its words (longest first, false friends included), then its patterns."""
    words: dict[str, tuple[str, int]] = {}
    spellings: set[str] = set()  # as written: "scale-up" must not match the verb "scale up"
    patterns: list[tuple[re.Pattern[str], str]] = []
    sources: list[str] = []

    def word(text: str, value: tuple[str, int], where: str) -> None:
        spelling = " ".join(text.lower().split())
        old = words.setdefault(word_key(spelling), value)
        if old != value:
            raise ConfigError(f"{where}: {text!r} already counts for {old[0] or 'nothing (ignore)'}")
        spellings.add(spelling)

    for name, entry in entries.items():
        for field, score in ((f"{tier}_words", DECISIVE), (f"{tier}_hints", _HINT)):
            for text in _strs(entry.get(field), f"{section}.{name}.{field}"):
                word(text, (name, score), f"{section}.{name}.{field}")
        where = f"{section}.{name}.{tier}_patterns"
        for text in _strs(entry.get(f"{tier}_patterns"), where):
            if re.sub(r"\\.", "", text) != re.sub(r"\\.", "", text).lower():
                raise ConfigError(f"{where}: {text!r} has capitals; patterns read the lowercased text")
            try:
                patterns.append((re.compile(f"(?!)|{text}"), name))  # as it will sit among the others
            except re.error as e:
                raise ConfigError(f"{where}: bad regular expression: {e}") from e
            sources.append(text)
    if not words and not patterns:
        return Finder(_NO_EVIDENCE, _ro({}), ())
    for text in ignore:
        word(text, ("", 0), f"{rules_key}.ignore")
    # Words before patterns: a false friend ("time series") hides a pattern that would start inside it.
    alternatives = "|".join([rf"(?:{_trie(sorted(spellings))})(?!\w)"] * bool(spellings) + sources)
    return Finder(re.compile(f"{_BEFORE_WORD}(?:{alternatives})"), _ro(words), tuple(patterns))


def _trie(words: list[str]) -> str:
    """Return one regular expression for the words with shared prefixes factored out, the longest tried first.

    A search through one branch per letter is several times faster than through a hundred alternatives.
    """
    root: dict[str, dict] = {}
    for text in words:
        node = root
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [(r"[\s-]+" if char == " " else re.escape(char)) + emit(child)
                for char, child in sorted(node.items()) if char]
        body = alts[0] if len(alts) == 1 else f"(?:{'|'.join(alts)})" if alts else ""
        return f"(?:{body})?" if body and "" in node else body

    return emit(root)
