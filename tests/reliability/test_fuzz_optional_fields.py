"""Properties of the listing import that no example list can show: whatever a board puts in an optional field,
the listing is kept; and any salary that reaches a subscriber's floor has a known currency and a plausible
annual value in US dollars."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from digest.listing_record import OPTIONAL
from digest.listing_parse import parse_records
from digest.listings import import_listings
from digest.listings_index import load_index
from digest.readers import Record, Rejected, Warned
from digest.salary import annual_usd
from digest.taxonomy import load_taxonomy

from ..conftest import NOW, listing
from .fuzz_support import N

TAXONOMY = load_taxonomy()
LEAST, MOST = TAXONOMY.money.annual_usd_bounds

# Texts shaped like salaries, places and levels, mixed with anything at all.
SALARY_BITS = st.sampled_from(["$", "€", "£", "₱", "CA$", "R", "p", "usd", "cad", "k", "K", "M", "lakh", " - ", " to ",
                               "/hr", "/yr", " per month", " a year", "monthly", " plus bonus", "-1", "0", "nan",
                               "UTC-1", "50/50", "1,800", "93,400", "4.000", "120 000", "18,00,000", "9" * 30, " "])
SALARYISH = st.lists(st.one_of(SALARY_BITS, st.integers(0, 10**9).map(str)), max_size=8).map("".join)
# Lone surrogates are valid JSON ("\ud800") but no database stores them.
SURROGATES = st.sampled_from(["\ud800 lone surrogate", "a\udfffb", "\udc00"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True),
                    st.text(max_size=300), SALARYISH, SURROGATES)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=5), st.dictionaries(st.text(max_size=5), SCALARS, max_size=3))


@st.composite
def records_with_odd_optional_fields(draw):
    record = listing("odd", title=draw(st.sampled_from(["Senior Go Engineer", "Staff Writer", "Backend Engineer"])))
    for name in draw(st.lists(st.sampled_from(OPTIONAL), min_size=1, max_size=6, unique=True)):
        record[name] = draw(SALARYISH if name.startswith("salary") and draw(st.booleans()) else VALUES)
    return record


def _kept(record: dict) -> tuple[dict, list[str]]:
    # Through JSON, as a file would carry it (NaN and huge integers included).
    data = json.loads(json.dumps(record, allow_nan=True))
    items = list(parse_records([Record(1, data)], TAXONOMY))
    assert not [i for i in items if isinstance(i, Rejected)], items
    kept = [i for i in items if isinstance(i, tuple)]
    assert len(kept) == 1
    return kept[0][1], [i.reason for i in items if isinstance(i, Warned)]


@given(record=records_with_odd_optional_fields())
@settings(max_examples=N or 400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_optional_field_rejects_a_listing(record):
    cols, warnings = _kept(record)
    assert all(len(w) < 500 and "\n" not in w for w in warnings)  # each one readable report line
    assert cols["title"] == record["title"] and cols["board_id"] == "odd"


@given(record=records_with_odd_optional_fields())
@settings(max_examples=N or 400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_salary_for_the_floor_has_a_currency_and_a_plausible_year(record):
    cols, _ = _kept(record)
    for amount in (cols["salary_min"], cols["salary_max"]):
        usd = annual_usd(amount, cols["salary_currency"], TAXONOMY.money)
        if usd is not None:
            assert cols["salary_currency"] in TAXONOMY.money.usd_rates
            assert cols["salary_period"] in TAXONOMY.money.period_factors
            assert LEAST - 1 <= usd <= MOST + 1, (record, cols)
    if cols["salary_min"] is not None and cols["salary_max"] is not None:
        assert cols["salary_min"] <= cols["salary_max"]
    assert all(isinstance(v, int) and not math.isnan(v) for v in (cols["salary_min"], cols["salary_max"])
               if v is not None)


@given(records=st.lists(records_with_odd_optional_fields(), min_size=1, max_size=4))
@settings(max_examples=N or 25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
def test_odd_records_land_and_the_floor_index_stays_in_bounds(records, engine, tmp_path):
    """The same through the database and into the index a run matches floors against (SQLite and PostgreSQL)."""
    path = tmp_path / "odd.jsonl"
    for n, r in enumerate(records):
        r["id"] = f"odd-{n}"
        r["verified"], r["verified_at"] = True, "2026-11-22T10:00:00Z"
        r.pop("expires_at", None)
    path.write_text("\n".join(json.dumps(r, allow_nan=True) for r in records) + "\n", encoding="utf-8")
    with Session(engine) as s:
        report = import_listings(s, str(path), TAXONOMY, NOW)
        assert not report.rejected and report.imported == len(records)
        index = load_index(s, NOW, TAXONOMY, window=NOW - NOW.replace(year=2026, month=10))
    for item in index.listings:
        assert item.usd_max is None or LEAST - 1 <= item.usd_max <= MOST + 1
