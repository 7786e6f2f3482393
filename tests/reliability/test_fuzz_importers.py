"""Property-based tests of `digest listings import` and `digest subscribers import` (SQLite and PostgreSQL).

Whatever the file holds (random bytes, invalid UTF-8, BOMs, NULs, huge lines, truncated JSON, odd CSV; or
near-valid records with hostile values), the command answers with one line per rejected record or one line
for the file, never a traceback, and the database holds exactly what the summary says: the records reported
imported are there with the values given, the rejected ones are not, what was there before is untouched, and
a file-level failure changes nothing.
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import io
import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import event, given, strategies as st
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from digest import db
from digest.listings import import_listings
from digest.models import Base, SentNotice, Subscriber
from digest.subscribers import SubscriberIn, record_suppression, upsert
from digest.settings import Settings
from digest.taxonomy import load_taxonomy

from ..conftest import NOW, listing
from ..support.cli import digest
from .fuzz_support import N, counted, fuzz, hostile_text, reset_database

# Count the examples each property tries (fuzz_support's fixtures, shared through tests/conftest.py).
pytestmark = pytest.mark.usefixtures("fuzz_property", "fuzz_counts")

TAXONOMY = load_taxonomy()
BEFORE = NOW - timedelta(days=1)  # when the pre-existing rows were written
EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv", "-")
LISTING_SUMMARY = re.compile(
    r"imported (\d+) listings \((\d+) new, (\d+) updated, (\d+) unchanged\); (\d+) rejected(?:, \d+ warnings)?")
SUBSCRIBER_SUMMARY = re.compile(r"imported (\d+) subscribers \((\d+) new, (\d+) updated\); (\d+) rejected")
CONFIRMATIONS = re.compile(r"sent (\d+) confirmation mails? \(pending until confirmed\)")


@pytest.fixture
def db_engine(db_url):
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


# --- what the database holds ---------------------------------------------------------------------------------

def rows(engine, table: str, key: str) -> dict[str, dict]:
    """The table's rows by key, with typed values (aware datetimes, lists)."""
    with engine.connect() as conn:
        result = conn.execute(select(Base.metadata.tables[table]))
        return {r[key]: dict(r) for r in result.mappings()}


def other_tables(engine, *but: str) -> dict[str, list]:
    """Every row of every other table (the migration table too)."""
    with engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n not in but]
        return {n: sorted(map(repr, conn.execute(text(f'SELECT * FROM "{n}"')).all())) for n in names}

# --- files -------------------------------------------------------------------------------------------------

@dataclass
class Written:
    """A file as the command will read it, and what it holds."""

    path: str  # the extension (".jsonl", ...) or "-" for stdin
    data: bytes
    records: list[dict] = field(default_factory=list)  # each record as the reader will see it
    lines: list[int | None] = field(default_factory=list)  # per record: its line, or None when not a record
    control: int | None = None  # index of an untouched valid record
    complete: bool = True  # False when the bytes were cut or damaged: only the accounting is checked


def cell(value) -> str:
    """A JSON value as an operator's spreadsheet would write it in a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def serialise(records: list[dict], fmt: str, draw, control: int | None = None) -> tuple[str, list[dict], list[int | None]]:
    """Write records as JSON Lines, a JSON array or CSV; return the text, the records as the reader will
    see them, and each record's line."""
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    if fmt == "jsonl":
        out, lines = [], []
        for r in records:
            out += [""] * draw(st.integers(0, 1))  # blank lines are not records
            out.append(json.dumps(r, ensure_ascii=draw(st.booleans())))
            lines.append(len(out))
        return newline.join(out) + newline, records, lines
    if fmt == "json":
        body = ("," + newline).join(json.dumps(r, ensure_ascii=draw(st.booleans())) for r in records)
        return "[" + newline + body + newline + "]" + newline, records, [i + 2 for i in range(len(records))]
    names = list(dict.fromkeys(k for r in records for k in r)) or ["id"]
    buf = io.StringIO(newline="")
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    # CRLF rows, as spreadsheets write them: with "\n" as the terminator, csv would leave a cell's lone "\r" unquoted.
    writer = csv.writer(buf, quoting=quoting, lineterminator="\r\n")
    writer.writerow(names)
    seen, lines, n = [], [], 2
    for i, r in enumerate(records):
        row = [cell(r.get(k)) for k in names]
        wide = i != control and draw(st.integers(0, 9)) == 0  # more cells than the header has names
        start = buf.tell()
        writer.writerow(row + ["surplus"] * wide)
        written = buf.getvalue()[start:]
        lines.append(n if any(c.strip() for c in row) or wide else None)  # an all-blank row is no record
        seen.append({k: (v if v.strip() else None) for k, v in zip(names, row)} | ({"": "wide"} if wide else {}))
        n += len(io.StringIO(written, newline="").readlines())  # CR, LF and CRLF each end a line, as csv reads
    return buf.getvalue(), seen, lines


@st.composite
def structured_file(draw, records_strategy):
    """Near-valid records with hostile values, written in any format the command reads."""
    records, control = draw(records_strategy)
    fmt = draw(st.sampled_from(["jsonl", "json", "csv"]))
    ext = draw(st.sampled_from({"jsonl": [".jsonl", ".ndjson", "-"], "json": [".json", "-"],
                                "csv": [".csv", "-"]}[fmt]))
    body, seen, lines = serialise(records, fmt, draw, control)
    data = body.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data  # a BOM, as Excel writes
    written = Written(ext, data, seen, lines, control)
    if re.search("[\ud800-\udfff]", body):
        written.complete = False  # a raw lone surrogate is not UTF-8: the file is refused whole
    if draw(st.integers(0, 5)) == 0:  # cut off mid-way, as an interrupted upload is
        written.data = data[: draw(st.integers(0, len(data)))]
        written.complete = False
    return written


def mutate(data: bytes, draw) -> bytes:
    """Damage bytes the ways files get damaged: flipped bits, foreign bytes, NULs, cuts, BOMs, huge lines."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "nul", "cut", "bom", "huge", "latin1", "utf16"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            i = min(at, len(data) - 1)
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "nul":
            data[at:at] = b"\x00"
        elif op == "cut":
            del data[at:]
        elif op == "bom":
            data[0:0] = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf" * 2]))
        elif op == "huge":
            data[at:at] = draw(st.sampled_from([b"a", b"[", b"{", b'"', b",", b"\n"])) * 200_000
        elif op == "latin1":
            data[at:at] = "Café Zürich".encode("latin-1")
        elif op == "utf16":
            data = bytearray(bytes(data).decode("utf-8", "replace").encode("utf-16"))
    return bytes(data)


@st.composite
def any_bytes(draw, records_strategy):
    """Random binary, or a real file of records damaged at the byte level, under any name."""
    ext = draw(st.sampled_from(EXTENSIONS))
    if draw(st.booleans()):
        return Written(ext, draw(st.binary(max_size=600)), complete=False)
    written = draw(structured_file(records_strategy))
    return Written(draw(st.sampled_from([written.path, ext])), mutate(written.data, draw), complete=False)


def write(example_dir: Path, written: Written) -> tuple[str, bytes | None]:
    """Put the file where the command reads it; return (PATH argument, stdin)."""
    if written.path == "-":
        return "-", written.data
    path = example_dir / f"input{written.path}"
    path.write_bytes(written.data)
    return str(path), None


# --- the answer ---------------------------------------------------------------------------------------------

@dataclass
class Answer:
    file_error: bool
    counts: tuple[int, ...] = ()
    rejected_lines: list[int] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)


def read_answer(result, path: str, summary: re.Pattern) -> Answer:
    """Check the command answered in the shape an operator relies on, and return what it said."""
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    err = result.stderr.split("\n")
    assert err[-1] == "", "stderr ends with a newline"
    err = err[:-1]
    if result.stdout == "":
        # One clear line for the whole file.
        assert result.exit_code == 1 and len(err) == 1 and err[0].startswith("Error: "), result.stderr
        assert len(err[0]) < 500, err[0]
        return Answer(file_error=True)
    out = result.stdout.rstrip("\n").split("\n")
    m = summary.fullmatch(out[0])
    assert m, result.stdout
    counts = tuple(int(g) for g in m.groups())
    line = re.compile(re.escape(f"{path}: line ") + r"(\d+)(?: \(.*\))?: \S.*")
    rejected = []
    for e in err:
        if e.startswith(f"{path}: ... and ") and e.endswith(" more warnings"):
            continue
        got = line.fullmatch(e)
        assert got, f"not one clear line per rejected record or warning: {e!r}"
        assert len(e) < 1000, e  # the record is not echoed back whole
        if ": warning: " not in e:  # a warning keeps the record: it is not a rejection
            rejected.append(int(got.group(1)))
    assert counts[-1] == len(rejected), (counts, result.stderr)
    assert result.exit_code == (1 if rejected else 0)
    return Answer(False, counts, rejected, out)


def outcome(answer: Answer) -> None:
    """Label the example for --hypothesis-show-statistics: how the command answered."""
    if answer.file_error:
        event("file refused")
    else:
        event(f"records imported: {min(answer.counts[0], 3)}{'+' if answer.counts[0] >= 3 else ''}")
        event(f"records rejected: {min(answer.counts[-1], 3)}{'+' if answer.counts[-1] >= 3 else ''}")


def accepted_records(written: Written, answer: Answer) -> list[dict]:
    """The records of a complete file the command did not reject, each reported at most once."""
    assert len(set(answer.rejected_lines)) == len(answer.rejected_lines), "a record was reported twice"
    assert set(answer.rejected_lines) <= {line for line in written.lines if line is not None}, (
        answer.rejected_lines, written.lines)
    accepted = [r for r, line in zip(written.records, written.lines)
                if line is not None and line not in answer.rejected_lines]
    if written.control is not None:
        assert written.lines[written.control] not in answer.rejected_lines, \
            "a good record was lost because of its neighbours"
    return accepted


def same_text(stored: str, given) -> bool:
    """The stored value is what the file said, trimmed."""
    return isinstance(given, str) and stored.strip() == given.strip() and stored in given


# --- listings ----------------------------------------------------------------------------------------------

PRE_LISTINGS = [listing("pre-1", title="Senior Go Engineer", stack=["go"]),
                listing("pre-2", title="Rust Developer", stack=["rust"], verified=False)]

ISO_ODD = [
    "2026-11-20T10:00:00+14:00", "2026-11-20T10:00:00-12:00", "2026-11-20T10:00:00+23:59", "2026-11-20T10:00:00+24:00",
    "2026-11-20T10:00:00-00:00", "2026-11-20T10:00:00+05:45", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "1990-01-01T00:00:00+01:00", "2100-12-31T23:59:59-05:00", "2026-02-30", "2026-11-20T25:00:00Z", "2026-13-01",
    "20261120", "1e10", "", "  ", "2026-11-20T10:00:00.123456789Z", "2026-W47-1", "Mon, 20 Nov 2026 10:00:00 GMT",
    "2026-11-20T10:00:00 Europe/Berlin", "2026-11-20T10:00:00\x00Z", "-2026-11-20", "+002026-11-20T10:00:00Z",
    "1989-12-31T23:59:59-01:00", "2026-11-20t10:00:00z", "2026-11-20 10:00", "2026-11-20T10:00:00+0530",
]
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=6,
)
HUGE = st.sampled_from([2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 5e-324, 0, -1, 2**53 + 1, 10**400])
WEIRD = st.one_of(hostile_text(), JSONISH, HUGE, st.just("\ud800 lone surrogate"))
DATES = st.one_of(
    st.sampled_from(ISO_ODD),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                 timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.integers(), st.floats(),
)
URLS = st.one_of(
    st.sampled_from(["javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)", "data:text/html,<script>x",
                     "vbscript:x", "file:///etc/passwd", "//jobs.example.com/x", "https://", "http://[::1",
                     "https://jobs.example.com/x\r\nBcc: y", "https://jobs.example.com/\u202ex", "mailto:a@b.c",
                     "https://jobs.example.com/" + "a" * 3000, "https://jobs.example.com/ a", "http://ex ample.com/"]),
    hostile_text().map(lambda t: "https://jobs.example.com/" + t),
    hostile_text(),
)
LISTING_FIELDS = {
    "id": st.one_of(hostile_text(), st.integers(), st.sampled_from(["pre-1", "pre-2", " pre-1 ", "", " ", "x" * 101]),
                    JSONISH),
    "title": WEIRD, "company": WEIRD, "url": URLS, "posted_at": DATES, "verified_at": DATES, "expires_at": DATES,
    "verified": st.one_of(st.booleans(), st.sampled_from(["yes", "no", "true", "1", "0", "maybe", 2, -1, ""])),
    "stack": st.one_of(st.lists(WEIRD, max_size=4), hostile_text(), st.lists(st.just("go"), min_size=51, max_size=52),
                       JSONISH),
    "level": st.one_of(WEIRD, st.sampled_from(["Senior/Lead", "wizard", "Sr.", "staff", "II"])),
    "location": WEIRD,
    "salary": st.one_of(WEIRD, st.sampled_from(["$99,999,999,999", "€4,000 - 5,200 per month", "$65k - $105k",
                                                "$50 - $70 per hour", "1e400", "NaN", "-5", "$0", "¥" * 50,
                                                "$" + "9" * 400, "€1" + "0" * 320 + " per hour"])),
    "salary_min": st.one_of(HUGE, WEIRD, st.sampled_from(["NaN", "Infinity", "1e400"])),
    "salary_max": st.one_of(HUGE, WEIRD),
    "salary_currency": st.one_of(WEIRD, st.sampled_from(["USD", "EUR", "usd", "XXX", "€", "US$"])),
    "salary_period": st.one_of(WEIRD, st.sampled_from(["year", "month", "hour", "fortnight", "decade"])),
    "employer_type": WEIRD, "role_type": WEIRD, "description": st.one_of(WEIRD, st.just("d" * 20001)),
    "unknown_field": WEIRD,
}
DELETE = object()


def near_valid(base: dict, fields: dict, draw, max_changes: int = 4) -> dict:
    """A valid record with up to `max_changes` fields replaced by hostile values, set to null or left out."""
    record = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=max_changes, unique=True)):
        value = draw(st.one_of(fields[name], st.just(DELETE), st.none()))
        if value is DELETE:
            record.pop(name, None)
        else:
            record[name] = value
    return record


@st.composite
def listing_records(draw):
    """Records around a valid listing, one untouched control record among them; ids sometimes repeat."""
    records = [near_valid(listing(f"f-{i}", title=f"Backend Engineer {i}"), LISTING_FIELDS, draw)
               for i in range(draw(st.integers(0, 7)))]
    for r in records:
        if draw(st.integers(0, 5)) == 0:
            r["id"] = draw(st.sampled_from(records)).get("id", "f-0")  # the same id twice in one file
    if draw(st.integers(0, 4)) == 0:
        return records, None
    at = draw(st.integers(0, len(records)))
    records.insert(at, listing("control", title="Senior Python Engineer"))
    return records, at


def seed_listings(engine, example_dir: Path) -> None:
    path = example_dir / "pre.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in PRE_LISTINGS) + "\n", encoding="utf-8")
    with Session(engine) as s:
        assert not import_listings(s, str(path), TAXONOMY, BEFORE).rejected
        upsert(s, SubscriberIn.model_validate({"email": "bystander@example.com", "confirmed": True}), TAXONOMY,
               Settings(), BEFORE)
        s.commit()


def board_id(value) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else None


def run_listing_import(written: Written, db_url, engine, tmp_path) -> None:
    reset_database(engine)
    example_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    seed_listings(engine, example_dir)
    before, others = rows(engine, "listings", "board_id"), other_tables(engine, "listings")
    path, stdin = write(example_dir, written)
    answer = read_answer(digest(db_url, example_dir, "listings", "import", path, input=stdin), path,
                         LISTING_SUMMARY)
    after = rows(engine, "listings", "board_id")
    assert other_tables(engine, "listings") == others  # a listings import touches nothing else
    outcome(answer)
    if answer.file_error:
        assert after == before, "a file-level failure changed the listings"
        return
    imported, new, updated, unchanged, _rejected = answer.counts
    assert imported == new + updated + unchanged
    assert set(before) <= set(after), "a listing that was there before is gone"
    added = set(after) - set(before)
    changed = {k for k in before if after[k] != before[k]}
    assert (len(added), len(changed)) == (new, updated), (added, changed, answer.counts)
    if not written.complete:
        return
    accepted = accepted_records(written, answer)
    assert len(accepted) == imported, (len(accepted), answer.counts)
    ids = [board_id(r.get("id")) for r in accepted]
    assert None not in ids and len(set(ids)) == len(ids), f"one id imported twice: {ids}"
    assert set(after) == set(before) | set(ids), "the listings stored are not those reported imported"
    for r in accepted:
        row = after[board_id(r["id"])]
        for name in ("title", "company", "url"):
            assert same_text(row[name], r[name]), (name, row[name], r[name])
        assert row["updated_at"] == NOW or row == before.get(row["board_id"])


@given(data=st.data())
@fuzz(max_examples=N or 60)
@counted
def test_listing_import_of_near_valid_records(data, db_url, db_engine, tmp_path):
    run_listing_import(data.draw(structured_file(listing_records())), db_url, db_engine, tmp_path)


SOUP = b"\xef\xbb\xbf{\x00\"id\": \"x\xff\"\r\n[" + b"{" * 50_000 + b"\n\xc3(\n" + b'{"id": "a\\ud800"}'


@given(data=st.data())
@fuzz(max_examples=N or 60)
@counted
def test_listing_import_of_any_bytes(data, db_url, db_engine, tmp_path):
    written = data.draw(st.one_of(any_bytes(listing_records()),
                                  st.sampled_from(EXTENSIONS).map(lambda ext: Written(ext, SOUP, complete=False))))
    run_listing_import(written, db_url, db_engine, tmp_path)


def test_a_record_id_with_a_line_break_cannot_forge_a_report_line(db_url, tmp_path):
    """Found by the property above: an id holding "\\n" split its rejection into two lines, the second one
    free text of the file's choosing."""
    path = tmp_path / "board.jsonl"
    forged = "x\ninput.jsonl: line 9 (ok): everything is fine"
    path.write_text(json.dumps(listing(forged, url="ftp://x.example/1")) + "\n" + json.dumps(listing("ok")) + "\n",
                    encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}: line 1 (x\\ninput.jsonl: line 9 (ok): everything is fine): url: must be an http:// or https:// URL"]


def test_a_lone_record_after_blank_lines_is_reported_on_its_own_line(db_url, tmp_path):
    """Found by the property above: one JSON object in a file was always reported as line 1."""
    path = tmp_path / "board.jsonl"
    path.write_text("\n\n" + json.dumps(listing("late", url="javascript:alert(1)")) + "\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.stderr.splitlines() == [f"{path}: line 3 (late): url: must be an http:// or https:// URL"]


def test_an_absurd_salary_is_reported_in_a_short_line(db_url, tmp_path, engine):
    """Found by the property above: a salary of 1e308 was printed with all its 309 digits, twice, in a report
    line of 1,000 characters."""
    path = tmp_path / "board.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [listing("huge", salary_min=1e308, salary_max=1e308),
                                                      listing("hourly", salary_min=1e300, salary_period="hour"),
                                                      listing("fine")]) + "\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 0  # a bad salary costs the salary, not the listing
    assert result.stderr.splitlines() == [
        f"{path}: line 1 (huge): warning: salary '1e+308' names neither a currency nor a period, left out",
        f"{path}: line 2 (hourly): warning: salary 1e+300 per hour is about 2.08e+303 a year, outside "
        "1,000-1,000,000; left out"]
    stored = rows(engine, "listings", "board_id")
    assert stored.keys() == {"fine", "huge", "hourly"}
    assert stored["huge"]["salary_max"] is None and stored["hourly"]["salary_min"] is None


# --- subscribers -------------------------------------------------------------------------------------------

PRE_SUBSCRIBERS = {  # address -> (status after seeding, preferences)
    "active@example.com": ("active", {"stack": ["go"], "confirmed": True, "timezone": "Europe/Berlin"}),
    "pending@example.com": ("pending", {"stack": ["rust"]}),
    "gone@example.com": ("unsubscribed", {"confirmed": True}),
    "bounced@example.com": ("suppressed", {"confirmed": True}),
}
ERASED = "erased@example.com"  # removed after a complaint: only its hash is left, on the suppression list
EMAILS = st.one_of(
    st.sampled_from([*PRE_SUBSCRIBERS, "ACTIVE@Example.COM", " gone@example.com ", ERASED, ERASED.upper(),
                     "new@example.com", "New@Example.com", "dup@example.com"]),
    st.sampled_from(["not-an-email", "a@b", "a@@example.com", "a@example..com", "@example.com", "a@-x.com",
                     "a b@example.com", '"a b"@example.com', "a@[127.0.0.1]", "josé@example.com", "a@bücher.example",
                     "a@xn--bcher-kva.example", "a" * 65 + "@example.com", "a@" + "b" * 250 + ".com",
                     "a@example.com\r\nBcc: x@y.z", "a@example.com\x00", "a\u202e@example.com", "<a@example.com>",
                     "Name <a@example.com>", "a@example.com, b@example.com", "a+tag@example.com", "a@localhost",
                     "a@example.com.", "=?utf-8?q?a?=@example.com", "a@example.com\u2028"]),
    st.builds(lambda local, dom: f"{local}@{dom}.example",
              st.text(alphabet="abcxyz0123.+-_'&{}|~!#$%*/=?^`", min_size=1, max_size=20),
              st.sampled_from(["mail", "MAIL", "x-y", "b\u00fccher"])),
    hostile_text(), JSONISH,
)
ZONES = st.one_of(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati",
                                   "Pacific/Chatham", "Europe", "America/Argentina", "../../etc/passwd", "/etc/localtime",
                                   "Mars/Base", "UTC\x00", "", "localtime", "Factory", "EST5EDT", "Etc/GMT+14",
                                   "posixrules", "Europe/Berlin ", "europe/berlin", "x" * 65]), WEIRD)
SUBSCRIBER_FIELDS = {
    "email": EMAILS,
    "name": st.one_of(WEIRD, st.just("n" * 201)),
    "stack": st.one_of(st.lists(st.sampled_from(["python", "golang", "Node.js", "cobol", "", " "]), max_size=4),
                       hostile_text(), JSONISH, st.just(["go"] * 51)),
    "level": st.one_of(st.lists(st.sampled_from(["senior", "Sr.", "Mid-level", "guru"]), max_size=3), WEIRD),
    "region": st.one_of(st.lists(st.sampled_from(["europe", "UK", "Berlin", "Americas", "mars"]), max_size=3), WEIRD),
    "timezone": ZONES,
    "send_day": st.one_of(st.integers(-2, 9), st.sampled_from(["monday", "Fri", "SUNDAY", "someday", ""]), WEIRD),
    "send_hour": st.one_of(st.integers(-2, 25), st.sampled_from(["8", "08", "8.0", "8.5", "", True]), HUGE, WEIRD),
    "min_salary": st.one_of(st.integers(-5, 3_000_000), HUGE, WEIRD, st.sampled_from(["1e400", "NaN", "100k"])),
    "hide_no_salary": st.one_of(st.booleans(), WEIRD),
    "confirmed": st.one_of(st.booleans(), st.sampled_from(["yes", "no", "true", "1", "0", "maybe", 2, ""])),
    "status": st.sampled_from(["active", "suppressed"]),  # not a field of the file: must be ignored
}


@st.composite
def subscriber_records(draw):
    """Rows around a valid subscriber; addresses repeat, within the file and with the people already there."""
    records = [near_valid({"email": f"s{i}@example.com", "name": f"Person {i}", "stack": "python",
                           "timezone": "UTC"}, SUBSCRIBER_FIELDS, draw) for i in range(draw(st.integers(0, 7)))]
    if draw(st.integers(0, 4)) == 0:
        return records, None
    at = draw(st.integers(0, len(records)))
    records.insert(at, {"email": "control@example.com", "name": "Control", "stack": ["go"], "confirmed": True})
    return records, at


def seed_subscribers(engine) -> None:
    with Session(engine) as s:
        for address, (status, prefs) in PRE_SUBSCRIBERS.items():
            sub, _ = upsert(s, SubscriberIn.model_validate({"email": address, **prefs}), TAXONOMY, Settings(), BEFORE)
            sub.status, sub.confirm_sent_at = status, BEFORE
        record_suppression(s, ERASED, "complaint", BEFORE)
        record_suppression(s, "gone@example.com", "unsubscribed", BEFORE)
        s.commit()


def email_key(value) -> str | None:
    """The address as the importer stores it, lower-cased (None when it cannot be one)."""
    try:
        return SubscriberIn.model_validate({"email": value}).email.lower()
    except Exception:  # noqa: BLE001 - anything that is not an address
        return None


def ascii_address(address: str) -> str:
    """The address as it goes on the wire: the domain IDNA-encoded, lower-cased."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}".lower()


def run_subscriber_import(written: Written, db_url, engine, tmp_path) -> None:
    reset_database(engine)
    example_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    seed_subscribers(engine)
    before = rows(engine, "subscribers", "email_key")
    # Confirmations are recorded (sent_notices) and counted against the address's lifetime cap (contact_counts).
    others = other_tables(engine, "subscribers", "suppressions", "sent_notices", "contact_counts")
    suppressions = other_tables(engine)["suppressions"]
    path, stdin = write(example_dir, written)
    answer = read_answer(digest(db_url, example_dir, "subscribers", "import", path, input=stdin), path,
                         SUBSCRIBER_SUMMARY)
    after = rows(engine, "subscribers", "email_key")
    assert other_tables(engine, "subscribers", "suppressions", "sent_notices", "contact_counts") == others
    assert other_tables(engine)["suppressions"] == suppressions  # an import never lifts or adds a suppression
    outcome(answer)
    mails = sorted((example_dir / "outbox").glob("confirm/*.eml"))
    if answer.file_error:
        assert after == before and mails == [], "a file-level failure changed something"
        return
    imported, new, updated, _rejected = answer.counts
    assert imported == new + updated
    assert set(before) <= set(after), "a subscriber who was there before is gone"
    added = set(after) - set(before)
    changed = {k for k in before if after[k] != before[k]}
    assert (len(added), len(changed)) == (new, updated), (added, changed, answer.counts)
    # Consent is the person's: an import never brings back someone who left or whose mail bounced.
    for key in ("gone@example.com", "bounced@example.com"):
        assert after[key]["status"] == before[key]["status"]
    if ERASED in after:
        assert after[ERASED]["status"] == "suppressed"
    assert all(after[k]["status"] in ("pending", "active", "suppressed") for k in added)
    # Double opt-in: exactly the new pending people got a confirmation mail, each parsing strictly.
    pending = sorted(k for k in added if after[k]["status"] == "pending")
    # After the summary: "changed for existing subscribers: …" when someone was updated, then the mails line.
    sent = next((m for line in answer.stdout[1:] if (m := CONFIRMATIONS.fullmatch(line))), None)
    assert (int(sent.group(1)) if sent else 0) == len(pending) == len(mails), (answer.stdout, pending, mails)
    strict = email.policy.strict
    recipients = sorted(email.parser.BytesParser(policy=strict).parsebytes(m.read_bytes())["To"].addresses[0]
                        .addr_spec.lower() for m in mails)
    assert recipients == sorted(ascii_address(after[k]["email"]) for k in pending)
    # Each confirmation is recorded by its carrier id, so SES feedback about it is believed (digest.sent_mail).
    with Session(engine) as s:
        noticed = sorted(s.scalars(select(Subscriber.email_key).join(SentNotice, SentNotice.subscriber_id == Subscriber.id)))
    assert noticed == pending
    if not written.complete:
        return
    accepted = accepted_records(written, answer)
    assert len(accepted) == imported, (len(accepted), answer.counts)
    keys = [email_key(r.get("email")) for r in accepted]
    assert None not in keys and len(set(keys)) == len(keys), f"one address imported twice: {keys}"
    assert set(after) == set(before) | set(keys), "the subscribers stored are not those reported imported"
    for r in accepted:
        row = after[email_key(r["email"])]
        if isinstance(r.get("name"), str) and r["name"].strip():
            assert same_text(row["name"], r["name"])


@given(data=st.data())
@fuzz(max_examples=N or 60)
@counted
def test_subscriber_import_of_near_valid_rows(data, db_url, db_engine, tmp_path):
    run_subscriber_import(data.draw(structured_file(subscriber_records())), db_url, db_engine, tmp_path)


@given(data=st.data())
@fuzz(max_examples=N or 60)
@counted
def test_subscriber_import_of_any_bytes(data, db_url, db_engine, tmp_path):
    written = data.draw(st.one_of(any_bytes(subscriber_records()),
                                  st.sampled_from(EXTENSIONS).map(lambda ext: Written(ext, SOUP, complete=False))))
    run_subscriber_import(written, db_url, db_engine, tmp_path)
