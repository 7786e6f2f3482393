"""Shared pieces of input checking: NUL and null handling, and one-line descriptions of what is wrong."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

QUOTED = 60  # characters of a raw value quoted in a report line


def refuse_nul(data: dict) -> None:
    """Refuse text holding NUL, which PostgreSQL cannot store."""
    for k, v in data.items():
        if (isinstance(v, str) and "\x00" in v) or (isinstance(v, list) and any(isinstance(x, str) and "\x00" in x for x in v)):
            raise ValueError(f"{str(k)[:40]} contains a NUL character")


def drop_nulls_and_refuse_nul(data: Any) -> Any:
    """Read a null (or an empty CSV cell) as "not given"; refuse text with NUL."""
    if not isinstance(data, dict):
        return data
    refuse_nul(data)
    return {k: v for k, v in data.items() if v is not None}


def quote(text: str) -> str:
    """A raw value for a report line: whitespace collapsed, cut to a readable length, quoted."""
    text = " ".join(str(text).split())
    return repr(text if len(text) <= QUOTED else text[:QUOTED - 1] + "…")


def describe_errors(e: ValidationError) -> str:
    """Say what is wrong with a record in one line, without echoing the (maybe huge) input."""
    parts = []
    for err in e.errors()[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "record"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"].startswith(("datetime_", "date_")):
            # pydantic says "input is too short"; an operator needs to hear which format is wanted.
            shown = repr(err["input"])[:42]
            msg = f"{shown} is not an ISO 8601 date or time (e.g. 2026-11-20T10:00:00Z): {msg.split(', ', 1)[-1]}"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
