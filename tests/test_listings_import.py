"""`digest listings import` and `digest listings list --json` on SQLite and PostgreSQL: formats, normalisation,
re-import, and bad input that is reported once, line by line, without losing the good records."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.models import Listing

from .conftest import NOW, listing
from .support.cli import digest, errors, json_lines

LIST_FIELDS = {"id", "title", "company", "url", "verified", "posted_at", "stack", "level", "regions", "salary_min",
               "salary_max", "salary_currency"}


def write_jsonl(path: Path, *records: dict | str) -> str:
    """One record per line; a str is written as it is (for lines that are not valid JSON)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records),
                    encoding="utf-8")
    return str(path)


def listed(db_url, tmp_path) -> dict[str, dict]:
    result = digest(db_url, tmp_path, "listings", "list", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    rows = json_lines(result.stdout)
    assert all(LIST_FIELDS <= set(row) for row in rows)
    return {row["id"]: row for row in rows}


def stored_ids(engine) -> list[str]:
    with Session(engine) as s:
        return sorted(s.scalars(select(Listing.board_id)))


# -- formats and normalisation ------------------------------------------------------------------------------

def test_jsonl_import_normalises_every_facet(db_url, tmp_path):
    path = write_jsonl(
        tmp_path / "board.jsonl",
        listing("go-1", title="Sr. Backend Engineer", company="Acme", stack="golang, PostgreSQL",
                location="Remote - US only", salary="€4,000 - 5,200 per month"),
        listing("mix-1", title="Software Engineer II", stack=["C Plus Plus", "node.js", "ruby/rails"],
                location="UTC-1 to UTC+3", salary="$65k - $105k", verified=False),
        listing("rust-1", title="Staff Rust Engineer", stack=[], location="Remote", salary="$50 - $70 per hour",
                posted_at="2026-11-21T09:30:00+02:00"),
        listing("nosal-1", title="New Grad Backend Engineer", stack="Django", location="Americas"),
    )
    result = digest(db_url, tmp_path, "listings", "import", path)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "imported 4 listings (4 new, 0 updated, 0 unchanged); 0 rejected\n"

    rows = listed(db_url, tmp_path)
    assert rows["go-1"] == rows["go-1"] | {
        "title": "Sr. Backend Engineer", "company": "Acme", "url": "https://jobs.example.com/go-1", "verified": True,
        "posted_at": "2026-11-22T08:00:00Z", "stack": ["go"], "level": "senior", "regions": ["us"],
        "salary_min": 48000, "salary_max": 62400, "salary_currency": "EUR",
    }
    assert rows["mix-1"] == rows["mix-1"] | {
        "verified": False, "stack": ["cpp", "node", "ruby"], "level": "mid",
        "regions": ["africa", "europe", "middle-east", "uk"],
        "salary_min": 65000, "salary_max": 105000, "salary_currency": "USD",
    }
    # An hourly rate is annualised, never read as a yearly salary of $70; the stack comes from the title.
    assert rows["rust-1"] == rows["rust-1"] | {
        "stack": ["rust"], "level": "lead", "regions": ["worldwide"], "salary_min": 104000, "salary_max": 145600,
        "salary_currency": "USD", "posted_at": "2026-11-21T07:30:00Z",
    }
    assert rows["nosal-1"] == rows["nosal-1"] | {
        "stack": ["python"], "level": "junior", "regions": ["canada", "latam", "us"],
        "salary_min": None, "salary_max": None, "salary_currency": None,
    }


def test_json_array_import_reports_lines_of_the_file(db_url, tmp_path, engine):
    path = tmp_path / "board.json"
    path.write_text(json.dumps([
        listing("j-1", title="Senior Java Developer", stack="Spring Boot"),
        listing("j-2", url="ftp://files.example.com/j-2"),
        listing("j-3", title="Kotlin Engineer", stack=None),
    ], indent=2), encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 1
    # The second object starts on line 13 of the pretty-printed file.
    assert errors(result) == [f"{path}: line 13 (j-2): url: must be an http:// or https:// URL"]
    assert result.stdout == "imported 2 listings (2 new, 0 updated, 0 unchanged); 1 rejected\n"
    rows = listed(db_url, tmp_path)
    assert (rows["j-1"]["stack"], rows["j-1"]["level"]) == (["java"], "senior")
    assert (rows["j-3"]["stack"], rows["j-3"]["level"]) == (["kotlin"], None)
    assert stored_ids(engine) == ["j-1", "j-3"]


def test_csv_with_a_multiline_cell_and_a_row_too_wide(db_url, tmp_path, engine):
    path = tmp_path / "board.csv"
    path.write_text(
        "id,title,company,url,posted_at,verified,stack,location,salary,description\n"
        'c-1,Senior Backend Engineer,Acme,https://acme.example/c-1,2026-11-20T10:00:00Z,true,"golang,node.js",'
        '"Berlin, Germany",,"Line one of the pitch,\nline two, still the same cell"\n'
        "c-2,Backend Engineer,Acme,https://acme.example/c-2,2026-11-20,true,php,EMEA,,desc,ONE TOO MANY\n"
        'c-3,"Ruby Developer, Payments",Bolt,https://bolt.example/c-3,2026-11-19,,ruby/rails,UK,'
        '"£50,000 - £60,000",\n',
        encoding="utf-8",
    )
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 1
    assert errors(result) == [f"{path}: line 4: 11 fields but the header has 10"]
    assert result.stdout == "imported 2 listings (2 new, 0 updated, 0 unchanged); 1 rejected\n"
    rows = listed(db_url, tmp_path)
    assert set(rows) == {"c-1", "c-3"}
    assert rows["c-1"] == rows["c-1"] | {"stack": ["go", "node"], "level": "senior", "regions": ["europe"],
                                         "verified": True, "salary_min": None}
    # An empty `verified` cell means "not verified", not a rejected row.
    assert rows["c-3"] == rows["c-3"] | {"title": "Ruby Developer, Payments", "stack": ["ruby"], "regions": ["uk"],
                                         "verified": False, "salary_min": 50000, "salary_max": 60000,
                                         "salary_currency": "GBP"}
    with Session(engine) as s:
        assert s.scalar(select(Listing.description).where(Listing.board_id == "c-1")) == (
            "Line one of the pitch,\nline two, still the same cell")


@pytest.mark.parametrize("body", [
    pytest.param(lambda rs: json.dumps(rs), id="json-array"),
    pytest.param(lambda rs: "\n".join(json.dumps(r) for r in rs) + "\n", id="jsonl"),
    pytest.param(lambda rs: "id,title,company,url,posted_at,verified,stack\n"
                 + "".join(f"{r['id']},{r['title']},{r['company']},{r['url']},{r['posted_at']},true,golang\n"
                           for r in rs), id="csv"),
])
def test_stdin_is_sniffed(body, db_url, tmp_path):
    records = [listing("in-1", title="Sr. Go Developer", stack="golang"), listing("in-2", stack="golang")]
    result = digest(db_url, tmp_path, "listings", "import", "-", input=body(records))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "imported 2 listings (2 new, 0 updated, 0 unchanged); 0 rejected\n"
    rows = listed(db_url, tmp_path)
    assert {k: (v["stack"], v["level"]) for k, v in rows.items()} == {"in-1": (["go"], "senior"),
                                                                        "in-2": (["go"], None)}


def test_a_line_separator_inside_a_jsonl_string_is_not_a_line_break(db_url, tmp_path):
    # json.dumps(ensure_ascii=False) writes U+2028 raw; it is legal inside a JSON string.
    path = write_jsonl(tmp_path / "board.jsonl", listing("ls-1", title="Backend\u2028Engineer"), listing("ls-2"))
    result = digest(db_url, tmp_path, "listings", "import", path)
    assert (result.exit_code, result.stderr) == (0, "")
    assert listed(db_url, tmp_path)["ls-1"]["title"] == "Backend\u2028Engineer"


# -- re-import ---------------------------------------------------------------------------------------------

def test_reimport_updates_changed_rows_and_counts_the_rest(db_url, tmp_path, engine):
    first = write_jsonl(tmp_path / "monday.jsonl", listing("r-1"), listing("r-2", title="Go Developer"))
    assert digest(db_url, tmp_path, "listings", "import", first).exit_code == 0

    again = digest(db_url, tmp_path, "listings", "import", first)
    assert again.stdout == "imported 2 listings (0 new, 0 updated, 2 unchanged); 0 rejected\n"

    second = write_jsonl(tmp_path / "tuesday.jsonl", listing("r-1"), listing("r-2", title="Senior Go Developer"),
                         listing("r-3"))
    result = digest(db_url, tmp_path, "listings", "import", second)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "imported 3 listings (1 new, 1 updated, 1 unchanged); 0 rejected\n"
    rows = listed(db_url, tmp_path)
    # The title names the language, so it decides over the (python) tags.
    assert (rows["r-2"]["title"], rows["r-2"]["level"], rows["r-2"]["stack"]) == ("Senior Go Developer", "senior",
                                                                                   ["go"])
    assert stored_ids(engine) == ["r-1", "r-2", "r-3"]  # updated in place, not added again


# -- bad records ---------------------------------------------------------------------------------------------

def test_each_bad_record_is_reported_once_and_the_good_ones_land(db_url, tmp_path, engine):
    path = write_jsonl(
        tmp_path / "messy.jsonl",
        listing("ok-1", title="First of its id"),                        # 1
        '{"id": "broken", "title": "no closing brace"',                  # 2
        {k: v for k, v in listing("no-title").items() if k != "title"},  # 3
        listing("js-url", url="javascript:alert(1)"),                    # 4
        listing("ftp-url", url="ftp://files.example.com/x"),             # 5
        listing("bad-date", posted_at="last Tuesday"),                   # 6
        listing("ok-2"),                                                 # 7
        listing("wizard", level="wizard"),                               # 8
        listing("rich", salary="$99,999,999,999"),                       # 9
        listing("ok-1", title="Second of its id"),                       # 10
        "",                                                              # 11: blank lines are not records
        "[1, 2]",                                                        # 12
        listing("epoch", posted_at="20261120"),                          # 13: not read as Unix time
        listing("far-future", posted_at="9999-12-31T23:00:00-05:00"),    # 14
        listing("nul", company="Acme\u0000Corp"),                        # 15: PostgreSQL cannot store NUL
        listing("ok-3", level="Senior/Lead"),                            # 16
    )
    result = digest(db_url, tmp_path, "listings", "import", path)
    assert result.exit_code == 1
    assert errors(result) == [
        f"{path}: line 2: malformed JSON: Expecting ',' delimiter at column 45",
        f"{path}: line 3 (no-title): title: is required",
        f"{path}: line 4 (js-url): url: must be an http:// or https:// URL",
        f"{path}: line 5 (ftp-url): url: must be an http:// or https:// URL",
        f"{path}: line 6 (bad-date): posted_at: 'last Tuesday' is not an ISO 8601 date or time "
        "(e.g. 2026-11-20T10:00:00Z): invalid character in year",
        f"{path}: line 8 (wizard): warning: unknown level 'wizard'; allowed: intern, junior, mid, senior, lead; "
        "read from the title instead",
        f"{path}: line 9 (rich): warning: salary 99,999,999,999 USD per year is about 99,999,999,999 USD a year, "
        "outside 1,000-5,000,000; left out",
        f"{path}: line 10 (ok-1): duplicate id (first on line 1); this one was skipped",
        f"{path}: line 12: expected a JSON object, got list",
        f"{path}: line 13 (epoch): posted_at: '20261120' is not an ISO 8601 date or time (e.g. 2026-11-20T10:00:00Z)",
        f"{path}: line 14 (far-future): posted_at: 9999-12-31 is outside the years 1990-2100",
        f"{path}: line 15 (nul): record: company contains a NUL character",
    ]
    # A bad optional field costs that field, never the listing.
    assert result.stdout == "imported 5 listings (5 new, 0 updated, 0 unchanged); 10 rejected, 2 warnings\n"
    assert stored_ids(engine) == ["ok-1", "ok-2", "ok-3", "rich", "wizard"]
    rows = listed(db_url, tmp_path)
    assert (rows["wizard"]["level"], rows["rich"]["salary_max"]) == (None, None)
    assert rows["ok-1"]["title"] == "First of its id"  # the first of a duplicated id is kept
    assert rows["ok-3"]["level"] == "lead"


def test_a_10mb_title_is_rejected_quickly_in_jsonl_and_csv(db_url, tmp_path, engine):
    huge = "Senior Python Engineer " * 450_000  # ~10 MB
    jsonl = write_jsonl(tmp_path / "huge.jsonl", listing("big-1", title=huge), listing("small-1"))
    csv = tmp_path / "huge.csv"
    csv.write_text("id,title,company,url,posted_at\n"
                   f"big-2,{huge},Acme,https://acme.example/big-2,2026-11-20\n"
                   "small-2,Backend Engineer,Acme,https://acme.example/small-2,2026-11-20\n", encoding="utf-8")
    started = time.monotonic()
    results = [digest(db_url, tmp_path, "listings", "import", p) for p in (jsonl, str(csv))]
    assert time.monotonic() - started < 10
    assert [r.exit_code for r in results] == [1, 1]
    assert errors(results[0]) == [f"{jsonl}: line 1 (big-1): title: String should have at most 1000 characters"]
    assert errors(results[1]) == [f"{csv}: line 2 (big-2): title: String should have at most 1000 characters"]
    assert all(len(r.stderr) < 500 for r in results)  # the title is not echoed back
    assert stored_ids(engine) == ["small-1", "small-2"]


@pytest.mark.parametrize("name, content, message", [
    ("board.txt", b"id,title\n", "{path}: unknown file type '.txt'; use .jsonl, .json or .csv"),
    ("board", b"id,title\n", "{path}: unknown file type '(none)'; use .jsonl, .json or .csv"),
    ("missing.jsonl", None, "{path}: no such file"),
    ("latin1.jsonl", '{"id": "x"}\n{"id": "y", "title": "Café"}\n'.encode("latin-1"),
     "{path}: not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8"),
    ("a-directory.csv", "dir", "{path}: cannot read: Is a directory"),
])
def test_a_file_that_cannot_be_read_is_one_line(name, content, message, db_url, tmp_path, engine):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 1
    assert errors(result) == ["Error: " + message.format(path=path)]
    assert result.stdout == ""
    assert stored_ids(engine) == []


def test_a_json_file_that_is_not_an_array_is_reported_not_crashed(db_url, tmp_path, engine):
    path = tmp_path / "board.json"
    path.write_text('"just a string"', encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 1
    assert errors(result) == [f"{path}: line 1: expected a JSON array ([...]) of objects"]
    assert stored_ids(engine) == []


def test_json_lines_in_a_json_file_are_read_as_json_lines(db_url, tmp_path, engine):
    path = write_jsonl(tmp_path / "board.json", listing("jl-1"), listing("jl-2", url="ftp://x.example/2"))
    result = digest(db_url, tmp_path, "listings", "import", path)
    assert result.exit_code == 1
    assert errors(result) == [f"{path}: line 2 (jl-2): url: must be an http:// or https:// URL"]
    assert stored_ids(engine) == ["jl-1"]


def test_many_records_land_in_batches_with_the_bad_one_in_the_middle(db_url, tmp_path, engine):
    records = [listing(f"n-{i:04d}") for i in range(1200)]
    records[700] = listing("n-0700", url="mailto:jobs@example.com")
    path = write_jsonl(tmp_path / "many.jsonl", *records)
    result = digest(db_url, tmp_path, "listings", "import", path)
    assert result.exit_code == 1
    assert errors(result) == [f"{path}: line 701 (n-0700): url: must be an http:// or https:// URL"]
    assert result.stdout == "imported 1199 listings (1199 new, 0 updated, 0 unchanged); 1 rejected\n"
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Listing)) == 1199


def test_json_nested_too_deeply_is_a_bad_record_not_a_crash(db_url, tmp_path, engine):
    jsonl = write_jsonl(tmp_path / "deep.jsonl", '{"id": ' + "[" * 100_000, listing("deep-1"))
    array = tmp_path / "deep.json"
    array.write_text("[" + json.dumps(listing("deep-2")) + ",\n" + "[" * 100_000 + "]", encoding="utf-8")
    first = digest(db_url, tmp_path, "listings", "import", jsonl)
    second = digest(db_url, tmp_path, "listings", "import", str(array))
    assert errors(first) == [f"{jsonl}: line 1: malformed JSON: nested too deeply to be a record"]
    assert errors(second) == [
        f"{array}: line 2: malformed JSON: nested too deeply to be a record; the rest of the file was not read"]
    assert (first.exit_code, second.exit_code) == (1, 1)
    assert stored_ids(engine) == ["deep-1", "deep-2"]


REFUSE = {
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON listings WHEN NEW.company = 'Refused Inc' "
               "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"],
    "postgresql": ["CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF NEW.company = 'Refused Inc' THEN RAISE EXCEPTION 'refused by a trigger'; END IF; "
                   "RETURN NEW; END $$",
                   "CREATE TRIGGER refuse BEFORE INSERT ON listings FOR EACH ROW EXECUTE FUNCTION refuse()"],
}


def test_a_record_the_database_refuses_costs_only_that_record(db_url, tmp_path, engine):
    """Validation should leave nothing for the database to refuse; if it still does, the batch is retried
    record by record, so the other records of the batch land and the refused one is reported."""
    from sqlalchemy import text

    dialect = engine.dialect.name
    with engine.begin() as conn:
        for statement in REFUSE[dialect]:
            conn.execute(text(statement))
    try:
        path = write_jsonl(tmp_path / "board.jsonl", listing("t-1"), listing("t-2", company="Refused Inc"),
                           listing("t-3"))
        result = digest(db_url, tmp_path, "listings", "import", path)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse" + (" ON listings" if dialect == "postgresql" else "")))
            if dialect == "postgresql":
                conn.execute(text("DROP FUNCTION refuse()"))
    assert result.exit_code == 1
    assert errors(result) == [f"{path}: line 2 (t-2): the database refused it: refused by a trigger"]
    assert result.stdout == "imported 2 listings (2 new, 0 updated, 0 unchanged); 1 rejected\n"
    assert stored_ids(engine) == ["t-1", "t-3"]


def test_a_record_sent_again_unchanged_is_not_read_again_until_the_reading_changes(db_url, tmp_path, engine):
    """Boards re-send the whole export daily: an unchanged record costs a lookup, not a reading; a changed record,
    or a changed taxonomy (the reader's version is part of the fingerprint), is read again."""
    import shutil

    from digest.listings import import_listings
    from digest.taxonomy import DEFAULT_PATH, load_taxonomy

    path = write_jsonl(tmp_path / "daily.jsonl", listing("u-1", stack=["elixir"], salary="UTC-1 to UTC+3"),
                       listing("u-2", stack=["golang"]))
    first = digest(db_url, tmp_path, "listings", "import", path)
    assert first.stdout == "imported 2 listings (2 new, 0 updated, 0 unchanged); 0 rejected, 1 warnings\n"
    again = digest(db_url, tmp_path, "listings", "import", path)
    assert again.stdout == "imported 2 listings (0 new, 0 updated, 2 unchanged); 0 rejected\n"  # read once: warned once
    # The same records read with other data (an edited taxonomy): every record is read again.
    other = tmp_path / "tax"
    other.mkdir()
    shutil.copy(DEFAULT_PATH.with_name("usd_rates.toml"), other)
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace('aliases = ["phoenix",', 'aliases = ["elixir-lang", "phoenix",')
    (other / "taxonomy.toml").write_text(text.replace('[stacks.elixir]\nlabel = "Elixir"', '[stacks.elixir]\nlabel = "Elixir (BEAM)"'),
                                         encoding="utf-8")
    with Session(engine) as s:
        report = import_listings(s, path, load_taxonomy(other / "taxonomy.toml"), NOW)
    assert (report.inserted, report.updated, report.unchanged, len(report.warnings)) == (0, 2, 0, 1)
