"""Digest content for the renderer: job cards (long, tricky, hostile) and a parser for the links in the HTML."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from digest.content import DigestContent, JobView


TEMPLATES = Path(__file__).resolve().parents[2] / "templates"



XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"



def make_job(i: int = 0, **changes) -> JobView:
    fields = dict(
        id=f"j{i}", title=f"Senior Python Engineer {i}", company=f"Acme {i}",
        url=f"https://jobs.example.com/jobs/{i}?ref=digest&src=email", location="Europe · UK",
        level="Senior", stack=("Python", "PostgreSQL"), salary="$140k–$180k / year", posted="Nov 18",
    )
    fields.update(changes)
    return JobView(**fields)



def make_content(jobs: tuple[JobView, ...] | int = 5, total: int | None = None, **changes) -> DigestContent:
    if isinstance(jobs, int):
        jobs = tuple(make_job(i) for i in range(jobs))
    fields = dict(
        to_email="ana@example.com", to_name="Ana", jobs=jobs,
        total_matches=len(jobs) if total is None else total,
        more_url="https://jobs.example.com/search?stack=python&since=2026-11-16",
        preferences_url="https://digest.example.com/preferences/tok.abc",
        unsubscribe_url="https://digest.example.com/unsubscribe/tok.abc",
        board_url="https://jobs.example.com", week_label="week of Nov 23, 2026",
        summary="Python, Go · Senior · Europe",
    )
    fields.update(changes)
    return DigestContent(**fields)



def long_jobs(n: int = 15) -> tuple[JobView, ...]:
    """The size worst case: 500-character titles and long company names."""
    words = "Senior Staff Backend Platform Engineer Python Go Distributed Systems Payments Infrastructure "
    return tuple(
        make_job(
            i,
            title=(f"{i:02d} " + words * 10)[:500],
            company=f'Globex "International" Holdings & Subsidiaries Worldwide Consolidated Group {i:02d}',
            location="Europe · UK · Worldwide · UTC-1 to UTC+3",
            stack=("Python", "Go", "PostgreSQL", "Kubernetes", "Kafka"),
            salary="€90k–€120k / year",
        )
        for i in range(n)
    )



def tricky_jobs() -> tuple[JobView, ...]:
    return (
        make_job(0, title=XSS, company='Smith & "Sons" <b>Ltd</b>'),
        make_job(1, title="مهندس Python\u202eevil\u200b role", company="Zero\u200bWidth\u2066Co\u2069"),
        make_job(2, title="🚀 Rocket Engineer 👩‍💻", company="Café Zürich GmbH", salary=None, level=None),
        make_job(3, title="Linked\r\nTitle\x00With\x1bControls", url="javascript:alert(1)"),
        make_job(4, title="Data URL job", url="data:text/html,<script>alert(1)</script>", stack=()),
    )



class Anchors(HTMLParser):
    """Collect every <a href> and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href", ""), []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None
