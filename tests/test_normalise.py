"""Normalisation of raw listing fields into facets, against realistic values boards send."""

from __future__ import annotations

import pytest

from digest.errors import ConfigError, NormaliseError
from digest.normalise import (
    Salary, annual_usd, canonical_level_pref, canonical_region_pref, canonical_stack_pref, normalise_level,
    normalise_regions, normalise_stack, normalise_title, parse_salary, repost_key,
)
from digest.taxonomy import DEFAULT_PATH, load_taxonomy

TAX = load_taxonomy()


# -- stack ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, title, expected", [
    ("golang", "Backend Engineer", ["go"]),
    ("go-lang, grpc", "Backend Engineer", ["go"]),
    ("node.js", "Backend Engineer", ["node"]),
    (["NodeJS", "TypeScript", "AWS"], "Backend Engineer", ["node"]),
    ("ruby/rails", "Backend Engineer", ["ruby"]),
    ("Ruby on Rails, PostgreSQL", "Backend Engineer", ["ruby"]),
    ("java/spring | kafka", "Backend Engineer", ["java"]),
    ("Spring Boot; Kotlin", "Backend Engineer", ["java", "kotlin"]),
    ("C Plus Plus", "Systems Engineer", ["cpp"]),
    ("c/c++", "Systems Engineer", ["cpp"]),
    (".NET Core, C#", "Backend Engineer", ["csharp"]),
    ("asp.net", "Backend Engineer", ["csharp"]),
    ("Python / Django", "Backend Engineer", ["python"]),
    (["Python (FastAPI)", "Redis"], "Backend Engineer", ["python"]),
    ("laravel", "Backend Engineer", ["php"]),
    ("elixir/phoenix", "Backend Engineer", ["elixir"]),
    ("akka, play", "Backend Engineer", ["scala"]),
    ("Rust, Go, Python", "Backend Engineer", ["go", "python", "rust"]),
    ("aws, postgres, kubernetes", "Senior Go Engineer", ["go"]),
    (None, "Senior Python/Go Engineer", ["go", "python"]),
    ("", "Backend Engineer (Golang)", ["go"]),
    ([], "Go-to-market Engineer", []),
    (None, "Engineer, Going Global", []),
    (None, "Rails Developer", ["ruby"]),
    (None, "C++ Developer, Trading", ["cpp"]),
    (None, ".NET Developer", ["csharp"]),
    (None, "Java Developer", ["java"]),
    (None, "JavaScript Backend Engineer", ["node"]),
    (None, "Node.js Engineer", ["node"]),
    (None, "Backend Engineer", []),
    ("terraform", "Platform Engineer", []),
])
def test_normalise_stack(raw, title, expected):
    assert normalise_stack(raw, title, TAX) == expected


def test_tags_win_over_title():
    assert normalise_stack("python", "Senior Go Engineer", TAX) == ["python"]


# -- level ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, title, expected", [
    ("Sr", "Backend Engineer", "senior"),
    ("Senior", "Backend Engineer", "senior"),
    ("Mid-Senior level", "Backend Engineer", "senior"),
    ("Mid level", "Backend Engineer", "mid"),
    ("Intermediate", "Backend Engineer", "mid"),
    ("Entry level", "Backend Engineer", "junior"),
    ("Graduate", "Backend Engineer", "junior"),
    ("New grad", "Backend Engineer", "junior"),
    ("JR", "Backend Engineer", "junior"),
    ("Internship", "Backend Engineer", "intern"),
    ("Staff", "Backend Engineer", "lead"),
    ("Principal", "Backend Engineer", "lead"),
    ("Director", "Backend Engineer", "lead"),
    ("Senior/Lead", "Backend Engineer", "lead"),
    ("Junior / Mid", "Backend Engineer", "junior"),
    ("lead", "Junior Engineer", "lead"),  # the field wins over the title
    (None, "Senior Staff Engineer", "lead"),
    ("", "Lead Senior Backend Engineer", "lead"),
    (None, "Sr. Backend Engineer", "senior"),
    (None, "Software Engineer II", "mid"),
    (None, "Backend Engineer III", "senior"),
    (None, "Software Engineer I", "junior"),
    (None, "Software Engineer I - Payments", "junior"),
    (None, "Software Engineer, New Grad", "junior"),
    (None, "Jr. Python Developer", "junior"),
    (None, "Entry-Level Backend Engineer", "junior"),
    (None, "Mid-level Go Engineer", "mid"),
    (None, "Backend Engineering Intern (Summer 2026)", "intern"),
    (None, "Head of Backend", "lead"),
    (None, "Solutions Architect", "lead"),
    ("N/A", "Principal Engineer", "lead"),
    (None, "Backend Engineer", None),
    (None, "International Payments Engineer", None),
])
def test_normalise_level(raw, title, expected):
    assert normalise_level(raw, title, TAX) == expected


def test_unknown_level_names_the_allowed_values():
    with pytest.raises(NormaliseError, match="unknown level 'Guru'; allowed: intern, junior, mid, senior, lead"):
        normalise_level("Guru", "Backend Engineer", TAX)


# -- regions --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("location, expected", [
    ("Remote - US only", ["us"]),
    ("USA timezones", ["us"]),
    ("US time zones", ["us"]),
    ("United States", ["us"]),
    ("EMEA", ["africa", "europe", "middle-east", "uk"]),
    ("APAC", ["asia", "oceania"]),
    ("Americas", ["canada", "latam", "us"]),
    ("Northern America", ["canada", "us"]),
    ("North America", ["canada", "us"]),
    ("Remote, North or South America", ["canada", "latam", "us"]),
    ("Remote - US (EST/CST preferred)", ["canada", "us"]),
    ("Asia-Pacific timezones (UTC+5:30 to UTC+9)", ["asia", "oceania"]),
    ("UTC-8 to UTC-3", ["canada", "latam", "us"]),
    ("CET +/- 3 HOURS", ["africa", "europe", "middle-east", "uk"]),
    ("UTC-1 to UTC+3", ["africa", "europe", "middle-east", "uk"]),
    ("GMT+1 to GMT+5", ["africa", "asia", "europe", "middle-east", "uk"]),
    ("EST +/- 2h", ["canada", "latam", "us"]),
    ("UTC+5:30", ["asia"]),
    ("Remote (CET)", ["europe"]),
    ("🇩🇪 🇳🇱 🇬🇧", ["europe", "uk"]),
    ("🇧🇷", ["latam"]),
    ("Berlin, Germany", ["europe"]),
    ("Austin, TX", ["us"]),
    ("Toronto, ON", ["canada"]),
    ("London, ON", ["canada"]),
    ("London", ["uk"]),
    ("Paris, TX", ["us"]),
    ("Berlin, DE", ["europe"]),
    ("Portland, Oregon", ["us"]),
    ("New Mexico", ["us"]),
    ("São Paulo, Brazil", ["latam"]),
    ("Lagos or Nairobi", ["africa"]),
    ("Remote (Europe or LATAM)", ["europe", "latam"]),
    ("Remote — EU/UK", ["europe", "uk"]),
    ("Sydney; Auckland", ["oceania"]),
    ("Dubai, UAE", ["middle-east"]),
    ("Bengaluru, India", ["asia"]),
    ("Anywhere in the world", ["worldwide"]),
    ("Worldwide (EU timezones preferred)", ["worldwide"]),
    ("Remote", ["worldwide"]),
    ("100% Remote", ["worldwide"]),
    ("Anywhere in the US", ["us"]),
    ("Remote, Mars", []),
    ("join us", []),
    ("", []),
    (None, []),
])
def test_normalise_regions(location, expected):
    assert normalise_regions(location, TAX) == expected


# -- salary ---------------------------------------------------------------------------------------------

def _s(lo, hi, cur, period, raw_lo, raw_hi):
    return Salary(lo, hi, cur, period, raw_lo, raw_hi)


@pytest.mark.parametrize("text, expected", [
    ("$93,400 – $140,000 usd", _s(93400, 140000, "USD", "year", 93400, 140000)),
    ("€4,000 - 5,200 per month", _s(48000, 62400, "EUR", "month", 4000, 5200)),
    ("$65k - $105k", _s(65000, 105000, "USD", "year", 65000, 105000)),
    ("$65-105k", _s(65000, 105000, "USD", "year", 65000, 105000)),
    ("£50-60k", _s(50000, 60000, "GBP", "year", 50000, 60000)),
    ("USD 120000", _s(120000, 120000, "USD", "year", 120000, 120000)),
    ("120k-150k EUR", _s(120000, 150000, "EUR", "year", 120000, 150000)),
    ("$45/hr", _s(93600, 93600, "USD", "hour", 45, 45)),
    ("$500 - $650 per day", _s(130000, 169000, "USD", "day", 500, 650)),
    ("₹18,00,000 - 25,00,000", _s(1800000, 2500000, "INR", "year", 1800000, 2500000)),
    ("up to $180k", _s(None, 180000, "USD", "year", None, 180000)),
    ("from €70k", _s(70000, None, "EUR", "year", 70000, None)),
    ("$120k+ equity", _s(120000, None, "USD", "year", 120000, None)),
    ("between $100,000 and $130,000 a year", _s(100000, 130000, "USD", "year", 100000, 130000)),
    ("€60.000 — €75.000", _s(60000, 75000, "EUR", "year", 60000, 75000)),
    ("CA$110k to CA$140k", _s(110000, 140000, "CAD", "year", 110000, 140000)),
    ("CHF 120'000", _s(120000, 120000, "CHF", "year", 120000, 120000)),
    ("R$ 15.000 - 20.000 / mês", _s(180000, 240000, "BRL", "month", 15000, 20000)),
    ("$120k + 10% bonus + 401(k)", _s(120000, 120000, "USD", "year", 120000, 120000)),
    ("£450 p/d", _s(117000, 117000, "GBP", "day", 450, 450)),
    ("£400-510 daily rate (outside IR35)", _s(104000, 132600, "GBP", "day", 400, 510)),
    ("$129K-$160K/yr", _s(129000, 160000, "USD", "year", 129000, 160000)),
    ("USD 34-43 hourly", _s(70720, 89440, "USD", "hour", 34, 43)),
    # No period stated: the size of the figure decides, never reading a rate as a yearly salary.
    ("$80 - $120", _s(166400, 249600, "USD", "hour", 80, 120)),
    ("$700", _s(182000, 182000, "USD", "day", 700, 700)),
    ("$8,000 - $10,000", _s(96000, 120000, "USD", "month", 8000, 10000)),
    ("95000", _s(95000, 95000, "USD", "year", 95000, 95000)),
    ("Competitive", None),
    ("DOE", None),
    ("", None),
    (None, None),
])
def test_parse_salary_text(text, expected):
    assert parse_salary(text=text, tax=TAX) == expected


@pytest.mark.parametrize("fields, expected", [
    (dict(min_=140000, max_=180000, currency="USD", period="year"), _s(140000, 180000, "USD", "year", 140000, 180000)),
    (dict(min_=6000, max_=7000, currency="€", period="per month"), _s(72000, 84000, "EUR", "month", 6000, 7000)),
    (dict(min_=50, max_=70), _s(104000, 145600, "USD", "hour", 50, 70)),
    (dict(min_=90000, currency="gbp", period="annual"), _s(90000, None, "GBP", "year", 90000, None)),
    (dict(min_=0, max_=0), None),
    # The structured period wins over the guess and over the text.
    (dict(min_=15000, max_=18000, period="monthly"), _s(180000, 216000, "USD", "month", 15000, 18000)),
    (dict(text="$50/hour", period="day"), _s(13000, 13000, "USD", "day", 50, 50)),
    (dict(text="90k", currency="EUR"), _s(90000, 90000, "EUR", "year", 90000, 90000)),
])
def test_parse_salary_fields(fields, expected):
    assert parse_salary(**fields, tax=TAX) == expected


@pytest.mark.parametrize("fields, message", [
    (dict(text="$150k - $120k"), "salary minimum 150,000 is above the maximum 120,000"),
    (dict(min_=150000, max_=120000), "salary minimum 150,000 is above the maximum 120,000"),
    (dict(text="$5,000,000"), "about 5,000,000 USD a year, outside 1,000-2,000,000"),
    (dict(text="$5 - $10 per year"), "salary 5 USD per year is about 5 USD a year"),
    (dict(min_=900, max_=1200, period="hour"), "about 2,496,000 USD a year"),
    (dict(min_=-5, max_=100), "salary minimum -5 must be a positive number"),
    (dict(min_="lots"), "salary minimum 'lots' is not a number"),
    (dict(min_=100000, currency="XYZ"), "unknown currency 'XYZ'; known: USD, EUR, GBP"),
    (dict(min_=100000, period="fortnight"), "unknown salary period 'fortnight'; allowed: year, month, week, day, hour"),
])
def test_parse_salary_refuses_absurd_values(fields, message):
    with pytest.raises(NormaliseError) as err:
        parse_salary(**fields, tax=TAX)
    assert message in str(err.value)


@pytest.mark.parametrize("amount, currency, expected", [
    (100000, "USD", 100000), (100000, "EUR", 108000), (2500000, "INR", 30000), (None, "USD", None),
    (100000, "XYZ", None),
])
def test_annual_usd(amount, currency, expected):
    assert annual_usd(amount, currency, TAX) == expected


# -- titles and repost keys -----------------------------------------------------------------------------

@pytest.mark.parametrize("title, expected", [
    ("  Sr. Backend Engineer (Go) — Remote!  ", "sr backend engineer go remote"),
    ("Senior  C++ / C# Engineer", "senior c++ c# engineer"),
    ("Ｓｅｎｉｏｒ Python Engineer", "senior python engineer"),
])
def test_normalise_title(title, expected):
    assert normalise_title(title) == expected


def test_repost_key_is_stable_and_fits_a_bigint():
    key = repost_key("Acme", "Senior Backend Engineer")
    assert key == repost_key(" ACME ", "senior backend engineer!")
    assert key == 471428549303681986  # same value in every process: blake2b, not hash()
    assert 0 <= key < 2**63
    assert key != repost_key("Acme", "Backend Engineer")
    assert key != repost_key("Acme Labs", "Senior Backend Engineer")


# -- subscriber preferences -----------------------------------------------------------------------------

@pytest.mark.parametrize("fn, value, expected", [
    (canonical_stack_pref, "Golang", "go"),
    (canonical_stack_pref, "Node.js", "node"),
    (canonical_stack_pref, "C#/.NET", "csharp"),
    (canonical_stack_pref, "cpp", "cpp"),
    (canonical_level_pref, "Senior", "senior"),
    (canonical_level_pref, "Lead / Staff", "lead"),
    (canonical_level_pref, "staff", "lead"),
    (canonical_level_pref, "Mid-level", "mid"),
    (canonical_region_pref, "USA", "us"),
    (canonical_region_pref, "Latin America", "latam"),
    (canonical_region_pref, "middle-east", "middle-east"),
    (canonical_region_pref, "Middle East", "middle-east"),
    (canonical_region_pref, "UK", "uk"),
    (canonical_region_pref, "Worldwide", "worldwide"),
])
def test_canonical_prefs(fn, value, expected):
    assert fn(value, TAX) == expected


@pytest.mark.parametrize("fn, value, message", [
    (canonical_stack_pref, "cobol", "unknown stack 'cobol'; allowed: python, go, java, node, ruby, php, rust, "
                                    "kotlin, scala, elixir, csharp, cpp"),
    (canonical_level_pref, "guru", "unknown level 'guru'; allowed: intern, junior, mid, senior, lead"),
    (canonical_region_pref, "moon", "unknown region 'moon'; allowed: us, canada, latam"),
    (canonical_region_pref, "EMEA", "EMEA spans africa, europe, middle-east, uk: choose one"),
])
def test_canonical_prefs_refuse_unknown_values(fn, value, message):
    with pytest.raises(NormaliseError) as err:
        fn(value, TAX)
    assert message in str(err.value)


# -- the taxonomy file ----------------------------------------------------------------------------------

def test_taxonomy_facets_and_labels():
    assert TAX.stacks == ("python", "go", "java", "node", "ruby", "php", "rust", "kotlin", "scala", "elixir",
                          "csharp", "cpp")
    assert TAX.levels == ("intern", "junior", "mid", "senior", "lead")
    assert TAX.regions == ("us", "canada", "latam", "europe", "uk", "africa", "middle-east", "asia", "oceania",
                           "worldwide")
    assert [TAX.stack_label(t) for t in ("node", "csharp", "cpp")] == ["Node.js", "C#/.NET", "C++"]
    assert TAX.level_label("mid") == "Mid-level"
    assert TAX.region_label("middle-east") == "Middle East"
    assert TAX.usd_rate("EUR") == 1.08 and TAX.usd_rate("$") == 1.0 and TAX.usd_rate("XYZ") is None
    assert load_taxonomy() is TAX  # the default file is read once


@pytest.mark.parametrize("old, new, message", [
    ('aliases = ["golang"', 'aliases = ["django", "golang"', "stacks.go.aliases: 'django' already means python"),
    ('"emea" = ["europe"', '"emea" = ["europa"', "region_groups: unknown region 'europa'"),
    ("title_patterns = ['(?<!\\w)II(?!\\w)']", "title_patterns = ['(II']", "levels.mid.title_patterns: bad regular"),
    ('label = "Rust"\n', "", "stacks.rust.label must be a non-empty string"),
    ("usd_rate = 1.08", 'usd_rate = "high"', "currencies.EUR.usd_rate must be a number"),
    ('oceania = ["Sydney"', 'oceania = ["Berlin", "Sydney"', "cities.oceania: 'berlin' already means europe"),
    ("[periods.week]", "[periods.fortnight]", "[periods] must define exactly"),
    ("[stacks.python]", "[[stacks.python]]", "[stacks.python] must be a table"),
    ("[stacks.python]", "[stacks.python", "not valid TOML"),
])
def test_malformed_taxonomy_is_a_config_error(tmp_path, old, new, message):
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "taxonomy.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert message in str(err.value)


def test_missing_taxonomy_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "nope.toml")
