"""Validation helpers for the data files (taxonomy, rates): each names the key at fault."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError

NEVER = re.compile(r"(?!)")


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Read a TOML data file; an unreadable or malformed one is a ConfigError naming `what` and the path."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} {path} is not valid TOML: {e}") from e


def table(parent: dict[str, Any], key: str, where: str = "", *, of_tables: bool = False) -> dict[str, Any]:
    """Return parent[key] when it is a non-empty table (of tables, when asked)."""
    value = parent.get(key)
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"[{where}{key}] must be a non-empty table")
    for name, entry in value.items() if of_tables else ():
        if not isinstance(entry, dict):
            raise ConfigError(f"[{where}{key}.{name}] must be a table")
    return value


def strs(value: Any, where: str) -> list[str]:
    """Return a list of non-empty strings (or [] when absent)."""
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value)):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return value or []


def text(value: Any, where: str) -> str:
    """Return a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def number(value: Any, where: str, low: float, high: float) -> float:
    """Return a number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{where} must be a number from {low:g} to {high:g}")
    return float(value)


def alternation(ci: list[str], cased: list[str] = (), right: str = r"(?!\w)") -> re.Pattern[str]:
    """Compile whole-word alternatives, longest first, a space in a word also matching a hyphen."""
    alts = sorted([(w, "(?i:%s)") for w in ci] + [(w, "(?:%s)") for w in cased], key=lambda a: -len(a[0]))
    body = "|".join(wrap % r"[\s-]+".join(map(re.escape, w.split())) for w, wrap in alts)
    return re.compile(f"(?<!\\w)(?:{body}){right}") if alts else NEVER


# -- keys: how spellings are compared -------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+")
TAG_SPLIT = re.compile(r"[,;|\n]")  # between the raw tags of one text: "Python, Django; AWS"
TAG_PARTS = re.compile(r"[/()]")  # inside one tag: "Python (FastAPI)", "Terraform/Pulumi"


def phrase_key(text: str) -> str:
    """Return the letters and digits of a place or level phrase, one space apart."""
    return " ".join(_TOKEN.findall(text))


def tag_key(text: str) -> str:
    """Return a raw stack tag casefolded, its whitespace collapsed."""
    return " ".join(text.casefold().split())


def word_key(text: str) -> str:
    """Return the lookup key of a title word as matched (hyphens and spaces alike)."""
    return " ".join(re.split(r"[\s-]+", text.strip()))


# -- labelled tables -----------------------------------------------------------------------------------

def claim(table: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Record key -> value in table, refusing a key that already means something else."""
    # One spelling must mean one thing, or the result would depend on file order.
    old = table.setdefault(key, value)
    if getattr(old, "regions", old) != getattr(value, "regions", value):
        meaning = ", ".join(old.regions) if hasattr(old, "regions") else old
        raise ConfigError(f"{where}: {key!r} already means {meaning}")


def labelled(data: dict[str, Any], section: str, key: Callable[[str], str]):
    """Read a table of labelled entries; return (labels, aliases, entries), each alias keyed by `key`."""
    entries = table(data, section, of_tables=True)
    labels: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for name, entry in entries.items():
        labels[name] = text(entry.get("label"), f"{section}.{name}.label")
        for alias in [name, labels[name], *strs(entry.get("aliases"), f"{section}.{name}.aliases")]:
            claim(aliases, key(alias), name, f"{section}.{name}.aliases")
    return labels, aliases, entries
