"""Who and what the benchmark's board holds: seeded listings, subscribers and last weeks' ledger, as rows.

Listings use the taxonomy's stacks, levels and regions in board-like proportions (Python, Node.js, Java and
Go dominate; a third of listings are US-only), salaries by level and region in several currencies and
periods, verification times over the week (fewer at weekends) plus older, unverified, expired and reposted
ones. Subscribers pick preference combinations from a Zipf-like catalogue (many share the popular ones,
a long tail is nearly unique), live in ~40 timezones with weekly slots, and most already received a digest
in an earlier week (ledger rows and the listings they carried), so the run reads real history.
Same spec, same rows; `benchmarks.generate` writes them to a database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Callable, Iterator

from digest.normalise import repost_key
from digest.schedule import latest_slot
from digest.taxonomy import load_taxonomy

NOW = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # a Monday evening: every weekly slot of the week is past
CHUNK = 20_000  # subscribers per chunk (one transaction each when written)
DAY = timedelta(days=1)

# -- listings -------------------------------------------------------------------------------------------
STACKS = {"python": 22, "node": 20, "java": 14, "go": 13, "csharp": 7, "ruby": 6, "php": 6, "kotlin": 4,
          "rust": 3, "scala": 2, "elixir": 1.5, "cpp": 1.5}
STACK_COUNT = {1: 57, 2: 35, 3: 8}
LEVELS = {"senior": 38, "mid": 24, "lead": 10, "junior": 9, "intern": 2, None: 17}
# (regions, weight, location texts as boards write them)
REGION_SETS = [
    (("us",), 28, ("Remote - US only", "USA timezones", "Remote (US)", "New York, NY or Remote US")),
    (("europe",), 17, ("Remote, Europe", "CET +/- 3 HOURS", "Remote - EU only", "Berlin, Germany (remote)")),
    (("worldwide",), 14, ("Worldwide", "Anywhere", "Remote (Worldwide)")),
    (("us", "canada"), 5, ("Remote — US or Canada", "Northern America")),
    (("uk",), 5, ("London, UK", "Remote (UK)")),
    (("europe", "uk"), 4, ("Europe or UK", "UTC-1 to UTC+3")),
    (("latam",), 4, ("Latin America", "Remote (LATAM)")),
    (("asia",), 4, ("APAC", "Remote, India")),
    (("us", "canada", "latam"), 3, ("Americas", "UTC-8 to UTC-3")),
    (("canada",), 2, ("Remote, Canada", "Toronto, ON / Remote Canada")),
    (("europe", "africa", "middle-east"), 2, ("EMEA", "Remote (EMEA)")),
    (("oceania",), 2, ("Sydney, Australia", "Remote - Australia / NZ")),
    (("africa",), 1, ("Remote — Africa", "Lagos, Nigeria (remote)")),
    (("middle-east",), 1, ("Dubai, UAE (remote)",)),
    ((), 3, ("Remote, some overlap with HQ", "Flexible")),  # unreadable: reaches only "anywhere" people
]
PAY_K = {"intern": (40, 70), "junior": (80, 120), "mid": (140, 220), "senior": (180, 300), "lead": (220, 350),
         None: (110, 250)}  # US annual, thousands (DESIGN.md)
PAY_FACTOR = {"us": 1.0, "canada": 0.75, "worldwide": 0.7, "latam": 0.45, "europe": 0.55, "uk": 0.6,
              "asia": 0.4, "oceania": 0.6, "africa": 0.4, "middle-east": 0.6}
CURRENCY = {"europe": "EUR", "uk": "GBP", "canada": "CAD", "oceania": "AUD"}
NO_SALARY = dict(salary_min=None, salary_max=None, salary_currency=None, salary_period=None, salary_display=None)
SIGN = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}
ROLES = ("Backend Engineer", "Software Engineer", "Backend Developer", "Platform Engineer", "API Engineer",
         "Data Engineer", "Infrastructure Engineer", "Site Reliability Engineer", "Software Engineer, Backend",
         "Full-Stack Engineer (Backend-leaning)")
LEVEL_WORDS = {"intern": "Intern", "junior": "Junior", "mid": "", "senior": "Senior", "lead": "Staff", None: ""}
TEAMS = ("Payments", "Growth", "Core Platform", "Data Platform", "Identity", "Search", "Billing", "Integrations")
EMPLOYERS = ("startup", "scaleup", "enterprise", "agency")  # the taxonomy's canonical names, as an import stores
ROLE_TYPES = ("api", "data", "platform")
SYLLABLES = ("led", "ger", "ly", "quill", "stack", "bright", "bill", "par", "cel", "wise", "co", "balt", "line",
             "fen", "nel", "kite", "wire", "or", "bit", "nest", "moss", "gate", "lu", "ma", "flow", "cin", "der",
             "box", "tess", "el", "late", "pine", "crest", "vel", "vet", "run", "cop", "per", "zest", "hal")
SUFFIXES = ("", "", "", " Labs", " Health", " Pay", " AI", " Systems", " Group", " Cloud", " Data", " & Co.",
            " Technologies", " Logistics", " Finance")

# -- subscribers ----------------------------------------------------------------------------------------
TIMEZONES = {
    "America/New_York": 14, "America/Los_Angeles": 9, "America/Chicago": 6, "Europe/London": 7,
    "Europe/Berlin": 7, "Asia/Kolkata": 6, "Europe/Paris": 4, "America/Toronto": 3, "America/Sao_Paulo": 3,
    "UTC": 3, "Europe/Amsterdam": 2, "Europe/Warsaw": 2, "Europe/Madrid": 2, "America/Denver": 2,
    "Australia/Sydney": 2, "America/Mexico_City": 2, "America/Bogota": 1, "America/Argentina/Buenos_Aires": 1,
    "Europe/Kyiv": 1, "Europe/Lisbon": 1, "Europe/Stockholm": 1, "Europe/Bucharest": 1, "Europe/Istanbul": 1,
    "Africa/Lagos": 1, "Africa/Nairobi": 1, "Africa/Johannesburg": 0.5, "Africa/Cairo": 0.5, "Asia/Dubai": 1,
    "Asia/Singapore": 1, "Asia/Manila": 1, "Asia/Jakarta": 0.5, "Asia/Tokyo": 0.5, "Asia/Shanghai": 0.5,
    "Asia/Karachi": 0.5, "Asia/Dhaka": 0.5, "Asia/Kathmandu": 0.2, "Australia/Adelaide": 0.2,
    "Pacific/Auckland": 0.5, "America/St_Johns": 0.2, "America/Anchorage": 0.2, "Pacific/Honolulu": 0.2,
}
SEND_DAYS = {0: 70, 1: 8, 2: 5, 3: 5, 4: 6, 5: 2, 6: 4}
SEND_HOURS = {8: 60, 7: 8, 9: 10, 6: 4, 10: 5, 12: 5, 18: 4, 20: 4}
SUB_STACK_COUNT = {0: 12, 1: 50, 2: 28, 3: 10}
SUB_LEVELS = {(): 30, ("senior",): 30, ("mid",): 10, ("mid", "senior"): 10, ("senior", "lead"): 9, ("lead",): 4,
              ("junior",): 4, ("junior", "mid"): 2, ("intern", "junior"): 1}
SUB_REGIONS = {(): 35, ("us",): 25, ("europe",): 15, ("uk",): 4, ("europe", "uk"): 4, ("us", "canada"): 4,
               ("canada",): 2, ("latam",): 4, ("asia",): 3, ("worldwide",): 1, ("oceania",): 1, ("africa",): 1,
               ("middle-east",): 1}
FIRST = ("Ana", "Ben", "Chen", "Dana", "Eva", "Femi", "Gita", "Hugo", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
         "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Vik", "Wen", "Yara", "Zoë", "José",
         "Łukasz", "Søren", "Ayşe", "Nguyễn")
LAST = ("Silva", "Okafor", "Schmidt", "Kowalski", "Tanaka", "Garcia", "Nakamura", "Haddad", "Müller", "Dubois",
        "Rossi", "Singh", "O'Brien", "Novak", "Larsen", "Costa", "Ivanova", "Mensah")
ZIPF_S = 1.1
CATALOGUE = 3000  # popular preference combinations; the rest is a long tail drawn fresh
TAIL = 0.25  # share of subscribers with a fresh (almost surely unique) combination


@dataclass(frozen=True)
class Spec:
    """What to generate; the same spec always gives the same rows."""

    subscribers: int
    listings: int
    seed: int = 6
    now: datetime = NOW
    history: float = 0.7  # share of active subscribers who already had a digest in an earlier week

    def key(self) -> str:
        return f"s{self.subscribers}-l{self.listings}-seed{self.seed}-h{self.history}-{self.now:%Y%m%dT%H%M}"


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _stacks(rng: random.Random, n: int) -> tuple[str, ...]:
    names, w = list(STACKS), list(STACKS.values())
    out: list[str] = []
    while len(out) < n:
        s = rng.choices(names, weights=w)[0]
        if s not in out:
            out.append(s)
    return tuple(out)


def _company_names(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()
        if rng.random() < 0.03:
            word = word.replace("o", "ø", 1).replace("e", "é", 1)  # some non-ASCII names
        names.add(word + rng.choice(SUFFIXES))
    return sorted(names)


def _salary(rng: random.Random, level, regions) -> dict:
    if rng.random() > 0.55:
        return {}
    lo_k, hi_k = PAY_K[level]
    factor = min((PAY_FACTOR[r] for r in regions), default=0.7)
    currency = CURRENCY.get(regions[0], "USD") if regions else "USD"
    fx = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.38, "AUD": 1.53}[currency]
    lo = rng.uniform(lo_k, (lo_k + hi_k) / 2) * factor * fx
    hi = lo * rng.uniform(1.1, 1.45)
    sign = SIGN[currency]
    if rng.random() < 0.1:  # a monthly rate, stored annualised as the importer does
        m_lo, m_hi = round(lo * 1000 / 12, -2), round(hi * 1000 / 12, -2)
        return dict(salary_min=int(m_lo * 12), salary_max=int(m_hi * 12), salary_currency=currency,
                    salary_period="month", salary_display=f"{sign}{m_lo:,.0f}–{sign}{m_hi:,.0f} / month")
    lo_k, hi_k = round(lo), round(hi)
    if rng.random() < 0.1:  # only a floor
        return dict(salary_min=lo_k * 1000, salary_max=None, salary_currency=currency, salary_period="year",
                    salary_display=f"from {sign}{lo_k}k / year")
    return dict(salary_min=lo_k * 1000, salary_max=hi_k * 1000, salary_currency=currency, salary_period="year",
                salary_display=f"{sign}{lo_k}k–{sign}{hi_k}k / year")


def _verified_at(rng: random.Random, now: datetime) -> datetime:
    """Within the last week, fewer at weekends (about 2/3 of the listings land Tuesday to Friday)."""
    while True:
        at = now - timedelta(seconds=rng.uniform(3600, 7 * 86400))
        if at.weekday() < 5 or rng.random() < 0.3:
            return at.replace(microsecond=0)


def listings(spec: Spec) -> list[dict]:
    """The listing rows: ~78% verified this week, 14% in the three weeks before, the rest stale or unusable."""
    taxonomy = load_taxonomy()
    assert set(STACKS) <= set(taxonomy.stacks) and {listing for listing in LEVELS if listing} <= set(taxonomy.levels)
    assert {r for rs, _w, _t in REGION_SETS for r in rs} <= set(taxonomy.regions)
    rng = random.Random(f"listings-{spec.seed}")
    now = spec.now
    companies = _company_names(rng, max(20, spec.listings // 3))
    # A company's listings cluster: a few companies post a lot.
    company_w = [1 / (i + 1) ** 0.8 for i in range(len(companies))]
    region_w = [w for _r, w, _t in REGION_SETS]
    rows: list[dict] = []
    for i in range(spec.listings):
        kind = rng.random()
        level = _pick(rng, LEVELS)
        stack = _stacks(rng, _pick(rng, STACK_COUNT))
        regions, _w, texts = rng.choices(REGION_SETS, weights=region_w)[0]
        company = rng.choices(companies, weights=company_w)[0]
        title = " ".join(w for w in (LEVEL_WORDS[level], taxonomy.stack_label(stack[0]), rng.choice(ROLES)) if w)
        if rng.random() < 0.15:
            title += f" — {rng.choice(TEAMS)} ({rng.choice(texts)})"
        verified, expires = True, None
        if kind < 0.78:
            verified_at = _verified_at(rng, now)
        elif kind < 0.92:  # earlier weeks: what last week's digests carried, or a long-absent reader's window
            verified_at = now - timedelta(seconds=rng.uniform(7 * 86400, 27 * 86400))
        elif kind < 0.95:  # too old for any digest
            verified_at = now - timedelta(days=rng.uniform(29, 60))
        elif kind < 0.97:  # verified this week, already expired
            verified_at = _verified_at(rng, now)
            expires = verified_at + timedelta(hours=rng.uniform(1, (now - verified_at).total_seconds() / 3600))
        else:  # never verified
            verified, verified_at = False, None
        if rows and rng.random() < 0.02:  # a repost: same company and title as an earlier listing
            earlier = rows[rng.randrange(len(rows))]
            company, title = earlier["company"], earlier["title"]
        posted = (verified_at or now - 2 * DAY) - timedelta(minutes=rng.uniform(30, 3 * 1440))
        board_id = f"bj-{spec.seed}-{i + 1:07d}"
        rows.append(dict(
            id=i + 1, board_id=board_id, title=title, company=company, url=f"https://jobs.example.com/{board_id}",
            posted_at=posted.replace(microsecond=0), verified=verified,
            verified_at=verified_at.replace(microsecond=0) if verified_at else None,
            available_at=verified_at.replace(microsecond=0) if verified_at else None,  # a board fed continuously
            expires_at=expires.replace(microsecond=0) if expires else None,
            stack=list(stack), level=level, regions=list(regions), location=rng.choice(texts),
            **(NO_SALARY | _salary(rng, level, regions)),
            employer_type=rng.choice(EMPLOYERS), role_type=rng.choice(ROLE_TYPES),
            description=f"{company} is hiring a {title}. " + "We build reliable backend systems. " * 6,
            raw_tags=[taxonomy.stack_label(s) for s in stack], repost_key=repost_key(company, title),
            imported_at=now - DAY, updated_at=now - DAY,
        ))
    return rows


# -- subscribers ----------------------------------------------------------------------------------------

def _signature(rng: random.Random) -> tuple:
    """One preference combination: (stack, levels, regions, min_salary, hide_no_salary)."""
    stack = tuple(sorted(_stacks(rng, _pick(rng, SUB_STACK_COUNT))))
    floor = None
    if rng.random() < 0.25:
        floor = rng.choice((60, 80, 100, 120, 140, 150, 160, 180, 200)) * 1000
    return stack, _pick(rng, SUB_LEVELS), _pick(rng, SUB_REGIONS), floor, rng.random() < 0.08


def preference_sampler(seed: int) -> Callable[[random.Random], tuple]:
    """Draw signatures Zipf-like: rank r of the catalogue with weight 1/r^s, or a fresh one from the tail."""
    rng = random.Random(f"catalogue-{seed}")
    catalogue: list[tuple] = []
    seen: set[tuple] = set()
    while len(catalogue) < CATALOGUE:
        sig = _signature(rng)
        if sig not in seen:
            seen.add(sig)
            catalogue.append(sig)
    cum, total = [], 0.0
    for r in range(1, CATALOGUE + 1):
        total += 1 / r**ZIPF_S
        cum.append(total)

    def draw(r: random.Random) -> tuple:
        if r.random() < TAIL:
            return _signature(r)
        return r.choices(catalogue, cum_weights=cum)[0]

    return draw


def subscriber_chunks(spec: Spec, pool: list[dict]) -> Iterator[tuple[list[dict], list[dict]]]:
    """Yield (subscribers, past deliveries with their listings) a chunk at a time: flat memory at any size."""
    rng = random.Random(f"subscribers-{spec.seed}")
    draw = preference_sampler(spec.seed)
    now = spec.now
    zones, zone_w = list(TIMEZONES), list(TIMEZONES.values())
    slots: dict[tuple, object] = {}
    # Listings a previous digest could have carried, by the week before `now` they were verified in.
    by_week: dict[int, list[dict]] = {}
    for listing in pool:
        if listing["verified"] and listing["verified_at"] and listing["verified_at"] <= now:
            by_week.setdefault(int((now - listing["verified_at"]) / timedelta(weeks=1)), []).append(listing)
    delivery_id = 0
    for lo in range(0, spec.subscribers, CHUNK):
        subs, deliveries = [], []
        for sid in range(lo + 1, min(lo + CHUNK, spec.subscribers) + 1):
            stack, levels, regions, floor, hide = draw(rng)
            tz = rng.choices(zones, weights=zone_w)[0]
            day, hour = _pick(rng, SEND_DAYS), _pick(rng, SEND_HOURS)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}" if rng.random() < 0.6 else None
            local = f"{first}.{last}".encode("ascii", "ignore").decode().lower().replace("'", "") or "reader"
            email = f"{local}.{sid}@{rng.choice(('example.com', 'example.org', 'example.net'))}"
            u = rng.random()
            status = "active" if u < 0.92 else "pending" if u < 0.95 else "unsubscribed" if u < 0.985 else "suppressed"
            joined = now - timedelta(days=rng.uniform(10, 500))
            confirmed = joined + timedelta(minutes=rng.uniform(1, 600)) if status != "pending" else None
            paused = None
            p = rng.random()
            if status == "active" and p < 0.01:
                paused = (now + timedelta(days=rng.randint(3, 40))).date()  # away: not due
            elif status == "active" and p < 0.02:
                paused = (now - timedelta(days=rng.randint(1, 20))).date()  # back from a pause: due
            elif status == "active" and p < 0.025:
                confirmed = now - timedelta(minutes=rng.uniform(5, 50))  # just joined: first slot still ahead
            subs.append(dict(
                id=sid, email=email, email_key=email.lower(), name=name, status=status, stack=list(stack),
                levels=list(levels), regions=list(regions), roles=[], employers=[], cadence="weekly",
                timezone=tz, send_day=day, send_hour=hour,
                min_salary=floor, hide_no_salary=hide, paused_until=paused, token_version=1,
                created_at=joined, updated_at=joined, confirmed_at=confirmed, confirm_sent_at=joined,
                unsubscribed_at=now - DAY if status == "unsubscribed" else None, unsubscribe_reason=None,
                source="benchmark",
                bounce_count=0, bounced_message_id=None,
                suppressed_at=now - DAY if status == "suppressed" else None,
                suppression_reason="bounce" if status == "suppressed" else None,
            ))
            if status != "active" or rng.random() >= spec.history:
                continue
            weeks_ago = 1 if rng.random() < 0.85 else rng.randint(2, 3)  # some missed a week or two
            key = (tz, day, hour, weeks_ago)
            prev = slots.get(key)
            if prev is None:
                prev = slots[key] = latest_slot(now - timedelta(weeks=weeks_ago), tz, day, hour)
            if confirmed and prev.at < confirmed:
                continue
            delivery_id += 1
            carried = by_week.get(weeks_ago, [])
            chosen = rng.sample(carried, min(len(carried), rng.randint(3, 15)))
            deliveries.append(dict(
                id=delivery_id, subscriber_id=sid, period=prev.period, status="sent", run_id="benchmark-history",
                slot_at=prev.at, window_start=prev.at - timedelta(weeks=1), cutoff=prev.at, claimed_at=prev.at,
                lease_until=None, sent_at=prev.at, attempts=1, listing_count=len(chosen), total_matches=len(chosen),
                message_id=f"<h{delivery_id}@example.com>", transport_id=None, error=None,
                listings=[[listing["board_id"], listing["repost_key"]] for listing in chosen],
            ))
        yield subs, deliveries
