"""Pay as real boards write it: currency and period from what stands next to the figures, ranges whose ends carry
their own units, and text that is not pay. Strings are ours, in the shapes seen in public exports."""

from __future__ import annotations

import shutil

import pytest

from digest.errors import ConfigError, NormaliseError
from digest.salary import Salary, annual_usd, format_salary, parse_salary
from digest.taxonomy import DEFAULT_PATH, load_taxonomy

MONEY = load_taxonomy().money


def read(text=None, **fields):
    return parse_salary(text=text, money=MONEY, **fields)


def s(lo, hi, cur, period, raw_lo, raw_hi):
    return Salary(lo, hi, cur, period, raw_lo, raw_hi)


@pytest.mark.parametrize("text, expected, shown", [
    # A code or a specific symbol anywhere in the amount wins over a leading "$".
    ("$110,000 - $125,000 cad", s(110000, 125000, "CAD", "year", 110000, 125000), "CA$110k–125k / year"),
    ("$152,300 sgd", s(152300, 152300, "SGD", "year", 152300, 152300), "SGD 152k / year"),
    ("C$95k - C$120k", s(95000, 120000, "CAD", "year", 95000, 120000), "CA$95k–120k / year"),
    ("A$140,000 + super", s(140000, 140000, "AUD", "year", 140000, 140000), "A$140k / year"),
    ("US$85,000 – US$95,000", s(85000, 95000, "USD", "year", 85000, 95000), "$85k–95k / year"),
    ("£72,000 - £85,000", s(72000, 85000, "GBP", "year", 72000, 85000), "£72k–85k / year"),
    ("₹24,00,000 - ₹30,00,000 per annum", s(2400000, 3000000, "INR", "year", 2400000, 3000000), "₹2.4M–3M / year"),
    ("p60,000 - 80,000 (monthly gross package)", s(720000, 960000, "PHP", "month", 60000, 80000),
     "₱60,000–80,000 / month"),
    ("₱45,000 - ₱65,000 monthly", s(540000, 780000, "PHP", "month", 45000, 65000), "₱45,000–65,000 / month"),
    ("r40,000 – r55,000 per month", s(480000, 660000, "ZAR", "month", 40000, 55000), "ZAR 40,000–55,000 / month"),
    ("R 35 000 per month", s(420000, 420000, "ZAR", "month", 35000, 35000), "ZAR 35,000 / month"),
    ("12 000 - 16 000 zł brutto per month", s(144000, 192000, "PLN", "month", 12000, 16000),
     "PLN 12,000–16,000 / month"),
    ("R$ 12.000 - 16.000 / mês", s(144000, 192000, "BRL", "month", 12000, 16000), "R$12,000–16,000 / month"),
    ("€3,800 - 4,600 per month", s(45600, 55200, "EUR", "month", 3800, 4600), "€3,800–4,600 / month"),
    ("Salary (EUR): 55-65k", s(55000, 65000, "EUR", "year", 55000, 65000), "€55k–65k / year"),
    # A period word counts only when it belongs to the amount.
    ("£31,500 plus monthly bonus", s(31500, 31500, "GBP", "year", 31500, 31500), "£31.5k / year"),
    ("$140k base + quarterly bonus", s(140000, 140000, "USD", "year", 140000, 140000), "$140k / year"),
    ("Monthly salary: ₱55,000", s(660000, 660000, "PHP", "month", 55000, 55000), "₱55,000 / month"),
    ("€650 daily rate", s(169000, 169000, "EUR", "day", 650, 650), "€650 / day"),
    # Both ends keep their own units; three figures are a range with its midpoint.
    ("$95,000/year -$170,000/year", s(95000, 170000, "USD", "year", 95000, 170000), "$95k–170k / year"),
    ("us $150,000 to us $210,000", s(150000, 210000, "USD", "year", 150000, 210000), "$150k–210k / year"),
    ("$85/hr - $105/hr", s(176800, 218400, "USD", "hour", 85, 105), "$85–105 / hour"),
    ("$6,000/month - $80,000/year", s(72000, 80000, "USD", "year", 72000, 80000), "$72k–80k / year"),
    ("$161,400 - $179,300 - $197,200", s(161400, 197200, "USD", "year", 161400, 197200), "$161k–197k / year"),
    ("$70-90,000/year", s(70000, 90000, "USD", "year", 70000, 90000), "$70k–90k / year"),
    ("$70-90k", s(70000, 90000, "USD", "year", 70000, 90000), "$70k–90k / year"),
    # Shapes that were right before and must stay right.
    ("$93,400 – $140,000 usd", s(93400, 140000, "USD", "year", 93400, 140000), "$93.4k–140k / year"),
    ("120k-150k EUR", s(120000, 150000, "EUR", "year", 120000, 150000), "€120k–150k / year"),
    ("up to $180k", s(None, 180000, "USD", "year", None, 180000), "up to $180k / year"),
    ("from €70k", s(70000, None, "EUR", "year", 70000, None), "from €70k / year"),
    ("$120k+ equity", s(120000, None, "USD", "year", 120000, None), "from $120k / year"),
    ("between $100,000 and $130,000 a year", s(100000, 130000, "USD", "year", 100000, 130000), "$100k–130k / year"),
    ("CHF 120'000", s(120000, 120000, "CHF", "year", 120000, 120000), "CHF 120k / year"),
    ("$120k + 10% bonus + 401(k)", s(120000, 120000, "USD", "year", 120000, 120000), "$120k / year"),
    ("£400-510 daily rate (outside IR35)", s(104000, 132600, "GBP", "day", 400, 510), "£400–510 / day"),
    ("USD 34-43 hourly", s(70720, 89440, "USD", "hour", 34, 43), "$34–43 / hour"),
    ("₹18 LPA", s(1800000, 1800000, "INR", "year", 1800000, 1800000), "₹1.8M / year"),
    ("40 hours per week at $55/hr", s(114400, 114400, "USD", "hour", 55, 55), "$55 / hour"),
    ("$100k-$150k + $20k signing bonus", s(100000, 150000, "USD", "year", 100000, 150000), "$100k–150k / year"),
    # No currency at all: shown as written, never converted as if it were US dollars.
    ("95,000 - 120,000", s(95000, 120000, None, "year", 95000, 120000), "95k–120k / year"),
    ("45 per hour", s(93600, 93600, None, "hour", 45, 45), "45 / hour"),
])
def test_salary_texts(text, expected, shown):
    got = read(text)
    assert got == expected
    assert format_salary(got, MONEY) == shown


@pytest.mark.parametrize("text, shown", [
    # No period stated and not plausible as a year's pay: the period is unknown, never guessed from the size.
    ("usd 1,400 - 1,700", "$1,400–1,700 (period not stated)"),
    ("up to ₱45,000.00", "up to ₱45,000 (period not stated)"),
    ("$75 - $95", "$75–95 (period not stated)"),
    ("$650", "$650 (period not stated)"),
])
def test_no_period_is_not_guessed(text, shown):
    got = read(text)
    assert (got.min_annual, got.max_annual, got.period) == (None, None, None)
    assert format_salary(got, MONEY) == shown
    assert annual_usd(got.max_annual, got.currency, MONEY) is None  # never compared with a floor


def test_a_figure_plausible_as_a_year_is_annual_without_a_period_word():
    assert read("$14K") == s(14000, 14000, "USD", "year", 14000, 14000)
    assert read("€52,000") == s(52000, 52000, "EUR", "year", 52000, 52000)


@pytest.mark.parametrize("text", [None, "", "  ", "0", "-1", "nan", "NaN", "N/A", "Competitive", "DOE", "TBD"])
def test_not_stated_is_no_salary_and_no_warning(text):
    assert read(text) is None


@pytest.mark.parametrize("text, message", [
    ("UTC-2 to UTC+2", "is not pay"),
    ("GMT+1", "is not pay"),
    ("60/40 revenue-sharing model", "is not pay"),
    ("2,400€ per year for flexible benefits", "is not pay"),
    ("$3,000 per course", "is not pay"),
    ("$4,000 signing bonus", "is not pay"),
    ("6 months contract", "is not pay"),
    ("$1 - $100 usd", "not a pay range"),
    ("4000", "names neither a currency nor a period"),
    ("2.5M", "names neither a currency nor a period"),
    ("$1", "too small to be pay"),
    ("$9,000,000", "outside 1,000-5,000,000"),
    ("$5 - $10 per year", "outside 1,000-5,000,000"),
    ("$150k - $120k", "minimum 150,000 is above the maximum 120,000"),
    ("9" * 4300, "names neither a currency nor a period"),
    ("$" + "9" * 400, "outside"),
])
def test_text_that_is_not_pay_is_a_warning(text, message):
    with pytest.raises(NormaliseError) as err:
        read(text)
    assert message in str(err.value)
    assert len(str(err.value)) < 200  # one readable report line, even for 4,300 digits


@pytest.mark.parametrize("fields, expected", [
    # RemoteOK's API: JSON numbers, US dollars a year by the board's own convention.
    (dict(min_=120000, max_=160000, currency="USD", period="year"), s(120000, 160000, "USD", "year", 120000, 160000)),
    (dict(min_="6000", max_="7,000", currency="€", period="per month"), s(72000, 84000, "EUR", "month", 6000, 7000)),
    (dict(min_="$95k", max_="120K", currency="USD"), s(95000, 120000, "USD", "year", 95000, 120000)),
    (dict(min_=90000, currency="gbp", period="annual"), s(90000, None, "GBP", "year", 90000, None)),
    (dict(min_=0, max_=0, currency="USD"), None),
    (dict(min_=float("nan"), max_="nan"), None),
    (dict(min_=-1, max_=-1), None),
    (dict(min_="", max_=None), None),
    # The structured period wins over the text; the text lends a currency the fields lack.
    (dict(text="$50/hour", period="day"), s(13000, 13000, "USD", "day", 50, 50)),
    (dict(text="90k", currency="EUR"), s(90000, 90000, "EUR", "year", 90000, 90000)),
    (dict(min_=100000, max_=132000, text="CA$100k - 132k"), s(100000, 132000, "CAD", "year", 100000, 132000)),
    # A bad text beside good figures costs nothing.
    (dict(min_=80000, max_=95000, currency="USD", text="UTC-1 to UTC+3"), s(80000, 95000, "USD", "year", 80000, 95000)),
])
def test_salary_fields(fields, expected):
    assert read(**fields) == expected


def test_a_bad_currency_or_period_field_is_dropped_with_a_warning():
    said = []
    got = parse_salary(min_=100000, max_=120000, currency="XYZ", period="fortnight", money=MONEY, warn=said.append)
    assert got == s(100000, 120000, None, "year", 100000, 120000)  # no currency: shown, never compared
    assert said == ["salary_currency 'XYZ' is not a currency we know, left out",
                    "salary_period 'fortnight' is not one of year, month, week, day, hour, left out"]


@pytest.mark.parametrize("fields, message", [
    (dict(min_="lots"), "salary_min 'lots' is not a number"),
    (dict(min_=-5, max_=100), "salary_min -5 is not a salary figure"),
    (dict(min_=float("inf")), "salary_min inf is not a salary figure"),
    (dict(min_=10**4300), "salary_min inf is not a salary figure"),
    (dict(min_=150000, max_=120000), "minimum 150,000 is above the maximum 120,000"),
])
def test_unusable_figures_are_warnings(fields, message):
    with pytest.raises(NormaliseError) as err:
        read(**fields)
    assert message in str(err.value)


@pytest.mark.parametrize("amount, currency, expected", [
    (100000, "USD", 100000), (100000, "EUR", 108000), (2500000, "INR", 29250), (None, "USD", None),
    (100000, None, None), (100000, "XAU", None),
])
def test_annual_usd(amount, currency, expected):
    assert annual_usd(amount, currency, MONEY) == expected


def test_the_rates_table_is_dated_and_checked(tmp_path):
    assert MONEY.rates_as_of.year >= 2026
    shutil.copy(DEFAULT_PATH, tmp_path)
    rates = DEFAULT_PATH.with_name("usd_rates.toml").read_text(encoding="utf-8")
    for old, new, message in [("as_of = ", "as_of = 'soon' #", "as_of must be a date"),
                              ("EUR = 1.08", "EUR = -1", "rates.EUR must be a number"),
                              ("EUR = 1.08", "EUR = 1.08\nXYZ = 2", "rates.XYZ is not an ISO 4217 currency code")]:
        (tmp_path / "usd_rates.toml").write_text(rates.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_taxonomy(tmp_path / "taxonomy.toml")
        assert message in str(err.value)
