"""Read JSON Lines, JSON arrays and CSV into records that remember their line number."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator, Sequence

from .errors import InputError
from .jsontext import BadJSON, loads, raw_decode

csv.field_size_limit(64 * 1024 * 1024)  # read an absurd cell whole, so the record is rejected, not the file


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read, with the line of the file it starts on."""

    line: int
    data: dict


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that was not kept, and why."""

    line: int
    reason: str
    key: str | None = None  # the record's id or email, when it had one

    def __str__(self) -> str:
        return _report(self.line, self.key, "", self.reason)


def _report(line: int, key: str | None, kind: str, reason: str) -> str:
    """One report line: where the record is (its line, and its id or email when it had one), then why."""
    where = f"line {line}" + (f" ({_printable(key)})" if key else "")
    return f"{where}: {kind}{_printable(reason)}"


def _printable(text: str) -> str:
    """Escape line breaks and other invisible characters, so one rejected record stays one report line
    (an id holding "\\n" must not forge a second line)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


@dataclass(frozen=True, slots=True)
class Warned:
    """A record that was kept without one of its fields, and why."""

    line: int
    reason: str
    key: str | None = None

    def __str__(self) -> str:
        return _report(self.line, self.key, "warning: ", self.reason)


FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}


def read_text(path: str) -> tuple[str, str]:
    """Return (text, format) for a path or '-' (stdin), refusing what cannot be read."""
    if path == "-":
        data = sys.stdin.buffer.read()
        fmt = None
    else:
        p = Path(path)
        fmt = FORMATS.get(p.suffix.lower())
        if fmt is None:
            raise InputError(f"{path}: unknown file type {p.suffix or '(none)'!r}; use .jsonl, .json or .csv")
        try:
            data = p.read_bytes()
        except FileNotFoundError as e:
            raise InputError(f"{path}: no such file") from e
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); save it as UTF-8") from e
    if fmt is None:
        head = text.lstrip()[:1]
        fmt = "json" if head == "[" else "jsonl" if head == "{" else "csv"
    return text, fmt


def read_records(path: str, fields: Sequence[str] = ()) -> Iterator[Record | Rejected]:
    """Yield each record of the file with its line, or a Rejected for a line that is not one.

    An empty file, a file without records, or one whose first record (or CSV header) names none of `fields` is
    one InputError, not a rejected line per row: it is the wrong file, not a bad record.
    """
    text, fmt = read_text(path)
    if fields and not text.strip():
        raise InputError(f"{path}: the file is empty; nothing was imported")
    if fmt in ("json", "jsonl") and text.lstrip()[:1] == "{":
        # JSON Lines in a .json file, or one object pretty-printed over several lines: read what it is.
        records = _single_object(text) or _jsonl(text)
    elif fmt == "json":
        records = _json_array(text)
    elif fmt == "jsonl":
        records = _jsonl(text)
    else:
        records = _csv(text, path, fields)
    first = next(records, None)
    if first is None:
        if fields:
            raise InputError(f"{path}: no records in the file; nothing was imported")
        return
    if fields and isinstance(first, Record) and fmt != "csv" and not set(first.data) & set(fields):
        has = ", ".join(str(k)[:20] for k in sorted(map(str, first.data))[:4]) or "no fields"
        raise InputError(f"{path}: the first record has none of the fields {', '.join(fields[:5])}, ... "
                         f"(it has {has}{', ...' if len(first.data) > 4 else ''}); is this the right file?")
    yield first
    yield from records


def _jsonl(text: str) -> Iterator[Record | Rejected]:
    # Split on "\n" only: str.splitlines() also breaks at U+2028, U+0085 and friends, which JSON allows raw
    # inside strings (a description pasted from a web page), and would turn one good record into two bad ones.
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except BadJSON as e:
            yield Rejected(n, f"malformed JSON: {e}")
            continue
        if isinstance(obj, dict):
            yield Record(n, obj)
        else:
            yield Rejected(n, f"expected a JSON object, got {type(obj).__name__}")


def _json_array(text: str) -> Iterator[Record | Rejected]:
    i = _skip_ws(text, 0)
    if text[i : i + 1] != "[":
        yield Rejected(1, "expected a JSON array ([...]) of objects")
        return
    lines = _LineCounter(text)
    i = _skip_ws(text, i + 1)
    if text[i : i + 1] == "]":
        return
    while True:
        line = lines.at(i)
        try:
            obj, i = raw_decode(text, i)
        except BadJSON as e:
            yield Rejected(e.lineno or line, f"malformed JSON: {e}; the rest of the file was not read")
            return
        if isinstance(obj, dict):
            yield Record(line, obj)
        else:
            yield Rejected(line, f"expected a JSON object, got {type(obj).__name__}")
        i = _skip_ws(text, i)
        sep = text[i : i + 1]
        if sep == "]":
            return
        if sep != ",":
            yield Rejected(lines.at(i), "malformed JSON: expected ',' or ']'; the rest of the file was not read")
            return
        i = _skip_ws(text, i + 1)


class _LineCounter:
    """Line numbers of increasing offsets, counting each stretch of text once (not the whole prefix each time)."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.pos, offset)
        self.pos = offset
        return self.line


def _single_object(text: str) -> Iterator[Record | Rejected] | None:
    """Read a text holding one (maybe pretty-printed) JSON object as one record; None when it is not one."""
    try:
        obj = loads(text)
    except BadJSON:
        return None
    if not isinstance(obj, dict):
        return None
    start = len(text) - len(text.lstrip())  # blank lines before the object do not make it line 1
    return iter([Record(text.count("\n", 0, start) + 1, obj)])


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _csv(text: str, path: str, fields: Collection[str]) -> Iterator[Record | Rejected]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(first_line, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        raise InputError(f"{path}: CSV header cannot be read: {e}") from e
    names = [h.strip().lower() for h in header]
    if not any(names):
        raise InputError(f"{path}: CSV has an empty header line")
    if fields and not set(names) & set(fields):
        shown = ", ".join(n[:20] for n in names[:4] if n) + (", ..." if len(names) > 4 else "")
        raise InputError(f"{path}: the CSV header ({shown}) names none of the fields {', '.join(fields[:5])}, ...; "
                         "check the delimiter and that the file is this board's export")
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield Rejected(line, f"malformed CSV: {e}; the rest of the file was not read")
            return
        if any(cell.strip() for cell in row):
            if len(row) > len(names):
                yield Rejected(line, f"{len(row)} fields but the header has {len(names)}")
            else:
                yield Record(line, {k: (v if v.strip() else None) for k, v in zip(names, row) if k})
        line = reader.line_num + 1
