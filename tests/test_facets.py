"""Role type and employer type: raw values, aliases, and inference from titles, tags and descriptions.

Every title, tag list and description here is written for these tests in the shapes job ads use.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from digest.errors import ConfigError, NormaliseError
from digest.facets import DESCRIPTION_CAP, employer_type, role_type
from digest.taxonomy import DEFAULT_PATH, load_taxonomy

TAXONOMY = load_taxonomy()
SAMPLE = Path(__file__).resolve().parents[1] / "digest" / "sample" / "listings.jsonl"


def role(title: str = "Backend Engineer", tags: list[str] | None = None, description: str | None = None,
         raw: str | None = None) -> str | None:
    return role_type(raw, title, tags or [], description, TAXONOMY)


def employer(description: str | None = None, company: str = "Fernhill", raw: str | None = None) -> str | None:
    return employer_type(raw, company, description, TAXONOMY)


# -- role type from the title ---------------------------------------------------------------------------

@pytest.mark.parametrize("title, expected", [
    ("Senior Data Engineer (Python)", "data"),
    ("Data Engineer II – Streaming", "data"),
    ("Staff Software Engineer, ML Platform", "data"),
    ("Machine Learning Engineer, Model Serving", "data"),
    ("Backend Engineer, Data Platform", "data"),
    ("Principal Engineer, Data Infrastructure", "data"),
    ("Software Engineer, Data (Scala)", "data"),
    ("Backend Engineer - Data", "data"),
    ("Analytics Engineer (dbt)", "data"),
    ("Big Data Developer – Spark", "data"),
    ("ETL Developer", "data"),
    ("Site Reliability Engineer", "platform"),
    ("Senior SRE (Go)", "platform"),
    ("Platform Engineer", "platform"),
    ("Staff Software Engineer, Payments Platform", "platform"),
    ("Infrastructure Engineer – Kubernetes", "platform"),
    ("DevOps Engineer (AWS)", "platform"),
    ("Senior Engineer, Developer Experience", "platform"),
    ("Software Engineer, Internal Tools", "platform"),
    ("Build & Release Engineer", "platform"),
    ("API Engineer (Go)", "api"),
    ("Senior Backend Engineer, Public API", "api"),
    ("Software Engineer II, Payments API", "api"),
    ("Backend Developer – Microservices", "api"),
    ("Senior Software Engineer, Integrations", "api"),
    ("GraphQL Backend Engineer", "api"),
])
def test_role_type_from_title(title, expected):
    assert role(title) == expected


@pytest.mark.parametrize("title", [
    "Backend Engineer",
    "Senior Backend Engineer (Python)",
    "Software Engineer II",
    "Staff Software Engineer",
    "Sr. Backend Developer – Node.js/TypeScript",
    "Backend Engineer, Rest of World",  # not REST
    "Senior Engineer, Data Protection",  # a team named after a policy, not Data
    "Metadata Services Engineer",
    "Rails Developer (Platforms Team)",  # whole words only: "Platforms" is not "Platform"
])
def test_generic_titles_stay_unknown(title):
    assert role(title) is None


def test_title_evidence_beats_tags_and_description():
    description = "You will build REST APIs and microservices for our partners, with an OpenAPI spec for each."
    assert role("Senior Data Engineer", ["graphql", "grpc"], description) == "data"


def test_more_specific_role_wins_a_tie_in_the_title():
    # One title word each: data before platform before api.
    assert role("Platform Engineer, APIs") == "platform"
    assert role("Data Platform Engineer") == "data"  # "Data Platform" is one data phrase, not Platform
    assert role("ML Platform Engineer") == "data"


# -- role type from the tags ----------------------------------------------------------------------------

@pytest.mark.parametrize("tags, expected", [
    (["python", "airflow", "snowflake"], "data"),
    (["Scala", "Apache Spark", "Kafka"], "data"),
    (["golang", "Terraform", "AWS"], "platform"),
    (["go", "kubernetes", "SRE"], "platform"),
    (["Python (FastAPI)", "REST API", "PostgreSQL"], "api"),
    (["golang", "gRPC", "GraphQL"], "api"),
    (["TypeScript", "Terraform/Pulumi"], "platform"),
    (["python", "airflow", "rest"], "data"),  # one each: data wins the tie
    (["python", "dbt", "spark", "rest"], "data"),
])
def test_role_type_from_tags(tags, expected):
    assert role("Senior Backend Engineer", tags) == expected


@pytest.mark.parametrize("tags", [
    ["python", "postgres", "docker", "aws"],
    ["Java", "Spring Boot", "Kubernetes", "Kafka"],  # everyday backend tags say nothing about the kind
    [],
])
def test_everyday_tags_stay_unknown(tags):
    assert role("Backend Engineer", tags) is None


def test_tags_may_be_one_comma_separated_string():
    assert role_type(None, "Backend Engineer", "python, airflow, postgres", None, TAXONOMY) == "data"


# -- role type from the description ---------------------------------------------------------------------

@pytest.mark.parametrize("description, expected", [
    ("You will build and run the batch and streaming data pipelines that feed our warehouse, in Airflow.", "data"),
    ("Our ingestion pipelines move billions of events a day from devices into ClickHouse.", "data"),
    ("You'll own model serving for our recommendation models and the feature store behind them.", "data"),
    ("You will work on our internal developer platform: service templates, CI/CD and observability.", "platform"),
    ("The team builds the paved road every engineer uses: Terraform modules, deploy pipelines and SLOs.",
     "platform"),
    ("Join the team that runs our payments infrastructure and the authentication service.", "platform"),
    ("You'll design REST APIs and webhooks used by thousands of partner integrations.", "api"),
    ("The team owns our public API and a set of gRPC services behind it.", "api"),
    ("<p>You will design <b>GraphQL APIs</b> for our mobile apps &amp; partners.</p>", "api"),
])
def test_role_type_from_description(description, expected):
    assert role("Senior Backend Engineer", ["python"], description) == expected


@pytest.mark.parametrize("description", [
    # "data" once is not a data role.
    "You will build features our customers use every day and make good decisions with data.",
    # "platform" in the product's sense is not a platform role.
    "Our platform helps restaurants take orders, manage tables and pay their staff.",
    "We are the leading platform for independent gyms. You will build backend services in Go.",
    # False friends.
    "We are building the future of video streaming for live sports.",
    "Our warehouse management system runs 40 sites across Europe.",
    "You'll work closely with sales to grow our sales pipeline.",
    # One hint alone is not enough.
    "We use Kafka for some background jobs.",
    "We run everything on Kubernetes.",
    None,
    "",
])
def test_weak_or_misleading_descriptions_stay_unknown(description):
    assert role("Backend Engineer", ["python"], description) is None


def test_two_hints_make_evidence():
    assert role(description="We use Kafka and Airflow for the nightly jobs.") == "data"
    assert role(description="We use Kafka for some background jobs.") is None


def test_description_counts_and_then_precedence():
    # api 4 (REST APIs, public API) against data 2 (data pipelines): counts decide.
    both = "You'll build REST APIs and our public API, next to the team that owns the data pipelines."
    assert role(description=both) == "api"
    # api 2 against data 2: the more specific role wins.
    tie = "You'll build REST APIs next to the team that owns the data pipelines."
    assert role(description=tie) == "data"


def test_a_repeated_word_counts_once():
    assert role(description="Kafka here, Kafka there, Kafka everywhere.") is None


def test_only_the_start_of_a_long_description_is_read():
    filler = "We care about code review and kind feedback. " * (DESCRIPTION_CAP // 45 + 1)
    assert role(description=filler + "You will own our data pipelines.") is None
    assert role(description="You will own our data pipelines. " + filler) == "data"


# -- employer type from the description and the company -------------------------------------------------

@pytest.mark.parametrize("description, expected", [
    ("Fernhill is a Series B fintech with 80 people across Europe.", "startup"),
    ("We're a seed-stage team of six building tools for bookkeepers.", "startup"),
    ("We are a venture-backed startup on a mission to fix clinical trials.", "startup"),
    ("Fernhill is an early-stage startup; you'd be one of our first engineers.", "startup"),
    ("We raised a $14M round last spring and are hiring our second backend engineer.", "startup"),
    ("Join us as a founding engineer.", "startup"),
    ("Fresh from our Series D, we are growing the platform team to 40.", "scaleup"),
    ("We're a pre-IPO company with offices in Lisbon and Austin.", "scaleup"),
    ("Fernhill is a profitable scale-up of about 600 people.", "scaleup"),
    ("Fernhill is a Fortune 500 company and a household name in insurance.", "enterprise"),
    ("Fernhill (NASDAQ: FRNH) builds logistics software used in 30 countries.", "enterprise"),
    ("As a publicly traded company we take security seriously.", "enterprise"),
    ("With more than 10,000 employees worldwide, Fernhill runs payroll for half the country.", "enterprise"),
    ("We are a digital agency building web and mobile products for our clients.", "agency"),
    ("Fernhill is a remote-first consultancy; you'll join long-running client engagements.", "agency"),
    ("We are a software house of 40 engineers working on client projects in retail and health.", "agency"),
    ("We're a boutique agency that builds backends for startups and scale-ups.", "agency"),
])
def test_employer_type_from_description(description, expected):
    assert employer(description) == expected


@pytest.mark.parametrize("description", [
    "We build a time series database for factories.",
    "Time-series data from 2 million sensors lands in our pipelines every minute.",
    "Fernhill makes booking software for travel agencies and tour operators.",
    "We are a travel agency with a small in-house tech team.",
    "We are a recruitment agency hiring for our client, a well-known retailer.",
    "Our customers include Fortune 500 companies and fast-growing startups.",
    "We sell to enterprise customers in banking and insurance.",
    "Experience at a startup is a plus.",
    "This is a fast-paced role with a startup mindset inside a large group.",
    "Fernhill makes invoicing software for small agencies and freelancers.",
    "Our platform helps restaurants manage orders.",
    "We help publicly traded companies file their reports.",
    "Our clients love us.",  # one hint is not enough
    None,
])
def test_false_friends_stay_unknown(description):
    assert employer(description) is None


def test_agency_from_the_company_name():
    assert employer("You will build backends in Python.", company="Northmere Consulting") == "agency"
    assert employer("You will build backends in Python.", company="Brightline Software House") == "agency"
    assert employer("You will build backends in Python.", company="Talent Scout Recruitment Consultants") is None


def test_employer_precedence_on_equal_evidence():
    # The agency describing itself wins over the funding stage of the clients it names.
    assert employer("We are a consultancy working with Series B startups.") == "agency"
    # A later stage wins over an earlier one.
    listed = "Fernhill closed its seed round in 2009 and has been publicly traded since 2021."
    assert employer(listed) == "enterprise"
    assert employer("After our Series A in 2019 we closed a Series D this spring.") == "scaleup"


# -- raw values and aliases -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("api", "api"), ("API", "api"), ("Backend API", "api"), ("APIs & microservices", "api"),
    ("Microservices", "api"), ("data", "data"), ("Data Engineering", "data"), ("data-heavy", "data"),
    ("ML Platform", "data"), ("Big Data", "data"), ("platform", "platform"), ("Infrastructure", "platform"),
    ("DevOps/Platform", "platform"), ("SRE", "platform"), ("Platform & Infrastructure", "platform"),
])
def test_raw_role_type_wins(raw, expected):
    # The title and description point elsewhere; the board's own field wins.
    other = "platform" if expected != "platform" else "data"
    title = {"platform": "Platform Engineer", "data": "Data Engineer"}[other]
    assert role(title, ["terraform"], "You will own our data pipelines.", raw=raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("startup", "startup"), ("Start-up", "startup"), ("Venture-backed startup", "startup"),
    ("Series B", "startup"), ("seed", "startup"), ("scaleup", "scaleup"), ("scale-up", "scaleup"),
    ("Scale-Up", "scaleup"), ("Series D", "scaleup"), ("late-stage", "scaleup"), ("enterprise", "enterprise"),
    ("Fortune 500", "enterprise"), ("Corporate", "enterprise"), ("Publicly traded", "enterprise"),
    ("agency", "agency"), ("Agency/Consultancy", "agency"), ("Consulting", "agency"), ("Software house", "agency"),
])
def test_raw_employer_type_wins(raw, expected):
    description = "We are a digital agency." if expected != "agency" else "We are a Series B startup."
    assert employer(description, raw=raw) == expected


@pytest.mark.parametrize("raw", ["", "  ", "n/a", "N/A", "Unknown", "other", "-"])
def test_unstated_raw_values_are_inferred(raw):
    assert role("Senior Data Engineer", raw=raw) == "data"
    assert employer("We're a seed-stage team of six.", raw=raw) == "startup"


def test_raw_backend_says_nothing_about_the_kind_of_role():
    assert role("Site Reliability Engineer", raw="Backend") == "platform"
    assert role("Backend Engineer", raw="Software Engineering") is None


def test_unknown_raw_role_type_names_the_allowed_values():
    with pytest.raises(NormaliseError) as err:
        role("Senior Data Engineer", raw="Frontend")
    assert str(err.value) == "unknown role type 'Frontend'; allowed: api, data, platform"


def test_unknown_raw_employer_type_names_the_allowed_values():
    with pytest.raises(NormaliseError) as err:
        employer("We are a Series B startup.", raw="Non-profit")
    assert str(err.value) == "unknown employer type 'Non-profit'; allowed: startup, scaleup, enterprise, agency"


def test_every_raw_value_in_the_sample_is_known():
    seen = set()
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        seen.add((role_type(rec.get("role_type"), rec["title"], [], None, TAXONOMY),
                  employer_type(rec.get("employer_type"), rec["company"], None, TAXONOMY)))
    assert {r for r, _ in seen} == {"api", "data", "platform"}
    assert {e for _, e in seen} == {"startup", "scaleup", "enterprise", "agency"}


# -- the taxonomy section -------------------------------------------------------------------------------

def test_taxonomy_types_and_labels():
    assert TAXONOMY.role_types == ("api", "data", "platform")
    assert TAXONOMY.employer_types == ("startup", "scaleup", "enterprise", "agency")
    assert TAXONOMY.role_type_labels["platform"] == "Platform & infrastructure"
    assert TAXONOMY.employer_type_labels["scaleup"] == "Scale-up"
    assert TAXONOMY.role_type_evidence.order == ("data", "platform", "api")
    assert TAXONOMY.employer_type_evidence.order == ("agency", "enterprise", "scaleup", "startup")


@pytest.mark.parametrize("old, new, message", [
    ('[role_types.data]\nlabel = "Data-heavy"\n', "[role_types.data]\n",
     "role_types.data.label must be a non-empty string"),
    ('title_words = ["Data Engineer"', 'titel_words = ["Data Engineer"',
     "role_types.data.titel_words: unknown key; allowed: label, aliases, title_words"),
    ('order = ["data", "platform", "api"]', 'order = ["data", "api"]',
     "role_type_inference.order must list each of api, data, platform once"),
    ('order = ["agency", "enterprise", "scaleup", "startup"]',
     'order = ["agency", "agency", "scaleup", "startup"]',
     "employer_type_inference.order must list each of startup, scaleup, enterprise, agency once"),
    ('description_hints = ["Kafka"', 'description_hints = ["REST APIs", "Kafka"',
     "role_types.data.description_hints: 'REST APIs' already counts for api"),
    ('ignore = ["video streaming"', 'ignore = ["data pipelines", "video streaming"',
     "role_type_inference.ignore: 'data pipelines' already counts for data"),
    ('aliases = ["data", "data heavy"', 'aliases = ["data", "devops", "data heavy"',
     "role_types.platform.aliases: 'devops' already means data"),
    ('"private", "private company"', '"private", "consulting"',
     "employer_type_inference.unstated: 'consulting' is also an alias of agency"),
    ("'nasdaq\\s*:\\s*[a-z]{1,5}(?!\\w)'", "'nasdaq\\s*:\\s*([a-z]{1,5}'",
     "employer_types.enterprise.description_patterns: bad regular expression"),
    ("'nasdaq\\s*:\\s*[a-z]{1,5}(?!\\w)'", "'NASDAQ\\s*:\\s*[A-Z]{1,5}'",
     "employer_types.enterprise.description_patterns: 'NASDAQ\\\\s*:\\\\s*[A-Z]{1,5}' has capitals"),
    ('company_words = ["Consulting"', 'company_words = [42, "Consulting"',
     "employer_types.agency.company_words must be a list of non-empty strings"),
    ("[employer_type_inference]", "[employer_type_rules]", "[employer_type_inference] must be a non-empty table"),
    ("[employer_types.agency]", "[[employer_types.agency]]", "[employer_types.agency] must be a table"),
])
def test_malformed_facet_section_is_a_config_error(tmp_path, old, new, message):
    for sibling in DEFAULT_PATH.parent.glob("*.toml"):  # files the taxonomy refers to (rates) come along
        shutil.copy(sibling, tmp_path / sibling.name)
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "taxonomy.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
