#!/usr/bin/env python3
"""Generate the demo's sample data: listings.jsonl and subscribers.csv.

Standalone, standard library only, seeded with random.Random(2026): running it twice writes
byte-identical files. The outputs are committed; the demo never regenerates them.

    python digest/sample/make_sample.py            # write both files next to this script
    python digest/sample/make_sample.py --check    # only validate the committed files, print a summary

Everything here is invented: companies, people, listings. Emails use example domains only.

The demo week: the demo runs at NOW = 2026-11-23T23:00:00Z (a Monday). About 85% of verified listings
were verified between 2026-11-16T23:00Z and 2026-11-23T22:00Z, about 10% in October / early November
(outside the first-digest window), a few just before the window edge. Some listings expire before NOW,
about 10% are not verified, and four are reposts (same company + same title, new id, later dates).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
LISTINGS_PATH = HERE / "listings.jsonl"
SUBSCRIBERS_PATH = HERE / "subscribers.csv"

SEED = 2026
UTC = timezone.utc
NOW = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
WINDOW_START = NOW - timedelta(days=7)  # 2026-11-16T23:00Z
WINDOW_END = NOW - timedelta(hours=1)  # 2026-11-23T22:00Z

N_LISTINGS = 352  # before reposts
N_SUBSCRIBERS = 320

RAW_LEVELS = ("Senior", "Mid-Senior level", "Entry level", "Mid level", "Staff", "Internship", "Junior")

# --------------------------------------------------------------------------------------------------
# Companies: (name, employer_type, home location group, house stacks)
# Location groups are keys of LOCATIONS below. All names are invented.
# --------------------------------------------------------------------------------------------------
COMPANIES: list[tuple[str, str, str, tuple[str, ...]]] = [
    # venture-backed startups
    ("Ledgerly", "startup", "us", ("python", "go")),
    ("Quillstack", "startup", "worldwide", ("node",)),
    ("Brightbill", "startup", "europe", ("python",)),
    ("Parcelwise", "startup", "us", ("go",)),
    ("Cobaltline", "startup", "americas", ("go", "rust")),
    ("Fennel Health", "startup", "us", ("python",)),
    ("Kitewire", "startup", "worldwide", ("node", "go")),
    ("Orbitnest", "startup", "europe", ("elixir",)),
    ("Stackmoor", "startup", "uk", ("python",)),
    ("Pollenpay", "startup", "latam", ("java", "kotlin")),
    ("Hearthly", "startup", "us", ("ruby",)),
    ("Driftcode", "startup", "worldwide", ("rust",)),
    ("Mossgate", "startup", "europe", ("go",)),
    ("Lumaflow", "startup", "us", ("node",)),
    ("Cinderbox", "startup", "canada", ("python",)),
    ("Tessellate Labs", "startup", "us", ("scala", "python")),
    ("Waymark Bio", "startup", "us", ("python",)),
    ("Glimmerdesk", "startup", "worldwide", ("node",)),
    ("Junebug Finance", "startup", "us", ("java",)),
    ("Saltmarsh Security", "startup", "europe", ("go", "rust")),
    ("Outpost Freight", "startup", "americas", ("node",)),
    ("Pinecrest Data", "startup", "us", ("python", "scala")),
    ("Velvetrun", "startup", "europe", ("kotlin",)),
    ("Copperkite", "startup", "asia", ("go",)),
    ("Quietfox", "startup", "worldwide", ("elixir",)),
    ("Señal Labs", "startup", "latam", ("node", "python")),
    ("Nørdlys Data", "startup", "europe", ("python",)),
    ("Zestline", "startup", "us", ("ruby",)),
    ("Halcyon Routing", "startup", "us", ("go",)),
    ("Tumbleweed Payroll", "startup", "americas", ("python",)),
    ("Plinth AI", "startup", "worldwide", ("python",)),
    ("Grainhouse", "startup", "oceania", ("node",)),
    ("Wickerbyte", "startup", "europe", ("php",)),
    ("Ampersand Health", "startup", "us", ("python", "go")),
    ("Kudu Mobile Money", "startup", "africa", ("java", "node")),
    ("Oasisline", "startup", "middle-east", ("python",)),
    # scale-ups
    ("Northwind Analytics", "scale-up", "us", ("python", "go")),
    ("Brassica Commerce", "scale-up", "europe", ("php", "go")),
    ("Meridian Loop", "scale-up", "us", ("java",)),
    ("Fieldnote", "scale-up", "worldwide", ("ruby",)),
    ("Harborlight Insurance", "scale-up", "us", ("java", "kotlin")),
    ("Skylark Mobility", "scale-up", "europe", ("kotlin", "java")),
    ("Graniteworks", "scale-up", "us", ("go",)),
    ("Beacon Payroll", "scale-up", "uk", ("csharp",)),
    ("Kelpie Logistics", "scale-up", "oceania", ("go",)),
    ("Stratus Ledger", "scale-up", "us", ("go", "python")),
    ("Openfield Learning", "scale-up", "americas", ("ruby",)),
    ("Marigold Travel", "scale-up", "europe", ("java",)),
    ("Ironleaf", "scale-up", "us", ("node",)),
    ("Wavecrest Energy", "scale-up", "uk", ("python",)),
    ("Foxglove Retail Cloud", "scale-up", "europe", ("node", "php")),
    ("Bluefinch", "scale-up", "worldwide", ("node",)),
    ("Larkspur Legal", "scale-up", "us", ("csharp",)),
    ("Canopy Claims", "scale-up", "canada", ("java",)),
    ("Everbright Health", "scale-up", "us", ("python",)),
    ("Windrose Maps", "scale-up", "europe", ("cpp", "rust")),
    ("Café Systèmes", "scale-up", "europe", ("python", "go")),
    ("Paloma Pagos", "scale-up", "latam", ("go", "java")),
    ("Tanager Telematics", "scale-up", "asia", ("java",)),
    ("Quokka Commerce", "scale-up", "oceania", ("php", "node")),
    # enterprises
    ("Hollister-Grange Insurance Group", "enterprise", "us", ("java",)),
    ("Continental Ledger Bank", "enterprise", "us", ("java", "csharp")),
    ("Amberfield Retail Holdings", "enterprise", "uk", ("csharp",)),
    ("Norland Telecom", "enterprise", "europe", ("java",)),
    ("Vantage Mutual", "enterprise", "us", ("csharp",)),
    ("Crestmark Logistics", "enterprise", "americas", ("java",)),
    ("Greystone Health Systems", "enterprise", "us", ("java", "python")),
    ("Pemberton Media Group", "enterprise", "uk", ("node", "python")),
    ("Atlas Meridian Airlines", "enterprise", "europe", ("java", "cpp")),
    ("Royal Thornbury Assurance", "enterprise", "uk", ("java",)),
    ("Kessler-Voight Industrial", "enterprise", "europe", ("cpp", "csharp")),
    ("Union Prairie Rail", "enterprise", "us", ("java",)),
    ("Northbridge Consolidated Freight & Logistics Technology Services International", "enterprise", "us",
     ("java", "kotlin")),
    ("Sunvale Energy Corp", "enterprise", "asia", ("python", "java")),
    ("Maplestone Financial", "enterprise", "canada", ("java", "scala")),
    ("Osterhaven Shipping", "enterprise", "europe", ("scala",)),
    ("Baobab Telecom Group", "enterprise", "africa", ("java",)),
    # agencies
    ("Fox & Finch Digital", "agency", "uk", ("node", "php")),
    ("Bramble & Oak", "agency", "europe", ("python", "ruby")),
    ('The "Good Enough" Software Co.', "agency", "worldwide", ("node", "ruby")),
    ("Pixelforge Studio", "agency", "latam", ("node",)),
    ("Loop & Lantern", "agency", "europe", ("elixir", "ruby")),
    ("Kestrel Consulting", "agency", "us", ("csharp", "java")),
    ("Byteweave Agency", "agency", "asia", ("php", "node")),
    ("Tall Pines Digital", "agency", "canada", ("ruby",)),
    ("O'Malley Dev Partners", "agency", "americas", ("python",)),
    ("Bitwise Collective", "agency", "worldwide", ("go", "node")),
    ("Greenroom Labs", "agency", "latam", ("python", "node")),
    ("Halftone Works", "agency", "europe", ("php",)),
    ("Monarch Code Partners", "agency", "us", ("node",)),
    ("Sable & Sons Software", "agency", "uk", ("ruby", "python")),
]

# What each company does, for the first sentence of the description. Startups and scale-ups: a product
# ("builds ..."); enterprises: a line of business ("its ... business"); agencies: client sectors.
PRODUCT = {
    "Ledgerly": "invoicing and bookkeeping for small agencies", "Quillstack": "a collaborative API documentation tool",
    "Brightbill": "usage-based billing for SaaS companies", "Parcelwise": "an API for shipping labels and tracking",
    "Cobaltline": "low-latency market data feeds", "Fennel Health": "patient intake and e-prescriptions",
    "Kitewire": "webhooks and event delivery as a service", "Orbitnest": "real-time chat for online communities",
    "Stackmoor": "a developer-first feature flag service", "Pollenpay": "instant payouts for gig workers",
    "Hearthly": "property management for small landlords", "Driftcode": "a WebAssembly edge runtime",
    "Mossgate": "secrets management for engineering teams", "Lumaflow": "customer support automation",
    "Cinderbox": "observability for data pipelines", "Tessellate Labs": "a streaming feature store for ML teams",
    "Waymark Bio": "lab data management for biotech companies", "Glimmerdesk": "a help desk for remote IT teams",
    "Junebug Finance": "savings accounts for teenagers and their parents",
    "Saltmarsh Security": "fraud and bot detection for online stores", "Outpost Freight": "a freight brokerage platform",
    "Pinecrest Data": "a warehouse-native analytics API", "Velvetrun": "hotel distribution and booking",
    "Copperkite": "cross-border payments for Southeast Asian merchants", "Quietfox": "privacy-friendly web analytics",
    "Señal Labs": "messaging APIs for Latin American businesses", "Nørdlys Data": "carbon accounting for manufacturers",
    "Zestline": "online ordering for independent restaurants", "Halcyon Routing": "last-mile delivery routing",
    "Tumbleweed Payroll": "payroll for hourly workers", "Plinth AI": "document extraction for accounting firms",
    "Grainhouse": "inventory software for craft breweries", "Wickerbyte": "a hosted e-commerce platform for makers",
    "Ampersand Health": "care coordination for home-health nurses",
    "Kudu Mobile Money": "mobile money and merchant payments", "Oasisline": "Arabic-first HR and payroll software",
    "Northwind Analytics": "product analytics for B2B software", "Brassica Commerce": "a headless commerce platform",
    "Meridian Loop": "claims processing APIs for insurers", "Fieldnote": "scheduling software for field service teams",
    "Harborlight Insurance": "small-business insurance bought online", "Skylark Mobility": "scooter and e-bike sharing",
    "Graniteworks": "construction project management", "Beacon Payroll": "payroll and pensions for UK employers",
    "Kelpie Logistics": "fleet tracking for regional carriers", "Stratus Ledger": "cross-border payouts for freelancers",
    "Openfield Learning": "a learning platform for frontline staff", "Marigold Travel": "package holidays and trip planning",
    "Ironleaf": "contract management for legal teams", "Wavecrest Energy": "smart tariffs and home battery control",
    "Foxglove Retail Cloud": "point-of-sale and stock software for retailers", "Bluefinch": "a newsletter and membership platform",
    "Larkspur Legal": "case management for law firms", "Canopy Claims": "insurance claims automation",
    "Everbright Health": "virtual physiotherapy", "Windrose Maps": "maps, routing and geocoding APIs",
    "Café Systèmes": "ordering and payments for cafés and bakeries", "Paloma Pagos": "card acquiring for Latin American merchants",
    "Tanager Telematics": "telematics for delivery fleets", "Quokka Commerce": "marketplace integrations for online sellers",
    "Hollister-Grange Insurance Group": "commercial insurance", "Continental Ledger Bank": "retail and business banking",
    "Amberfield Retail Holdings": "grocery and home-goods retail", "Norland Telecom": "mobile and broadband",
    "Vantage Mutual": "life insurance and pensions", "Crestmark Logistics": "freight forwarding and warehousing",
    "Greystone Health Systems": "hospital and clinic", "Pemberton Media Group": "news and streaming media",
    "Atlas Meridian Airlines": "airline", "Royal Thornbury Assurance": "home and motor insurance",
    "Kessler-Voight Industrial": "industrial automation", "Union Prairie Rail": "rail freight",
    "Northbridge Consolidated Freight & Logistics Technology Services International": "freight and logistics",
    "Sunvale Energy Corp": "solar and grid energy", "Maplestone Financial": "wealth management",
    "Osterhaven Shipping": "container shipping", "Baobab Telecom Group": "mobile network and mobile money",
    "Fox & Finch Digital": "retail and media", "Bramble & Oak": "fintech and healthcare",
    'The "Good Enough" Software Co.': "early-stage startups", "Pixelforge Studio": "e-commerce and travel",
    "Loop & Lantern": "public-sector and non-profit services", "Kestrel Consulting": "insurance and banking",
    "Byteweave Agency": "e-commerce and logistics", "Tall Pines Digital": "education and non-profits",
    "O'Malley Dev Partners": "healthcare and insurance", "Bitwise Collective": "developer tools and fintech",
    "Greenroom Labs": "media and entertainment", "Halftone Works": "publishing and retail",
    "Monarch Code Partners": "real estate and fintech", "Sable & Sons Software": "legal and professional services",
}

# --------------------------------------------------------------------------------------------------
# Locations: group -> [(raw text, weight)], plus the currency choices and pay multiplier of the group.
# --------------------------------------------------------------------------------------------------
LOCATIONS: dict[str, list[tuple[str, int]]] = {
    "us": [("Remote - US only", 8), ("USA timezones", 3), ("Austin, TX (remote OK)", 2), ("Remote (US)", 4),
           ("United States (Remote)", 2), ("Remote - US (EST/CST preferred)", 2), ("New York, NY or Remote US", 2),
           ("Denver, CO / Remote", 1), ("Seattle, WA (remote OK)", 1)],
    "americas": [("Americas", 3), ("Northern America", 2), ("Remote — US or Canada", 2),
                 ("Remote, North or South America", 1), ("UTC-8 to UTC-3", 1)],
    "canada": [("Toronto, ON / Remote Canada", 3), ("Remote, Canada", 3), ("Vancouver, BC (remote)", 1),
               ("Montréal, QC / Remote", 1)],
    "latam": [("Latin America", 3), ("Remote (LATAM)", 3), ("Remote — Europe or LATAM", 2),
              ("São Paulo, Brazil / Remote", 1), ("Buenos Aires or Remote LATAM", 1), ("Remote - Mexico", 1)],
    "europe": [("Remote (EMEA)", 4), ("CET +/- 3 HOURS", 3), ("UTC-1 to UTC+3", 3), ("🇩🇪 🇳🇱 🇵🇱", 1),
               ("Remote, Europe", 4), ("Berlin, Germany (remote)", 1), ("Remote - EU only", 2), ("🇪🇸 🇵🇹 🇫🇷", 1),
               ("Amsterdam / Remote within Europe", 1), ("Warsaw, Poland / Remote", 1), ("EMEA", 2)],
    "uk": [("London, UK", 3), ("Remote (UK)", 3), ("United Kingdom", 1), ("Manchester, UK / Remote", 1),
           ("UK or Ireland", 1)],
    "asia": [("APAC", 3), ("Remote, India", 3), ("Bengaluru, India / Remote", 2), ("Singapore (remote)", 1),
             ("Asia-Pacific timezones (UTC+5:30 to UTC+9)", 1), ("Remote - Philippines", 1)],
    "oceania": [("Sydney, Australia", 3), ("Remote - Australia / NZ", 2), ("Melbourne, VIC (remote OK)", 1),
                ("Auckland, New Zealand", 1)],
    "africa": [("Lagos, Nigeria (remote)", 2), ("Remote — Africa", 2), ("Nairobi, Kenya / Remote", 1),
               ("Cape Town, South Africa or remote", 1)],
    "middle-east": [("Dubai, UAE (remote)", 2), ("Remote - MENA", 1), ("Middle East (GST ± 2h)", 1)],
    "worldwide": [("Anywhere", 3), ("Worldwide", 4), ("Remote", 3), ("Remote (Worldwide)", 2),
                  ("Anywhere in the world", 1), ("Global / fully remote", 1)],
}
LOCATION_GROUP_WEIGHTS = {"us": 30, "americas": 6, "canada": 4, "latam": 6, "europe": 20, "uk": 7, "asia": 5,
                          "oceania": 3, "africa": 2, "middle-east": 1, "worldwide": 14}
# multiplier on US pay, currencies with weights, usual posting offset
GROUP_PAY = {
    "us": ((1.0, 1.0), [("USD", 1)], ["-05:00", "-06:00", "-08:00"]),
    "americas": ((0.8, 1.0), [("USD", 1)], ["-05:00", "-08:00", "-03:00"]),
    "canada": ((0.45, 0.6), [("CAD", 3), ("USD", 1)], ["-05:00", "-08:00"]),
    "latam": ((0.4, 0.55), [("USD", 1)], ["-03:00", "-06:00"]),
    "europe": ((0.38, 0.52), [("EUR", 5), ("USD", 1)], ["+01:00", "+02:00"]),
    "uk": ((0.45, 0.6), [("GBP", 1)], ["+00:00"]),
    "asia": ((0.4, 0.5), [("USD", 1)], ["+05:30", "+08:00"]),
    "oceania": ((0.45, 0.55), [("AUD", 3), ("USD", 1)], ["+11:00", "+13:00"]),
    "africa": ((0.4, 0.5), [("USD", 1)], ["+01:00", "+03:00"]),
    "middle-east": ((0.5, 0.65), [("USD", 1)], ["+04:00"]),
    "worldwide": ((0.55, 0.8), [("USD", 4), ("EUR", 1)], ["+00:00", "-05:00", "+01:00"]),
}
# USD -> currency, November 2026 (approximate, for plausible numbers only)
FX = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.38, "AUD": 1.53}
SYMBOLS = {"USD": ["$"], "EUR": ["€"], "GBP": ["£"], "CAD": ["CA$", "C$"], "AUD": ["A$", "AU$"]}

# US annual pay band (thousands) per level: (low range for the minimum, cap for the maximum)
US_BAND = {"intern": ((65, 80), 95), "junior": ((80, 100), 120), "mid": ((140, 180), 220),
           "senior": ((220, 270), 350), "lead": ((250, 310), 400)}

# --------------------------------------------------------------------------------------------------
# Stacks
# --------------------------------------------------------------------------------------------------
STACK_WEIGHTS = {"python": 24, "go": 17, "node": 18, "java": 14, "ruby": 6, "php": 5, "csharp": 5,
                 "kotlin": 3, "rust": 3, "scala": 2, "elixir": 2, "cpp": 1.5}
RAW_TAGS = {
    "python": [("Python", 5), ("python", 3), ("Python3", 2), ("python 3", 1)],
    "go": [("golang", 4), ("Go", 4), ("Golang", 2), ("go", 1)],
    "node": [("node.js", 3), ("NodeJS", 2), ("Node", 2), ("TypeScript", 3), ("Node.js", 2)],
    "java": [("Java", 5), ("Java/Spring", 2), ("java 17", 1)],
    "ruby": [("ruby/rails", 2), ("Ruby on Rails", 3), ("Ruby", 3), ("RoR", 1)],
    "php": [("PHP", 4), ("php8", 1)],
    "csharp": [("C#", 4), (".NET Core", 2), ("dotnet", 1), ("C# / .NET", 1)],
    "kotlin": [("Kotlin", 4), ("kotlin", 1)],
    "rust": [("Rust", 4), ("rust-lang", 1)],
    "scala": [("Scala", 4), ("scala 2.13", 1)],
    "elixir": [("Elixir", 4), ("elixir/phoenix", 1)],
    "cpp": [("C Plus Plus", 2), ("C++", 4), ("cpp", 1)],
}
FRAMEWORK_TAGS = {
    "python": ["django", "Django", "FastAPI", "Flask", "Celery"], "go": ["gRPC", "gin"],
    "node": ["NestJS", "Express", "TypeScript", "GraphQL"], "java": ["Spring Boot", "Spring", "Hibernate"],
    "ruby": ["Rails", "Sidekiq"], "php": ["Laravel", "Symfony"], "csharp": ["ASP.NET Core", "Entity Framework"],
    "kotlin": ["Ktor", "Spring Boot"], "rust": ["Tokio", "Axum"], "scala": ["Akka", "Play", "Spark"],
    "elixir": ["Phoenix", "Ecto"], "cpp": ["Boost", "CMake"],
}
INFRA_TAGS = {
    "api": ["postgres", "PostgreSQL", "aws", "AWS", "Redis", "REST", "gRPC", "Docker", "MySQL", "GraphQL",
            "kafka", "GCP", "microservices"],
    "data": ["kafka", "Kafka", "PostgreSQL", "Snowflake", "Airflow", "Spark", "dbt", "BigQuery", "ClickHouse",
             "aws", "S3"],
    "platform": ["kubernetes", "Kubernetes", "k8s", "Terraform", "aws", "AWS", "GCP", "Docker", "Prometheus",
                 "ArgoCD", "Linux"],
}
# Plausible second languages on one listing.
COMPANION = {
    "python": ["go", "go", "node", "rust"], "go": ["python", "node", "rust"], "node": ["go", "python"],
    "java": ["kotlin", "kotlin", "scala", "go"], "ruby": ["go", "node", "elixir"], "php": ["node", "go"],
    "csharp": ["node", "go"], "kotlin": ["java"], "rust": ["go", "python", "cpp"], "scala": ["java", "python"],
    "elixir": ["ruby", "go"], "cpp": ["rust", "python"],
}
TITLE_LANG = {
    "python": ["Python"], "go": ["Go", "Go", "Golang"], "node": ["Node.js", "Node.js/TypeScript", "TypeScript"],
    "java": ["Java", "Java/Spring"], "ruby": ["Ruby", "Ruby on Rails", "Rails"], "php": ["PHP", "PHP/Laravel"],
    "csharp": ["C#/.NET", ".NET", "C#"], "kotlin": ["Kotlin"], "rust": ["Rust"], "scala": ["Scala"],
    "elixir": ["Elixir", "Elixir/Phoenix"], "cpp": ["C++"],
}
TITLE_FRAMEWORK = {
    "python": ["Django", "FastAPI", "Flask"], "go": ["gRPC"], "node": ["NestJS", "Express"],
    "java": ["Spring Boot"], "ruby": ["Rails"], "php": ["Laravel", "Symfony"], "csharp": ["ASP.NET Core"],
    "kotlin": ["Spring Boot", "Ktor"], "rust": ["Tokio"], "scala": ["Akka"], "elixir": ["Phoenix"],
    "cpp": ["Linux"],
}
LANG_PROSE = {
    "python": "Python", "go": "Go", "node": "Node.js and TypeScript", "java": "Java and Spring Boot",
    "ruby": "Ruby on Rails", "php": "PHP (Laravel)", "csharp": "C# and .NET", "kotlin": "Kotlin",
    "rust": "Rust", "scala": "Scala", "elixir": "Elixir and Phoenix", "cpp": "modern C++",
}

TEAMS = {
    "api": ["Payments API", "Checkout", "Public API", "Integrations", "Identity & Access", "Billing",
            "Partner APIs", "Core Services", "Notifications", "Search", "Orders", "Onboarding"],
    "data": ["Data Infrastructure", "Data Platform", "Ingestion", "Analytics", "Streaming", "Data Engineering",
             "Warehouse", "ML Platform", "Reporting"],
    "platform": ["Platform", "Developer Experience", "Infrastructure", "Reliability", "Cloud Platform",
                 "Internal Tools", "Runtime", "Build & Release"],
}

# Title templates per level. {L} language, {T} team, {F} framework. Templates without {L} need tags.
TITLES = {
    "intern": ["Backend Engineering Intern (Summer 2027)", "Software Engineering Intern – Backend ({L})",
               "{L} Backend Intern", "Intern, Backend Engineering ({T})", "Software Engineer Intern, {T} (Summer 2027)"],
    "junior": ["Junior Backend Developer ({L})", "New Grad Software Engineer – Backend", "New Grad Backend Engineer ({L})",
               "Junior {L} Developer", "Software Engineer I, {T}", "Junior Software Engineer, {T}",
               "Associate Backend Engineer - {L}", "Jr. {L} Engineer"],
    "mid": ["Software Engineer II, {T}", "Backend Engineer ({L})", "{L} Developer", "Backend Developer ({L})",
            "Mid-Level {L} Engineer", "Software Engineer, {T}", "{L} Backend Engineer", "Backend Engineer II – {L}",
            "Software Engineer II ({L})"],
    "senior": ["Sr. Backend Engineer ({L})", "Senior {L} Developer - {F}", "Senior Software Engineer, {T}",
               "Senior Backend Engineer ({L})", "Sr {L} Engineer, {T}", "Senior Backend Developer – {L}",
               "Senior {L} Engineer"],
    "lead": ["Staff Backend Engineer ({L})", "Principal Engineer, {T}", "Staff Software Engineer, {T}",
             "Lead {L} Engineer", "Engineering Lead – {T}", "Backend Architect ({L})", "Principal {L} Engineer",
             "Tech Lead, {T} ({L})"],
}
ROLE_TITLES = {
    ("platform", "mid"): ["Platform Engineer ({L})", "Site Reliability Engineer ({L})", "Infrastructure Engineer"],
    ("platform", "senior"): ["Senior Platform Engineer", "Senior Site Reliability Engineer ({L})",
                             "Senior Infrastructure Engineer ({L})"],
    ("platform", "lead"): ["Staff Platform Engineer", "Principal Platform Engineer", "Staff Infrastructure Engineer ({L})"],
    ("data", "mid"): ["Data Engineer ({L})", "Backend Engineer, Data Platform", "Software Engineer, Data ({L})"],
    ("data", "senior"): ["Senior Data Engineer ({L})", "Senior Backend Engineer, Data Platform"],
    ("data", "lead"): ["Principal Engineer, Data Infrastructure", "Staff Data Engineer"],
    ("api", "mid"): ["Backend Engineer, {T}", "API Engineer ({L})"],
}
# Named titles for particular stacks (mid level, level not inferable from the words).
STACK_TITLES = {
    "ruby": ["Ruby on Rails Engineer"], "elixir": ["Elixir Developer"], "csharp": ["C#/.NET Backend Engineer"],
    "rust": ["Rust Systems Engineer"], "cpp": ["C++ Systems Engineer"], "php": ["PHP Developer (Laravel)"],
    "scala": ["Scala Engineer"], "node": ["Backend Developer (Node.js/TypeScript)"],
}

# Titles the demo should certainly show: (title, level, stack, role type, title names the language)
SHOWCASE = [
    ("Sr. Backend Engineer (Go)", "senior", "go", "api", True),
    ("Software Engineer II, Payments API", "mid", "python", "api", False),
    ("Senior Python Developer - Django", "senior", "python", "api", True),
    ("Staff Platform Engineer", "lead", "go", "platform", False),
    ("Backend Developer (Node.js/TypeScript)", "mid", "node", "api", True),
    ("New Grad Software Engineer – Backend", "junior", "java", "api", False),
    ("Ruby on Rails Engineer", "mid", "ruby", "api", True),
    ("Principal Engineer, Data Infrastructure", "lead", "scala", "data", False),
    ("Backend Engineering Intern (Summer 2027)", "intern", "python", "api", False),
    ("Elixir Developer", "mid", "elixir", "api", True),
    ("C#/.NET Backend Engineer", "mid", "csharp", "api", True),
    ("Rust Systems Engineer", "mid", "rust", "platform", True),
    ("Backend Developer (Kotlin)", "mid", "kotlin", "api", True),
    ("Senior PHP Developer - Laravel", "senior", "php", "api", True),
    ("C++ Systems Engineer", "senior", "cpp", "platform", True),
]
LEVEL_WEIGHTS = {"intern": 4, "junior": 12, "mid": 32, "senior": 36, "lead": 16}
RAW_LEVEL_FOR = {"intern": ["Internship"], "junior": ["Junior", "Entry level"], "mid": ["Mid level"],
                 "senior": ["Senior", "Senior", "Mid-Senior level"], "lead": ["Staff"]}
ROLE_WEIGHTS = {"api": 50, "data": 25, "platform": 25}


def wpick(rng: random.Random, pairs):
    """Weighted choice from [(value, weight), ...] or {value: weight}."""
    items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
    return rng.choices([v for v, _ in items], weights=[w for _, w in items])[0]


def ascii_fold(text: str) -> str:
    text = text.replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L").replace("ß", "ss")
    text = text.replace("æ", "ae").replace("ı", "i")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def slugify(text: str, max_words: int | None = None) -> str:
    words = re.findall(r"[a-z0-9]+", ascii_fold(text).lower().replace("&", " and "))
    if max_words:
        words = [w for w in words if w not in ("the", "and")][:max_words]
    return "-".join(words)


def norm_title(title: str) -> str:
    return " ".join(re.findall(r"[a-z0-9#+]+", title.lower()))


def iso(dt: datetime, style: str = "Z") -> str:
    """Board-style timestamps: Z, an explicit offset, or Z with milliseconds."""
    if style == "Z":
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "ms":
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    sign = 1 if style[0] == "+" else -1
    hours, minutes = int(style[1:3]), int(style[4:6])
    tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return dt.astimezone(tz).isoformat(timespec="seconds")


def random_time(rng: random.Random, start: datetime, end: datetime, weekend_weight: float = 0.3) -> datetime:
    """A time in [start, end], business-ish hours in UTC (US + Europe overlap), fewer at weekends."""
    hour_weights = [1, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 9, 10, 10, 10, 10, 9, 8, 7, 5, 4, 3, 2]
    while True:
        t = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
        if rng.random() > (weekend_weight if t.weekday() >= 5 else 1.0):
            continue
        if rng.random() * 10 > hour_weights[t.hour]:
            continue
        return t.replace(microsecond=rng.randrange(0, 1000) * 1000)


# --------------------------------------------------------------------------------------------------
# Listings
# --------------------------------------------------------------------------------------------------

def make_title(rng: random.Random, level: str, stacks: list[str], role: str, need_lang: bool) -> str:
    primary = stacks[0]
    choices = list(TITLES[level])
    if role != "platform" or primary in ("go", "python", "rust", "java", "kotlin", "cpp", "scala"):
        choices += ROLE_TITLES.get((role, level), []) * 2
    if level == "mid" and primary in STACK_TITLES:
        choices += STACK_TITLES[primary] * 2
    if need_lang:  # no language tags: the title must name the language
        choices = [c for c in choices if "{L}" in c or c in STACK_TITLES.get(primary, [])]
    template = rng.choice(choices)
    lang = rng.choice(TITLE_LANG[primary])
    if "{F}" in template:
        lang = TITLE_LANG[primary][0]
    elif len(stacks) > 1 and rng.random() < 0.35:
        lang = f"{TITLE_LANG[primary][0]}/{TITLE_LANG[stacks[1]][0]}"
    title = template.format(L=lang, T=rng.choice(TEAMS[role]), F=rng.choice(TITLE_FRAMEWORK[primary]))
    if "{F}" in template and primary == "go":
        title = title.replace(" - gRPC", " - gRPC APIs")
    return title


def make_stack_field(rng: random.Random, stacks: list[str], role: str):
    """The raw `stack` field and whether it is empty (the title must then carry the language)."""
    r = rng.random()
    if r < 0.22:
        return rng.choice([None, [], ""]), True
    thin = r < 0.27  # only infrastructure tags: the language must come from the title
    tags: list[str] = []
    if not thin:
        for s in stacks:
            tags.append(wpick(rng, RAW_TAGS[s]))
        if rng.random() < 0.55:
            fw = rng.choice(FRAMEWORK_TAGS[stacks[0]])
            if fw.lower() not in [t.lower() for t in tags]:
                tags.append(fw)
    infra = list(INFRA_TAGS[role])
    rng.shuffle(infra)
    same = {"postgresql": "postgres", "k8s": "kubernetes"}
    seen = {same.get(t.lower(), t.lower()) for t in tags}
    for t in infra[: rng.randint(1 if thin else 0, 3)]:
        canon = same.get(t.lower(), t.lower())
        if canon not in seen:
            tags.append(t)
            seen.add(canon)
    if rng.random() < 0.6:
        return tags, thin
    sep = rng.choice([", ", ", ", ", ", ",", " , "])
    return sep.join(tags), thin


def make_salary(rng: random.Random, level: str, group: str, employer: str) -> dict:
    """40% raw text, 20% structured, 40% none. Returns the fields to merge into the listing."""
    r = rng.random()
    if r < 0.40:
        return {}
    (lo_range, cap) = US_BAND[level]
    mult_lo, mult_hi = GROUP_PAY[group][0]
    mult = rng.uniform(mult_lo, mult_hi)
    currency = wpick(rng, GROUP_PAY[group][1])
    lo_usd = rng.uniform(*lo_range) * 1000
    hi_usd = min(lo_usd * rng.uniform(1.15, 1.4), cap * 1000)
    if hi_usd <= lo_usd * 1.05:
        hi_usd = lo_usd * 1.12
    lo = lo_usd * mult * FX[currency]
    hi = hi_usd * mult * FX[currency]

    # how the pay is expressed
    if level == "intern":
        period = rng.choice(["hour", "hour", "month"])
    elif employer == "agency":
        period = wpick(rng, [("year", 5), ("hour", 3), ("day", 2 if group in ("uk", "europe") else 0)])
    else:
        period = wpick(rng, [("year", 14), ("month", 2 if group in ("europe", "latam", "asia") else 0),
                             ("hour", 1), ("day", 1 if group in ("uk", "europe") else 0)])

    if period == "hour":
        lo_p, hi_p = round(lo / 2080), round(hi / 2080)
    elif period == "day":
        lo_p, hi_p = round(lo * 1.4 / 230 / 10) * 10, round(hi * 1.4 / 230 / 10) * 10  # contractor day rates
    elif period == "month":
        lo_p, hi_p = round(lo / 12 / 100) * 100, round(hi / 12 / 100) * 100
    else:
        lo_p, hi_p = round(lo / 1000) * 1000, round(hi / 1000) * 1000
    if hi_p <= lo_p:
        hi_p = lo_p + (5 if period == "hour" else 50 if period == "day" else 500 if period == "month" else 10000)

    if r < 0.60:  # structured
        return {"salary_min": lo_p, "salary_max": hi_p, "salary_currency": currency, "salary_period": period}

    # raw text
    if rng.random() < 0.07:
        return {"salary": rng.choice(["Competitive", "Competitive", "Competitive salary + equity", "DOE",
                                      "Competitive + stock options"])}
    sym = rng.choice(SYMBOLS[currency])
    dash = rng.choice(["-", "–", " - ", " – ", " to "])
    if period == "hour":
        text = rng.choice([f"{sym}{lo_p}-{hi_p}/hr", f"{sym}{lo_p}{dash}{sym}{hi_p} per hour",
                           f"{sym}{lo_p}-{sym}{hi_p}/hour", f"{currency} {lo_p}-{hi_p} hourly"])
    elif period == "day":
        text = rng.choice([f"{sym}{lo_p} – {sym}{hi_p} per day", f"{sym}{lo_p}-{hi_p}/day",
                           f"{sym}{lo_p}{dash}{hi_p} daily rate (outside IR35)" if currency == "GBP"
                           else f"{sym}{lo_p}{dash}{hi_p} per day"])
    elif period == "month":
        text = rng.choice([f"{sym}{lo_p:,} - {hi_p:,} per month", f"{sym}{lo_p:,}–{sym}{hi_p:,}/month",
                           f"{currency} {lo_p:,} - {hi_p:,} monthly", f"{sym}{lo_p:,} to {sym}{hi_p:,} a month"])
    else:
        lo_exact = round(lo / 100) * 100
        hi_exact = max(round(hi / 100) * 100, lo_exact + 5000)
        lo_k, hi_k = lo_p // 1000, hi_p // 1000
        text = wpick(rng, [
            (f"{sym}{lo_exact:,} – {sym}{hi_exact:,} {currency.lower()}", 3),
            (f"{sym}{lo_k}k - {sym}{hi_k}k", 4),
            (f"{sym}{lo_k}-{hi_k}k", 3),
            (f"{sym}{lo_k}k–{hi_k}k", 3),
            (f"{currency} {lo_p} - {hi_p}", 2),
            (f"{currency} {lo_p:,}{dash}{hi_p:,} per year", 2),
            (f"{sym}{lo_p:,} - {sym}{hi_p:,} a year + equity", 1),
            (f"{sym}{lo_k}K-{sym}{hi_k}K/yr", 1),
            (f"{lo_k}k-{hi_k}k {currency}", 1),
        ])
    return {"salary": text}


INTRO = {
    "startup": [
        "{c} is a {stage} startup building {p}.",
        "At {c} we build {p}; we raised our {stage} round this year and the team is {sn} people.",
        "{c} ({stage}, {sn} people) makes {p}.",
    ],
    "scale-up": [
        "{c} builds {p} for more than {k} businesses and is growing fast.",
        "{c} is a profitable scale-up of about {n} people working on {p}.",
        "Thousands of teams rely on {c} for {p}.",
    ],
    "enterprise": [
        "{c} is modernising the systems behind its {p} business with a fully remote engineering group.",
        "{c} is an established {p} company with a growing remote technology division.",
        "Our digital team at {c} is replacing legacy {p} platforms with cloud services.",
    ],
    "agency": [
        "{c} is a product studio of {n} engineers and designers working with clients in {p} and beyond.",
        "{c} builds and maintains backends for startups and larger clients, mostly in {p}.",
        "We are {c}, a remote-first consultancy; this role is on a long-running client engagement in {p}.",
    ],
}
ROLE_SENTENCE = {
    "api": [
        "You will design, build and operate services in {lang} that power our {t} area.",
        "The {t} team works in {lang} with PostgreSQL and a handful of well-tested microservices.",
        "You'll ship endpoints in {lang} used by partners and our own apps, and keep them fast and observable.",
    ],
    "data": [
        "You will build ingestion and streaming pipelines that move billions of events a month, in {lang}.",
        "The {t} team writes services and batch jobs in {lang} on Kafka, a warehouse and plenty of PostgreSQL.",
        "You'll own data-heavy backend services in {lang}, from schema design to query performance.",
    ],
    "platform": [
        "You will work on our Kubernetes platform, CI/CD and the internal tooling other teams build on, mostly in {lang}.",
        "The {t} team keeps deploys boring and services reliable; our tooling is written in {lang}.",
        "You'll build the paved road for every other engineer here: service templates, deploy pipelines and observability, in {lang}.",
    ],
}
LEVEL_SENTENCE = {
    "intern": [
        "This is a paid 12-week internship with a dedicated mentor; you should be enrolled in a degree or bootcamp program.",
        "Interns work on real production tickets and present a project at the end of the summer.",
    ],
    "junior": [
        "We welcome recent graduates and career changers, and you'll pair with a senior engineer for your first months.",
        "You have up to two years of experience and are keen to learn how production systems are run.",
    ],
    "mid": [
        "You have three or more years of shipping backend code to production and enjoy owning a service end to end.",
        "We are looking for someone comfortable with SQL, testing and code review who can work independently.",
    ],
    "senior": [
        "You have five or more years of backend experience and have led projects from design document to rollout.",
        "You will mentor other engineers, drive technical decisions in your area and be part of a light on-call rotation.",
    ],
    "lead": [
        "You'll set technical direction across several teams and mentor senior engineers.",
        "This is a hands-on leadership role: architecture, reviews and roughly half your time writing code.",
    ],
}
EXTRA_SENTENCE = [
    "We work async-first with a few hours of daily overlap.",
    "The hiring process is a short call, a paid take-home and a system design conversation.",
    "Benefits include a home-office budget, a learning stipend and 25 days of paid leave.",
    "We do not sponsor visas for this role.",
    "Salary is benchmarked by level, not by location within the listed region.",
    "You'll join a small team with a weekly planning call and very few meetings otherwise.",
    "Equipment is provided, and we meet in person twice a year.",
    "This is a full-time contractor position through an employer-of-record.",
]


def make_description(rng: random.Random, company: str, employer: str, product: str, role: str, level: str,
                     stacks: list[str], title: str) -> str:
    stage = rng.choice(["seed-stage", "Series A", "Series B", "Series A"])
    startup_size = {"seed-stage": [6, 9, 14, 20], "Series A": [18, 25, 32, 45], "Series B": [45, 70, 110, 150]}
    intro = rng.choice(INTRO[employer]).format(
        c=company, p=product, stage=stage, sn=rng.choice(startup_size[stage]),
        n=rng.choice([15, 25, 40, 60] if employer == "agency" else [180, 250, 400, 650]),
        k=rng.choice(["2,000", "5,000", "10,000", "800"]))
    lang = LANG_PROSE[stacks[0]] if len(stacks) == 1 else f"{LANG_PROSE[stacks[0]]}, plus some {LANG_PROSE[stacks[1]]}"
    # the team named in the title, if any, is the team in the description
    team = next((t for teams in TEAMS.values() for t in teams if t in title), rng.choice(TEAMS[role]))
    role_s = rng.choice(ROLE_SENTENCE[role]).format(lang=lang, t=team,
                                                    k=rng.choice(["80", "150", "300"]))
    parts = [intro, role_s, rng.choice(LEVEL_SENTENCE[level])]
    if rng.random() < 0.55:
        parts.append(rng.choice(EXTRA_SENTENCE))
    if rng.random() < 0.25:  # level sentence dropped on some: 2-4 sentences overall
        parts.pop(2)
    sep = "\n\n" if rng.random() < 0.12 else " "
    return sep.join(parts)


def make_url(rng: random.Random, company: str, careers_site: bool, title: str, n: int) -> str:
    if careers_site:
        host = f"careers.{slugify(company, max_words=2)}.example"
        return rng.choice([f"https://{host}/jobs/{n}-{slugify(title)}", f"https://{host}/o/{slugify(title)}-{n}",
                           f"https://{host}/positions/{n}?source=remote-board"])
    return rng.choice(["https://jobs.example.com/listings/{id}", f"https://jobs.example.com/l/{{id}}/{slugify(title)}",
                       "https://jobs.example.com/listings/{id}?utm_source=feed&utm_medium=rss"])


def build_listings(rng: random.Random) -> tuple[list[dict], dict]:
    company_info = {}
    for i, (name, employer, group, house) in enumerate(COMPANIES):
        company_info[name] = {
            "employer": employer, "group": group, "house": house,
            "product": PRODUCT[name],
            "careers_site": rng.random() < 0.5,
            "locations": [wpick(rng, LOCATIONS[group]) for _ in range(2)],
            "weight": min(rng.paretovariate(1.3), 6.0),
        }
    names = [c[0] for c in COMPANIES]
    weights = [company_info[n]["weight"] for n in names]

    # per-category target counts (verified window / old / near edge, unverified)
    kinds = ["window"] * 272 + ["old"] * 32 + ["edge"] * 13 + ["unverified"] * 35
    assert len(kinds) == N_LISTINGS
    rng.shuffle(kinds)

    pending_showcase = list(SHOWCASE)
    listings: list[dict] = []
    seen_titles: set[tuple[str, str]] = set()
    # every company posts at least once; the rest follow a long-tailed popularity
    company_seq = names + rng.choices(names, weights=weights, k=N_LISTINGS - len(names))
    rng.shuffle(company_seq)
    for kind, company in zip(kinds, company_seq):
        info = company_info[company]
        # stacks: mostly the house stack(s), otherwise the board-wide mix
        if rng.random() < 0.7:
            primary = rng.choice(info["house"])
        else:
            primary = wpick(rng, STACK_WEIGHTS)
        stacks = [primary]
        if rng.random() < 0.15:
            stacks.append(rng.choice(COMPANION[primary]))
        level = wpick(rng, LEVEL_WEIGHTS)
        if info["employer"] == "agency" and level == "intern":
            level = "junior"
        role = wpick(rng, ROLE_WEIGHTS)
        if primary in ("rust", "cpp") and rng.random() < 0.5:
            role = "platform"
        if primary == "scala" and rng.random() < 0.6:
            role = "data"

        showcase = next((sc for sc in pending_showcase if sc[2] in info["house"]), None) if kind == "window" else None
        if showcase:
            pending_showcase.remove(showcase)
            title, level, stacks, role, names_lang = showcase[0], showcase[1], [showcase[2]], showcase[3], showcase[4]
            stack_field, stack_thin = make_stack_field(rng, stacks, role)
            while stack_thin and not names_lang:
                stack_field, stack_thin = make_stack_field(rng, stacks, role)
            key = (company, norm_title(title))
        else:
            stack_field, stack_thin = make_stack_field(rng, stacks, role)
            for _ in range(50):
                title = make_title(rng, level, stacks, role, need_lang=stack_thin)
                key = (company, norm_title(title))
                if key not in seen_titles:
                    break
            else:
                continue
        seen_titles.add(key)
        if stack_thin:  # the importer must be able to take the language from the title
            assert any(w in title for s in stacks for w in TITLE_LANG[s] + ["Rails", "Laravel"]), title

        group = info["group"] if rng.random() < 0.75 else wpick(rng, LOCATION_GROUP_WEIGHTS)
        location = rng.choice(info["locations"]) if group == info["group"] else wpick(rng, LOCATIONS[group])

        # dates
        if kind in ("window", "unverified"):
            verified_at = random_time(rng, WINDOW_START, WINDOW_END)
        elif kind == "old":
            verified_at = random_time(rng, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC))
        else:  # just before the window edge
            verified_at = random_time(rng, datetime(2026, 11, 15, 6, tzinfo=UTC), WINDOW_START - timedelta(minutes=20),
                                      weekend_weight=1.0)
        posted_at = verified_at - timedelta(minutes=rng.randint(40, 30 * 60), seconds=rng.randint(0, 59))
        posted_style = wpick(rng, [("Z", 6), (rng.choice(GROUP_PAY[group][2]), 3), ("ms", 1)])

        rec: dict = {
            "id": None,
            "title": title,
            "company": company,
            "url": make_url(rng, company, info["careers_site"], title, rng.randint(1000, 9999)),
            "posted_at": iso(posted_at, posted_style),
            "verified": kind != "unverified",
        }
        if kind != "unverified":
            rec["verified_at"] = iso(verified_at, wpick(rng, [("Z", 9), ("+00:00", 1)]))
        if rng.random() < 0.3:
            rec["expires_at"] = iso(verified_at + timedelta(days=rng.choice([30, 30, 45, 60, 90])), "Z")
            if not rec["expires_at"].endswith("T23:59:59Z") and rng.random() < 0.5:
                rec["expires_at"] = rec["expires_at"][:10] + "T23:59:59Z"
        if stack_field is not None:
            rec["stack"] = stack_field
        if rng.random() < 0.45:
            rec["level"] = rng.choice(RAW_LEVEL_FOR[level])
        rec["location"] = location
        rec.update(make_salary(rng, level, group, info["employer"]))
        rec["employer_type"] = info["employer"]
        rec["role_type"] = role
        rec["description"] = make_description(rng, company, info["employer"], info["product"], role, level, stacks,
                                              title)
        rec["_posted"] = posted_at
        rec["_kind"] = kind
        rec["_level"] = level
        rec["_group"] = group
        rec["_stacks"] = stacks
        listings.append(rec)

    assert not pending_showcase, pending_showcase
    # A few listings expire before NOW: some verified early this week, some old.
    window_early = [r for r in listings if r["_kind"] == "window" and r["verified_at"] < "2026-11-20"]
    for r in rng.sample(window_early, 6):
        v = datetime.fromisoformat(r["verified_at"])
        r["expires_at"] = iso(random_time(rng, v + timedelta(hours=20), NOW - timedelta(hours=2), 1.0), "Z")
        r["_expired"] = True
    for r in rng.sample([r for r in listings if r["_kind"] == "old" and "expires_at" not in r], 4):
        v = datetime.fromisoformat(r["verified_at"])
        r["expires_at"] = iso(min(v + timedelta(days=30), NOW - timedelta(days=2)), "Z")[:10] + "T23:59:59Z"
        r["_expired"] = True
    # ...and one expires an hour after NOW: still live at send time.
    r = rng.choice([r for r in listings if r["_kind"] == "window" and "expires_at" not in r])
    r["expires_at"] = "2026-11-24T00:00:00Z"

    # Reposts: same company + same title, a new id and later dates.
    originals = rng.sample([r for r in listings if r["_kind"] == "old" and not r.get("_expired")], 3)
    originals += rng.sample([r for r in listings if r["_kind"] == "window" and "expires_at" not in r
                             and r["verified_at"] < "2026-11-18"], 1)
    for orig in originals:
        rep = {k: v for k, v in orig.items()}
        if orig["_kind"] == "window":
            verified_at = random_time(rng, datetime(2026, 11, 21, 12, tzinfo=UTC), WINDOW_END, 1.0)
        else:
            verified_at = random_time(rng, WINDOW_START + timedelta(days=1), WINDOW_END)
        posted_at = verified_at - timedelta(minutes=rng.randint(60, 600))
        rep["posted_at"] = iso(posted_at, "Z")
        rep["verified"] = True
        rep["verified_at"] = iso(verified_at, "Z")
        rep.pop("expires_at", None)
        rep["url"] = make_url(rng, orig["company"], company_info[orig["company"]]["careers_site"], orig["title"],
                              rng.randint(1000, 9999))
        rep["description"] = orig["description"] + " (Reposted: we are still hiring for this role.)"
        rep["_posted"] = posted_at
        rep["_kind"] = "repost"
        rep["_repost_of"] = orig
        listings.append(rep)

    # Board ids grow with posting time.
    listings.sort(key=lambda r: (r["_posted"], r["company"], r["title"]))
    next_id = 10112
    for r in listings:
        r["id"] = f"rb-{next_id}"
        r["url"] = r["url"].replace("{id}", r["id"])
        next_id += rng.randint(1, 25)
    stats = {"company_info": company_info}
    return listings, stats


# --------------------------------------------------------------------------------------------------
# Subscribers
# --------------------------------------------------------------------------------------------------
NAMES = {
    "na": (["Emily", "Jacob", "Marcus", "Hannah", "Tyler", "Aisha", "Brandon", "Megan", "Darnell", "Kayla", "Ryan",
            "Olivia", "Ethan", "Jasmine", "Connor", "Maya", "Noah", "Brianna", "Caleb", "Renée"],
           ["Johnson", "Carter", "Nguyen", "Patel", "Williams", "Okafor", "Brooks", "Sullivan", "Kim", "Rivera",
            "Thompson", "Hughes", "Bennett", "Reyes", "Walsh", "Coleman", "Tremblay", "Gagnon", "Bélanger"]),
    "latam": (["José", "María", "Camila", "Mateo", "Valentina", "Santiago", "Luciana", "João", "Ana Luísa", "Tomás",
               "Sofía", "Diego", "Gabriela", "Thiago", "Inés", "Joaquín"],
              ["Álvarez", "González", "Fernández", "Pereira", "Souza", "Rodríguez", "Muñoz", "Oliveira", "Castillo",
               "Ramírez", "Gómez", "Araújo", "Peña", "da Silva", "Núñez"]),
    "de": (["Zoë", "Lukas", "Jonas", "Anna", "Felix", "Lena", "Sven", "Sanne", "Jörg", "Mats", "Ingrid", "Björn",
            "Annika", "Maximilian"],
           ["Müller", "Schäfer", "de Vries", "Jansen", "Hoffmann", "Bakker", "Lindqvist", "Øvergaard", "Köhler",
            "Becker", "van Dijk", "Fischer"]),
    "pl": (["Łukasz", "Agnieszka", "Krzysztof", "Zofia", "Oleksandr", "Kateryna", "Dmytro", "Marta", "Tomasz", "Ewa",
            "Andrii", "Mariia"],
           ["Nowak", "Wiśniewski", "Kowalczyk", "Zieliński", "Shevchenko", "Kovalenko", "Petrenko", "Lewandowski",
            "Wójcik", "Bondarenko"]),
    "fr": (["Chloé", "Léa", "Hugo", "Théo", "Mathieu", "Giulia", "Marco", "Elena", "Nuno", "Clémence", "Álvaro",
            "Beatriz"],
           ["Dubois", "Lefèvre", "Moreau", "Rossi", "Bianchi", "Ferreira", "Martín", "Garnier", "Esposito", "Sánchez",
            "Costa"]),
    "uk": (["Oliver", "Siobhan", "Callum", "Eleanor", "Niamh", "Rhys", "Harriet", "Declan", "Imogen", "Alfie"],
           ["O'Brien", "Fletcher", "Davies", "MacLeod", "Pritchard", "Ashworth", "Kavanagh", "Evans", "Byrne"]),
    "af": (["Chinedu", "Ngozi", "Oluwaseun", "Amara", "Kwame", "Wanjiru", "Thabo", "Zanele", "Fatou", "Tendai",
            "Kofi", "Adaeze", "Yaw"],
           ["Okonkwo", "Adeyemi", "Mensah", "Mwangi", "Nkosi", "Diallo", "Ochieng", "Babatunde", "Dlamini", "Asante",
            "Eze"]),
    "in": (["Priya", "Arjun", "Ananya", "Rohan", "Sneha", "Vikram", "Kavya", "Aditya", "Meera", "Rahul", "Ishaan",
            "Divya", "Sanjay", "Pooja"],
           ["Sharma", "Iyer", "Reddy", "Nair", "Gupta", "Krishnan", "Mehta", "Banerjee", "Kulkarni", "Rao", "Shrestha",
            "Fernando"]),
    "ea": (["Haruto", "Yuki", "Sakura", "Kenji", "Mei", "Wei", "Jun", "Minh", "Linh", "Siti", "Rizal", "Jia Hui",
            "Paolo", "Ji-woo"],
           ["Tanaka", "Sato", "Watanabe", "Chen", "Lim", "Nguyen", "Tran", "Santos", "Wijaya", "Tan", "Park",
            "Reyes"]),
    "me": (["Omar", "Layla", "Yusuf", "Elif", "Mehmet", "Nour", "Karim", "Zeynep", "Rania", "Tariq"],
           ["Haddad", "Yılmaz", "Al-Masri", "Demir", "Khalil", "Aydın", "Nasser", "Farouk"]),
    "oc": (["Liam", "Charlotte", "Jack", "Matilda", "Aroha", "Tāne", "Ruby", "Lachlan", "Isla"],
           ["Mitchell", "Campbell", "Ngata", "Walker", "Robinson", "Te Awa", "Fraser", "O'Connor"]),
}
# timezone, weight, name culture, natural regions (first is the home region)
TIMEZONES = [
    ("America/New_York", 14, "na", ["us"]), ("America/Los_Angeles", 9, "na", ["us"]),
    ("America/Chicago", 6, "na", ["us"]), ("America/Denver", 3, "na", ["us"]),
    ("America/Phoenix", 1, "na", ["us"]), ("America/Toronto", 4, "na", ["canada", "us"]),
    ("America/Vancouver", 2, "na", ["canada", "us"]), ("America/St_Johns", 1, "na", ["canada"]),
    ("America/Sao_Paulo", 5, "latam", ["latam"]), ("America/Mexico_City", 3, "latam", ["latam", "us"]),
    ("America/Argentina/Buenos_Aires", 3, "latam", ["latam", "europe"]), ("America/Bogota", 2, "latam", ["latam"]),
    ("America/Santiago", 1, "latam", ["latam"]),
    ("Europe/London", 11, "uk", ["uk", "europe"]), ("Europe/Dublin", 2, "uk", ["europe", "uk"]),
    ("Europe/Berlin", 8, "de", ["europe"]), ("Europe/Amsterdam", 3, "de", ["europe"]),
    ("Europe/Stockholm", 2, "de", ["europe"]), ("Europe/Paris", 4, "fr", ["europe"]),
    ("Europe/Madrid", 3, "fr", ["europe"]), ("Europe/Lisbon", 2, "fr", ["europe"]), ("Europe/Rome", 2, "fr", ["europe"]),
    ("Europe/Warsaw", 4, "pl", ["europe"]), ("Europe/Kyiv", 2, "pl", ["europe"]),
    ("Europe/Istanbul", 1, "me", ["europe", "middle-east"]),
    ("Africa/Lagos", 3, "af", ["africa", "europe"]), ("Africa/Nairobi", 2, "af", ["africa"]),
    ("Africa/Johannesburg", 2, "af", ["africa", "europe"]), ("Africa/Accra", 1, "af", ["africa"]),
    ("Africa/Cairo", 1, "me", ["middle-east", "africa"]), ("Asia/Dubai", 1, "me", ["middle-east"]),
    ("Asia/Kolkata", 7, "in", ["asia"]), ("Asia/Kathmandu", 1, "in", ["asia"]), ("Asia/Colombo", 1, "in", ["asia"]),
    ("Asia/Singapore", 2, "ea", ["asia"]), ("Asia/Manila", 2, "ea", ["asia"]), ("Asia/Tokyo", 2, "ea", ["asia"]),
    ("Asia/Ho_Chi_Minh", 1, "ea", ["asia"]), ("Asia/Jakarta", 1, "ea", ["asia"]), ("Asia/Seoul", 1, "ea", ["asia"]),
    ("Australia/Sydney", 3, "oc", ["oceania"]), ("Australia/Melbourne", 1, "oc", ["oceania"]),
    ("Australia/Adelaide", 1, "oc", ["oceania"]), ("Pacific/Auckland", 1, "oc", ["oceania"]),
]
SUB_STACK_WEIGHTS = {"python": 26, "go": 18, "node": 18, "java": 12, "ruby": 5, "php": 4, "rust": 6, "kotlin": 3,
                     "scala": 2, "elixir": 2, "csharp": 4, "cpp": 1.5}
SUB_LEVELS = ["intern", "junior", "mid", "senior", "lead"]
SUB_LEVEL_WEIGHTS = {"intern": 3, "junior": 12, "mid": 30, "senior": 40, "lead": 15}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
EMAIL_DOMAINS = [("example.com", 5), ("example.org", 2), ("mail.example.net", 3)]
MIN_SALARY = {"intern": (40000, 60000), "junior": (60000, 100000), "mid": (90000, 160000),
              "senior": (130000, 220000), "lead": (180000, 260000)}


def make_email(rng: random.Random, first: str, last: str, taken: set[str]) -> str:
    given = slugify(first).replace("-", "")
    family = slugify(last).replace("-", "")
    for attempt in range(100):
        local = wpick(rng, [(f"{given}.{family}", 6), (f"{given}{family}", 2), (f"{given[0]}.{family}", 2), (f"{given}_{family}", 1),
                            (f"{given}.{family}{rng.randint(1, 99)}", 2), (f"{family}.{given}", 1), (f"{given}{rng.randint(80, 2005)}", 1),
                            (f"{given}.{family}+jobs", 1)])
        if attempt > 3:
            local = f"{local}{attempt}"
        email = f"{local}@{wpick(rng, EMAIL_DOMAINS)}"
        if email.lower() not in taken:
            taken.add(email.lower())
            return email
    raise RuntimeError("could not make a unique email")


def build_subscribers(rng: random.Random) -> list[dict]:
    taken: set[str] = set()
    rows = []
    tz_choices = [(t, w) for t, w, _, _ in TIMEZONES]
    tz_meta = {t: (c, regions) for t, _, c, regions in TIMEZONES}
    for _ in range(N_SUBSCRIBERS):
        tz = wpick(rng, tz_choices)
        culture, home_regions = tz_meta[tz]
        if rng.random() < 0.2:
            culture = rng.choice(sorted(NAMES))
        first = rng.choice(NAMES[culture][0])
        last = rng.choice(NAMES[culture][1])
        email = make_email(rng, first, last, taken)
        if rng.random() < 0.015:
            email = email[0].upper() + email[1:]  # people type their address however they like
        name = wpick(rng, [(f"{first} {last}", 88), (first, 7), ("", 5)])

        # stack: ~15% any, else 1-3 with a skew toward python/go/node
        stack: list[str] = []
        if rng.random() >= 0.17:
            for _ in range(wpick(rng, [(1, 55), (2, 35), (3, 10)])):
                s = wpick(rng, SUB_STACK_WEIGHTS)
                if s not in stack:
                    stack.append(s)
        # level: ~30% any, else one level or two adjacent ones
        level: list[str] = []
        if rng.random() >= 0.30:
            lv = wpick(rng, SUB_LEVEL_WEIGHTS)
            level = [lv]
            if rng.random() < 0.3:
                i = SUB_LEVELS.index(lv)
                j = i + 1 if i + 1 < len(SUB_LEVELS) and (i == 0 or rng.random() < 0.5) else i - 1
                level = sorted({lv, SUB_LEVELS[j]}, key=SUB_LEVELS.index)
        # region: ~25% any, else home region(s), sometimes + worldwide
        region: list[str] = []
        if rng.random() >= 0.25:
            region = [home_regions[0]]
            if len(home_regions) > 1 and rng.random() < 0.35:
                region.append(home_regions[1])
            if rng.random() < 0.3:
                region.append("worldwide")
        timezone_ = tz if rng.random() >= 0.06 else ""
        send_day = "" if rng.random() < 0.75 else wpick(rng, [("monday", 3), ("tuesday", 2), ("wednesday", 1),
                                                               ("thursday", 1), ("friday", 3), ("sunday", 2),
                                                               ("saturday", 1)])
        send_hour = "" if rng.random() < 0.7 else str(wpick(rng, [(6, 2), (7, 4), (8, 3), (9, 3), (10, 1)]))
        min_salary = ""
        if rng.random() < 0.22:
            lo, hi = MIN_SALARY[level[0] if level else "mid"]
            if region and region[0] not in ("us", "canada"):
                lo, hi = int(lo * 0.5), int(hi * 0.6)
            min_salary = str(round(rng.randint(lo, hi) / 10000) * 10000)
        confirmed = "false" if rng.random() < 0.05 else "true"
        rows.append({"email": email, "name": name, "stack": ",".join(stack), "level": ",".join(level),
                     "region": ",".join(region), "timezone": timezone_, "send_day": send_day,
                     "send_hour": send_hour, "min_salary": min_salary, "confirmed": confirmed})
    return rows


# --------------------------------------------------------------------------------------------------
# Output, validation, summary
# --------------------------------------------------------------------------------------------------
SUB_FIELDS = ["email", "name", "stack", "level", "region", "timezone", "send_day", "send_hour", "min_salary",
              "confirmed"]


def write(listings: list[dict], subscribers: list[dict]) -> None:
    with LISTINGS_PATH.open("w", encoding="utf-8", newline="\n") as fh:
        for r in listings:
            fh.write(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, ensure_ascii=False) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUB_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(subscribers)
    SUBSCRIBERS_PATH.write_text(buf.getvalue(), encoding="utf-8", newline="\n")


def parse_dt(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"naive timestamp {value!r}")
    return dt


def check() -> None:
    """Validate the files on disk and print a distribution summary. Exits non-zero on a problem."""
    errors: list[str] = []
    records = []
    for n, line in enumerate(LISTINGS_PATH.read_text(encoding="utf-8").splitlines(), 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"listings.jsonl:{n}: {exc}")
    ids = Counter(r["id"] for r in records)
    errors += [f"duplicate id {i}" for i, c in ids.items() if c > 1]
    for r in records:
        where = f"listing {r.get('id')}"
        for key in ("id", "title", "company", "url", "posted_at", "verified"):
            if key not in r or r[key] in ("", None):
                errors.append(f"{where}: missing {key}")
        if not re.fullmatch(r"https?://[^\s/]+\.[^\s/]+(/\S*)?", r.get("url", "")):
            errors.append(f"{where}: bad url {r.get('url')!r}")
        if not isinstance(r.get("verified"), bool):
            errors.append(f"{where}: verified is not a boolean")
        try:
            posted = parse_dt(r["posted_at"])
            if "verified_at" in r and parse_dt(r["verified_at"]) < posted:
                errors.append(f"{where}: verified before posted")
            if "expires_at" in r and parse_dt(r["expires_at"]) <= posted:
                errors.append(f"{where}: expires before posted")
        except (ValueError, KeyError) as exc:
            errors.append(f"{where}: {exc}")
        if "level" in r and r["level"] not in RAW_LEVELS:
            errors.append(f"{where}: unknown level {r['level']!r}")
        if "salary_min" in r and not (0 < r["salary_min"] < r["salary_max"]):
            errors.append(f"{where}: bad salary range")
    reposts = Counter((r["company"], norm_title(r["title"])) for r in records)

    subs = list(csv.DictReader(SUBSCRIBERS_PATH.open(encoding="utf-8", newline="")))
    emails = Counter(s["email"].lower() for s in subs)
    errors += [f"duplicate email {e}" for e, c in emails.items() if c > 1]
    allowed = {"stack": set(SUB_STACK_WEIGHTS), "level": set(SUB_LEVELS),
               "region": set(LOCATION_GROUP_WEIGHTS) - {"americas"}}
    try:
        from zoneinfo import ZoneInfo
    except ImportError:  # pragma: no cover
        ZoneInfo = None
    for s in subs:
        if not re.fullmatch(r"[^@\s]+@(example\.com|example\.org|mail\.example\.net)", s["email"], re.I):
            errors.append(f"subscriber {s['email']}: not an example-domain address")
        for key, values in allowed.items():
            bad = [v for v in s[key].split(",") if v and v not in values]
            if bad:
                errors.append(f"subscriber {s['email']}: unknown {key} {bad}")
        if s["timezone"] and ZoneInfo is not None:
            ZoneInfo(s["timezone"])
        if s["send_day"] and s["send_day"] not in WEEKDAYS:
            errors.append(f"subscriber {s['email']}: bad send_day")
        if s["confirmed"] not in ("true", "false"):
            errors.append(f"subscriber {s['email']}: bad confirmed")
    if list(subs[0].keys()) != SUB_FIELDS:
        errors.append("subscribers.csv: unexpected header")

    # summary
    verified = [r for r in records if r["verified"]]
    in_window = [r for r in verified if WINDOW_START <= parse_dt(r["verified_at"]) <= WINDOW_END]
    older = [r for r in verified if parse_dt(r["verified_at"]) < WINDOW_START]
    expired = [r for r in records if "expires_at" in r and parse_dt(r["expires_at"]) <= NOW]

    def salary_form(r):
        if "salary_min" in r:
            return "structured/" + r["salary_period"]
        if "salary" in r:
            return "raw text"
        return "none"

    def stack_form(r):
        s = r.get("stack")
        if isinstance(s, list) and s:
            return "list"
        if isinstance(s, str) and s:
            return "string"
        return "empty/absent"

    def fmt(counter: Counter, total: int) -> str:
        return ", ".join(f"{k} {v} ({100 * v / total:.0f}%)" for k, v in counter.most_common())

    n = len(records)
    print(f"listings: {n} lines, {len(ids)} unique ids, {len(set(r['company'] for r in records))} companies")
    print(f"  verified {len(verified)} / unverified {n - len(verified)}; verified in demo window "
          f"{len(in_window)} ({100 * len(in_window) / len(verified):.0f}%), before it {len(older)}; "
          f"expired before now {len(expired)}; reposts {sum(c - 1 for c in reposts.values() if c > 1)}")
    print(f"  employer: {fmt(Counter(r['employer_type'] for r in records), n)}")
    print(f"  role:     {fmt(Counter(r['role_type'] for r in records), n)}")
    print(f"  level field: {fmt(Counter(r.get('level', '(absent)') for r in records), n)}")
    print(f"  stack field: {fmt(Counter(stack_form(r) for r in records), n)}")
    print(f"  salary:   {fmt(Counter(salary_form(r) for r in records), n)}")
    print(f"  currency (structured): {fmt(Counter(r['salary_currency'] for r in records if 'salary_min' in r), n)}")
    print(f"  locations: {len(set(r['location'] for r in records))} distinct texts")
    ns = len(subs)
    print(f"subscribers: {ns} rows, {len(emails)} unique emails")

    def multi(key):
        c = Counter()
        for s in subs:
            for v in (s[key].split(",") if s[key] else ["(any)"]):
                c[v] += 1
        return c

    print(f"  stack:  {fmt(multi('stack'), ns)}")
    print(f"  level:  {fmt(multi('level'), ns)}")
    print(f"  region: {fmt(multi('region'), ns)}")
    print(f"  timezones: {len(set(s['timezone'] for s in subs if s['timezone']))} distinct, "
          f"empty {sum(1 for s in subs if not s['timezone'])}")
    print(f"  send_day set {sum(1 for s in subs if s['send_day'])}, send_hour set "
          f"{sum(1 for s in subs if s['send_hour'])}, min_salary set {sum(1 for s in subs if s['min_salary'])}, "
          f"confirmed=false {sum(1 for s in subs if s['confirmed'] == 'false')}")
    if errors:
        for e in errors[:50]:
            print("ERROR:", e, file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only validate the files on disk and print a summary")
    args = parser.parse_args(argv)
    if not args.check:
        rng = random.Random(SEED)
        listings, _ = build_listings(rng)
        subscribers = build_subscribers(rng)
        write(listings, subscribers)
        print(f"wrote {LISTINGS_PATH.name} ({len(listings)}) and {SUBSCRIBERS_PATH.name} ({len(subscribers)})")
    check()


if __name__ == "__main__":
    main()
