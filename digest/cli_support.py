"""What every `digest` command module shares: the error mapping of its groups, the `--now` option, the runtime
passed to each command, and text made safe for a terminal. Command modules import this, never cli.py (which
imports them to register their commands)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import click
from sqlalchemy.exc import OperationalError

from .errors import DigestError
from .runtime import Runtime


class DigestGroup(click.Group):
    """Maps domain errors to one line on stderr and exit 1; never a traceback for bad input."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DigestError as e:
            raise click.ClickException(str(e)) from e
        except OperationalError as e:
            raise click.ClickException(f"database error: {str(e.orig).strip().splitlines()[0]}") from e


def parse_now(_ctx, _param, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-23T08:00:00Z") from e
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


# Stored text (a name, an address from an import) must not drive the operator's terminal: control characters
# (C0 with ESC and BEL, DEL, C1 with CSI), bidi overrides and isolates, and line separators are shown escaped.
UNSAFE_FOR_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def terminal_text(text: str) -> str:
    """`text` with every character that could move the cursor, recolour or reorder a line written as `\\x1b`, `\\u202e`."""
    return UNSAFE_FOR_TERMINAL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def terminal_json(data, indent: int | None = None) -> str:
    """JSON for a terminal: the same values, with those characters as `\\uXXXX` escapes. (json escapes C0 inside
    strings itself, so a raw C0 character left in its output is layout: the newlines of `indent`.)"""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return UNSAFE_FOR_TERMINAL.sub(lambda m: m.group() if m.group() < " " else f"\\u{ord(m.group()):04x}", text)


now_option = click.option("--now", callback=parse_now, metavar="ISO8601",
                          help="Act as if it were this time (default: the real time).")
# The command's runtime: the one a caller put in `obj` (tests: with their clock), else a fresh one whose settings
# are read from the environment when the command first needs them.
pass_app = click.make_pass_decorator(Runtime, ensure=True)
