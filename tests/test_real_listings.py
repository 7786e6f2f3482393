"""Listings in the shapes real boards export (our own strings, written like Remotive, RemoteOK, We Work Remotely,
Jobicy, LinkedIn, Adzuna and Glassdoor records), imported through `digest listings import`, read back from
`digest listings list --json`, and followed into the digest a subscriber receives (SQLite and PostgreSQL)."""

from __future__ import annotations

import html as htmllib
import json
from pathlib import Path

from digest.run import run

from .conftest import NOW, listing, listing_ids, read_outbox
from .support.cli import digest, errors, json_lines

RECORDS = [
    # Salary: the currency next to the figures wins over a leading "$", and stays the listing's own.
    listing("cad", title="Senior Backend Engineer", salary="$110,000 - $125,000 cad", location="Canada"),
    listing("sgd", title="Backend Engineer", salary="$152,300 sgd", location="Singapore"),
    listing("php-peso", title="Python Developer", salary="p60,000 - 80,000 (monthly gross package)",
            location="Philippines"),
    listing("zar", title="Python Engineer", salary="r40,000 – r55,000 per month", location="South Africa"),
    listing("gbp", title="Python Engineer", salary="£105,000 - £115,000", location="London, UK"),
    listing("bonus", title="Python Engineer", salary="£31,500 plus monthly bonus", location="Leeds"),
    listing("benefit", title="Python Engineer", salary="2,400€ per year for flexible benefits", location="Spain"),
    listing("per-course", title="Python Engineer", salary="$3,000 per course", location="Remote"),
    listing("no-period", title="Python Engineer", salary="usd 1,400 - 1,700", location="Colombia"),
    listing("each-end", title="Python Engineer", salary="$95,000/year -$170,000/year", location="US"),
    listing("us-space", title="Python Engineer", salary="us $150,000 to us $210,000", location="US"),
    listing("hourly", title="Python Engineer", salary="$85/hr - $105/hr", location="US"),
    listing("three", title="Python Engineer", salary="$161,400 - $179,300 - $197,200", location="US"),
    listing("glassdoor", title="Python Engineer", salary="-1", location="Austin, TX"),
    listing("tz-in-salary", title="Python Engineer", salary="UTC-2 to UTC+2", location="Europe"),
    listing("rok-number", title="Python Engineer", salary=0, salary_min=135000, salary_max=175000,
            salary_currency="USD", salary_period="year", location="Worldwide"),
    listing("nan", title="Python Engineer", salary_min="nan", salary_max="nan", location="UK"),
    listing("short-k", title="Python Engineer", salary="$75-85,000/year", location="US"),
    # Optional fields that once rejected whole listings.
    listing("midweight", title="Midweight Ruby Developer", level="Midweight", stack=["ruby"]),
    listing("many-tags", title="Backend Engineer", stack=[f"tag{i}" for i in range(60)] + ["golang"]),
    listing("odd-level", title="Senior Python Engineer", level="Ninja"),
    listing("tag-flood", title="Backend Engineer", stack=["golang"] + [f"t{i}" for i in range(300)]),
    listing("huge-number", title="Python Engineer", salary_max=int("9" * 4300)),
    listing("zero-text", title="Python Engineer", salary="0"),
    # Region.
    listing("georgia", title="Python Engineer", location="Romania, Georgia, Moldova, Armenia"),
    listing("band", title="Python Engineer", location="any location between UTC-2 and UTC+2"),
    listing("coventry", title="Python Engineer", location="Coventry, West Midlands"),
    listing("palo-alto", title="Python Engineer", location="Palo Alto"),
    listing("us-cst", title="Python Engineer", location="USA, MST (UTC-7)"),
    listing("us-est", title="Python Engineer", location="Remote - US (EST/CST preferred)"),
    # Level.
    listing("staff-writer", title="Staff Writer, Engineering Blog", stack=[]),
    listing("mots", title="Member of Technical Staff", stack=["python"]),
    listing("avp", title="Associate Vice President, Core Services", stack=["python"]),
    listing("grads", title="Graduates 2027: Python Engineering", stack=[]),
    # Stack.
    listing("magento", title="Senior Magento Developer", stack=["java", "mysql"]),
    listing("rails", title="Senior Ruby on Rails Developer", stack="C, C#, unity"),
    listing("gtm", title="Go To Market Engineer", stack=["golang"]),
]


def _import(db_url, tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    listed = digest(db_url, tmp_path, "listings", "list", "--json")
    return path, result, {row["id"]: row for row in json_lines(listed.stdout)}


def test_every_real_shape_is_kept_and_read_right(db_url, tmp_path):
    path, result, rows = _import(db_url, tmp_path)
    assert result.exit_code == 0, result.output  # warnings only: nothing rejected
    assert result.stdout.startswith(f"imported {len(RECORDS)} listings ({len(RECORDS)} new, 0 updated, 0 unchanged); "
                                    "0 rejected, ")
    warned = {line.split(" (", 1)[1].split(")", 1)[0] for line in errors(result)}
    assert warned == {"benefit", "per-course", "tz-in-salary", "huge-number", "odd-level", "tag-flood"}
    assert all(": warning: " in line for line in errors(result))

    def pay(id_):
        r = rows[id_]
        return r["salary_min"], r["salary_max"], r["salary_currency"], r["salary_period"]

    assert pay("cad") == (110000, 125000, "CAD", "year")
    assert pay("sgd") == (152300, 152300, "SGD", "year")
    assert pay("php-peso") == (720000, 960000, "PHP", "month")
    assert pay("zar") == (480000, 660000, "ZAR", "month")
    assert pay("gbp") == (105000, 115000, "GBP", "year")
    assert pay("bonus") == (31500, 31500, "GBP", "year")
    assert pay("benefit") == pay("per-course") == pay("glassdoor") == pay("tz-in-salary") == (None,) * 4
    assert pay("no-period") == (None, None, "USD", None)  # shown as written, never compared with a floor
    assert pay("each-end") == (95000, 170000, "USD", "year")
    assert pay("us-space") == (150000, 210000, "USD", "year")
    assert pay("hourly") == (176800, 218400, "USD", "hour")
    assert pay("three") == (161400, 197200, "USD", "year")
    assert pay("rok-number") == (135000, 175000, "USD", "year")
    assert pay("nan") == pay("zero-text") == pay("huge-number") == (None,) * 4
    assert pay("short-k") == (75000, 85000, "USD", "year")

    assert rows["midweight"]["level"] == "mid"
    assert rows["many-tags"]["stack"] == rows["tag-flood"]["stack"] == ["go"]
    assert rows["odd-level"]["level"] == "senior"  # an unknown level word: read from the title instead
    assert rows["georgia"]["regions"] == ["europe"]
    assert rows["band"]["regions"] == ["africa", "europe", "middle-east", "uk"]
    assert rows["coventry"]["regions"] == ["uk"]
    assert rows["palo-alto"]["regions"] == ["us"]
    assert rows["us-cst"]["regions"] == rows["us-est"]["regions"] == ["us"]
    assert [rows[i]["level"] for i in ("staff-writer", "mots", "avp", "grads")] == [None, None, "lead", "junior"]
    assert [rows[i]["stack"] for i in ("magento", "rails", "gtm")] == [["php"], ["ruby"], []]


def test_the_digest_shows_own_currencies_and_honours_floors_and_regions(db_url, tmp_path, settings, engine,
                                                                         add_subscriber):
    _import(db_url, tmp_path)
    # A $150k floor: the peso job (₱720k-960k a year, about $16k) must not come, the £115k one (about $146k)
    # must not either, the $210k one must; no-period and no-salary listings pass a floor as "salary not stated".
    rich = add_subscriber("floor@example.com", stack=["python"], min_salary=150000, hide_no_salary=True)
    canada = add_subscriber("canada@example.com", stack=["python"], region=["canada"])
    uk = add_subscriber("uk@example.com", stack=["python"], region=["uk"], min_salary=120000)
    run(settings, NOW, engine=engine)
    msgs = read_outbox(settings.outbox_dir)
    got = {sid: listing_ids(msgs[f"2026-W48/{sid}"]) for sid in (rich, canada, uk)}
    assert set(got[rich]) == {"us-space", "hourly", "three", "each-end", "rok-number"}
    assert "php-peso" not in got[rich] and "gbp" not in got[rich]
    assert "us-est" not in got[canada] and "us-cst" not in got[canada]  # US-only jobs for a Canadian
    assert "gbp" in got[uk]  # £115k is above a $120k floor (about $146k)
    text = msgs[f"2026-W48/{canada}"].get_body(("plain",)).get_content()
    assert "CA$110k–125k / year" in text  # the listing's own currency, never "$110k"
    html = msgs[f"2026-W48/{uk}"].get_body(("html",)).get_content()
    assert "£105k–115k / year" in htmllib.unescape(html)  # the HTML part is ASCII, other characters references


def test_an_empty_file_or_a_foreign_header_is_one_line(db_url, tmp_path):
    cases = {
        "empty.csv": ("", "the file is empty; nothing was imported"),
        "blank.jsonl": ("\n\n", "the file is empty; nothing was imported"),
        "none.json": ("[]", "no records in the file; nothing was imported"),
        "header-only.csv": ("id,title,company,url,posted_at\n", "no records in the file"),
        "other-board.csv": ("job_title,employer,link,date\nEngineer,Acme,https://x.example/1,2026-11-20\n",
                            "the CSV header (job_title, employer, link, date) names none of the fields id, title"),
        "tabs-as-one.csv": ("id title company\nx y z\n", "names none of the fields"),
        "other.jsonl": ('{"job_title": "Engineer", "employer": "Acme"}\n', "the first record has none of the fields"),
    }
    for name, (body, message) in cases.items():
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        result = digest(db_url, tmp_path, "listings", "import", str(path))
        assert result.exit_code == 1 and result.stdout == "", (name, result.output)
        assert len(errors(result)) == 1 and message in errors(result)[0] and str(path) in errors(result)[0], name


def test_a_semicolon_separated_csv_is_sniffed(db_url, tmp_path):
    path = Path(tmp_path / "export.csv")
    path.write_text("id;title;company;url;posted_at;verified;salary;location\n"
                    "eu-1;Senior Go Engineer;Acme GmbH;https://jobs.example.com/eu-1;2026-11-20;true;"
                    "\"€60.000 — €75.000\";Berlin, Germany\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 0 and result.stderr == ""
    row = json_lines(digest(db_url, tmp_path, "listings", "list", "--json").stdout)[0]
    assert (row["id"], row["stack"], row["regions"], row["salary_min"], row["salary_currency"]) == \
        ("eu-1", ["go"], ["europe"], 60000, "EUR")


def test_a_large_file_normalised_by_several_processes_lands_exactly_as_by_one(db_url, tmp_path, engine):
    """The forked workers (`digest listings import --workers N`, used from 5,000 records) change nothing but time:
    same rows, same warnings and rejections on the same lines, duplicates caught across chunks."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from digest.listings import import_listings
    from digest.models import Listing
    from digest.taxonomy import load_taxonomy

    records = [dict(r, id=f"{r['id']}-{n}") for n in range(40) for r in RECORDS]
    records.insert(1500, dict(records[10]))  # the same id again, in another chunk than its first
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n{broken\n", encoding="utf-8")
    taxonomy = load_taxonomy()
    reports, rows = [], []
    for workers in (1, 2):
        with Session(engine) as s:
            s.query(Listing).delete()
            s.commit()
            reports.append(import_listings(s, str(path), taxonomy, NOW, workers=workers, parallel_min=100))
            rows.append([(item.board_id, item.stack, item.level, item.regions, item.salary_min, item.salary_currency,
                          item.role_type)
                         for item in s.scalars(select(Listing).order_by(Listing.board_id))])
    serial, forked = reports
    assert rows[0] == rows[1] and len(rows[0]) == len(records) - 1
    assert [str(r) for r in serial.rejected] == [str(r) for r in forked.rejected]
    assert [str(w) for w in serial.warnings] == [str(w) for w in forked.warnings] and serial.warnings
    assert [r.reason[:12] for r in forked.rejected] == ["duplicate id", "malformed JS"]
