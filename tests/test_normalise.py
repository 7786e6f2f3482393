"""Normalisation of raw listing fields into facets, against realistic values boards send."""

from __future__ import annotations

import shutil

import pytest

from digest.errors import ConfigError, NormaliseError
from digest.normalise import (
    canonical_level_pref, canonical_region_pref, canonical_stack_pref, normalise_level, normalise_regions,
    normalise_stack, normalise_title, repost_key,
)
from digest.taxonomy import DEFAULT_PATH, load_taxonomy

TAXONOMY = load_taxonomy()


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
    assert normalise_stack(raw, title, TAXONOMY) == expected


@pytest.mark.parametrize("raw, title, expected", [
    # The title names what the job is; boards' tags are noisy.
    ("python", "Senior Go Engineer", ["go"]),
    (["java", "mysql"], "Senior Magento Developer", ["php"]),
    ("C, C#, unity", "Senior Ruby on Rails Developer", ["ruby"]),
    (["javascript"], "Laravel Developer (Remote)", ["php"]),
    (["aws"], "Django Backend Engineer", ["python"]),
    (["kotlin"], "Senior Spring Engineer", ["java"]),
    (["golang"], "Go To Market Engineer", []),  # not a development job: no stack, whatever the tags
    (["go", "sales"], "Senior Sales Engineer, Security", []),
    (["python", "java", "go", "ruby"], "Senior Product Manager, Payments", []),
    (["react", "golang"], "Senior Product Engineer (Fullstack)", ["go", "node"]),
    (None, "Senior Rails + React Engineer", ["node", "ruby"]),
    ([], "Go-To-Market Systems Engineer", []),
    (["sales"], "Go Live Specialist", []),
    (["wordpress", "java"], "Backend Engineer", ["java", "php"]),
])
def test_the_title_wins_over_noisy_tags(raw, title, expected):
    assert normalise_stack(raw, title, TAXONOMY) == expected


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
    # "Staff" is a rank only before the job it ranks.
    (None, "Staff Writer, Engineering Blog", None),
    (None, "Staff Accountant", None),
    (None, "Member of Technical Staff", None),
    (None, "Staff Backend Engineer, Ledger", "lead"),
    (None, "STAFF SOFTWARE ENGINEER", "lead"),
    (None, "Staff Machine Learning Engineer", "lead"),
    (None, "Vice President of Platform Engineering", "lead"),
    (None, "Associate Vice President, Core Services", "lead"),
    (None, "Graduates 2027: Backend Engineering", "junior"),
    ("Graduates", "Software Engineer", "junior"),
])
def test_normalise_level(raw, title, expected):
    assert normalise_level(raw, title, TAXONOMY) == expected


def test_unknown_level_names_the_allowed_values():
    with pytest.raises(NormaliseError, match="unknown level 'Guru'; allowed: intern, junior, mid, senior, lead"):
        normalise_level("Guru", "Backend Engineer", TAXONOMY)


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
    ("Remote - US (EST/CST preferred)", ["us"]),  # a named country wins over its timezone words
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
    assert normalise_regions(location, TAXONOMY) == expected


@pytest.mark.parametrize("location, expected", [
    # A US state named like a country means the country among countries, the state among US places.
    ("Romania, Georgia, Moldova, Armenia", ["europe"]),
    ("Savannah, Georgia", ["us"]),
    ("Tbilisi, Georgia", ["europe"]),
    ("Georgia", ["us"]),
    # A stated band is a restriction, even beside "any location" or "worldwide".
    ("any location between UTC-2 and UTC+2", ["africa", "europe", "middle-east", "uk"]),
    ("Worldwide, UTC+8 to UTC+10 only", ["asia", "oceania"]),
    ("Worldwide (US hours preferred)", ["worldwide"]),
    # Places the hand lists do not know, from the data libraries.
    ("Coventry, West Midlands", ["uk"]),
    ("Sunderland, Tyne & Wear", ["uk"]),
    ("Mountain View or Palo Alto", ["us"]),
    ("Eindhoven", ["europe"]),
    ("Karnataka", ["asia"]),
    ("Queensland, Australia", ["oceania"]),
    ("Birmingham", ["uk"]),
    ("Birmingham, AL", ["us"]),
    # A country named with its own timezone is that country, not every country of the band.
    ("USA, MST (UTC-7)", ["us"]),
    ("United States (PST/MST preferred)", ["us"]),
    ("Remote (PST)", ["canada", "us"]),
    # Common words are no cities, whatever the data lists.
    ("Remote - mobile first team", []),
    ("Remote, Mobile friendly", []),
])
def test_regions_real_boards_write(location, expected):
    assert normalise_regions(location, TAXONOMY) == expected


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
    assert fn(value, TAXONOMY) == expected


@pytest.mark.parametrize("fn, value, message", [
    (canonical_stack_pref, "cobol", "unknown stack 'cobol'; allowed: python, go, java, node, ruby, php, rust, "
                                    "kotlin, scala, elixir, csharp, cpp"),
    (canonical_level_pref, "guru", "unknown level 'guru'; allowed: intern, junior, mid, senior, lead"),
    (canonical_region_pref, "moon", "unknown region 'moon'; allowed: us, canada, latam"),
    (canonical_region_pref, "EMEA", "EMEA spans africa, europe, middle-east, uk: choose one"),
])
def test_canonical_prefs_refuse_unknown_values(fn, value, message):
    with pytest.raises(NormaliseError) as err:
        fn(value, TAXONOMY)
    assert message in str(err.value)


# -- the taxonomy file ----------------------------------------------------------------------------------

def test_taxonomy_facets_and_labels():
    assert TAXONOMY.stacks == ("python", "go", "java", "node", "ruby", "php", "rust", "kotlin", "scala", "elixir",
                          "csharp", "cpp")
    assert TAXONOMY.levels == ("intern", "junior", "mid", "senior", "lead")
    assert TAXONOMY.regions == ("us", "canada", "latam", "europe", "uk", "africa", "middle-east", "asia", "oceania",
                           "worldwide")
    assert [TAXONOMY.stack_label(t) for t in ("node", "csharp", "cpp")] == ["Node.js", "C#/.NET", "C++"]
    assert TAXONOMY.level_label("mid") == "Mid-level"
    assert TAXONOMY.region_label("middle-east") == "Middle East"
    assert (TAXONOMY.money.usd_rate("EUR") == 1.08 and TAXONOMY.money.usd_rate("USD") == 1.0
            and TAXONOMY.money.usd_rate("XYZ") is None)
    assert (TAXONOMY.money.code("ca$") == "CAD" and TAXONOMY.money.code("₱") == "PHP"
            and TAXONOMY.money.code("zł") == "PLN")
    assert load_taxonomy() is TAXONOMY  # the default file is read once


@pytest.mark.parametrize("old, new, message", [
    ('aliases = ["golang"', 'aliases = ["django", "golang"', "stacks.go.aliases: 'django' already means python"),
    ('"emea" = ["europe"', '"emea" = ["europa"', "region_groups: unknown region 'europa'"),
    ("title_patterns = ['(?<!\\w)II(?!\\w)']", "title_patterns = ['(II']", "levels.mid.title_patterns: bad regular"),
    ('label = "Rust"\n', "", "stacks.rust.label must be a non-empty string"),
    ('CAD = ["C$"', 'CAD = ["£"', "currencies.symbols.CAD: '£' already means GBP"),
    ('R = "ZAR"', 'R = "ZZZ"', "currencies.letters.R: one letter = an ISO 4217 code"),
    ('rates_file = "usd_rates.toml"', 'rates_file = "nope.toml"', "cannot read the rates table"),
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
    shutil.copy(DEFAULT_PATH.with_name("usd_rates.toml"), tmp_path)
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert message in str(err.value)


def test_missing_taxonomy_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "nope.toml")
