"""What carries the messages in a crash trial, and how the harness sees what it was handed.

outbox  the default transport: one file per subscriber and week, replaced when the same message is written again
        (a replaced file is detected by its inode and kept by a hard link, to compare bytes)
ses     the production transport against SES faked by moto (tests.reliability.crash_ses), every acceptance
        logged at once: a message accepted twice is a second email
smtp    the smtp transport of the real `digest` command against a real SMTP server (aiosmtpd, STARTTLS and AUTH) that
        runs in the harness's own process, so a kill of the run never reaches what it accepted: a message accepted
        twice is a second email
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from digest.settings import Settings

from .crash_population import NOW, Population

ROOT = Path(__file__).resolve().parents[2]
DIGEST = str(Path(sys.executable).with_name("digest"))
# The production claim lease (no DIGEST_CLAIM_LEASE): a killed run's claims are taken over because its run is
# dead, never because the harness waited for a lease to run out.
LEASE_S = Settings().claim_lease_seconds


@dataclass(frozen=True)
class Delivered:
    """One message as the carrier has it."""

    subscriber_id: int | None
    to: str
    message_id: str
    period: str | None = None  # the outbox's directory; SES does not say
    carrier_id: str | None = None  # SES's message id, which the ledger records as transport_id


def base_env(url: str) -> dict[str, str]:
    """The environment of every `digest` the harness starts: ours, whatever the shell had."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "AWS_", "CRASH_"))}
    return env | {"DIGEST_DATABASE_URL": url}


def eml_files(outbox: Path) -> list[Path]:
    if not outbox.is_dir():
        return []
    return [Path(e.path) for d in os.scandir(outbox) if d.is_dir()
            for e in os.scandir(d.path) if e.name.endswith(".eml")]


def count_eml(outbox: Path) -> int:
    if not outbox.is_dir():
        return 0
    return sum(1 for d in os.scandir(outbox) if d.is_dir() for e in os.scandir(d.path) if e.name.endswith(".eml"))


def headers(path: Path):
    """The header block of a message, parsed as a mail client would."""
    with path.open("rb") as f:
        head = f.read(16384)
    end = head.find(b"\r\n\r\n")
    return BytesHeaderParser(policy=default_policy).parsebytes(head[: end + 4] if end >= 0 else head)


def outbox_delivered(outboxes: list[Path]) -> list[Delivered]:
    found = []
    for path in (p for box in outboxes for p in eml_files(box)):
        head = headers(path)
        found.append(Delivered(int(path.stem), head["To"].addresses[0].addr_spec, head["Message-ID"],
                               period=path.parent.name))
    return found


class OutboxCarrier:
    name = "outbox"
    max_workers = 2  # some trials run --workers 2

    def __init__(self, workdir: Path):
        self.outbox, self.kept = workdir / "outbox", workdir / "kept"
        self.snapshot: dict[Path, tuple[int, Path]] = {}

    def env(self, url: str) -> dict[str, str]:
        return base_env(url) | {"DIGEST_OUTBOX_DIR": str(self.outbox), "DIGEST_TRANSPORT": "outbox"}

    def command(self, workers: int) -> list[str]:
        return [DIGEST, "run", "--now", NOW.isoformat(), "--workers", str(workers)]

    def handed_over(self) -> int:
        return count_eml(self.outbox)

    def distinct(self) -> int:
        return count_eml(self.outbox)

    def reset(self) -> None:
        shutil.rmtree(self.outbox, ignore_errors=True)
        shutil.rmtree(self.kept, ignore_errors=True)
        self.snapshot = {}

    def delivered(self, pop: Population) -> list[Delivered]:
        return outbox_delivered([self.outbox])

    def after_kill(self) -> None:
        """Keep each message as first seen (a hard link), to tell later whether it was written again."""
        for path in eml_files(self.outbox):
            if path not in self.snapshot:
                link = self.kept / path.parent.name / path.name
                link.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, link)
                self.snapshot[path] = (path.stat().st_ino, link)

    def resent(self) -> tuple[int, list[str]]:
        """Messages written again after a kill: (how many had the same bytes, the ones that changed)."""
        same, changed = 0, []
        for path, (ino, kept) in self.snapshot.items():
            if path.exists() and path.stat().st_ino != ino:
                if path.read_bytes() == kept.read_bytes():
                    same += 1
                else:
                    changed.append(f"{path.parent.name}/{path.name}")
        return same, changed

    def stray_files(self) -> int:
        """Temporary files a kill left half-written (never an .eml, so never read as a message)."""
        return sum(1 for _ in self.outbox.rglob(".*.tmp")) if self.outbox.is_dir() else 0


class SesCarrier:
    name = "ses"
    max_workers = 1  # worker processes would start without the fake SES

    def __init__(self, workdir: Path):
        self.log = workdir / "ses-accepted.log"

    def env(self, url: str) -> dict[str, str]:
        return base_env(url) | {
            "DIGEST_TRANSPORT": "ses", "DIGEST_SES_RATE": "5000", "DIGEST_SES_REGION": "us-east-1",
            "DIGEST_SECRET_KEYS": "crash-harness-signing-key-0123456789", "DIGEST_BASE_URL": "https://digest.example.com",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "CRASH_SES_LOG": str(self.log)}

    def command(self, workers: int) -> list[str]:
        return [sys.executable, "-m", "tests.reliability.crash_ses", "run", "--now", NOW.isoformat(), "--workers", "1"]

    def _lines(self) -> list[list[str]]:
        try:
            return [line.split("\t") for line in self.log.read_text().splitlines()]
        except FileNotFoundError:
            return []

    def handed_over(self) -> int:
        return len(self._lines())

    def distinct(self) -> int:
        return len({fields[0] for fields in self._lines()})

    def reset(self) -> None:
        self.log.unlink(missing_ok=True)

    def delivered(self, pop: Population) -> list[Delivered]:
        by_email = {email: sid for sid, email in pop.emails.items()}
        return [Delivered(by_email.get(to), to, mid, carrier_id=ses_id) for mid, ses_id, to in self._lines()]

    def after_kill(self) -> None:
        pass

    def resent(self) -> tuple[int, list[str]]:
        return 0, []  # a second acceptance is in the log itself: check() counts it

    def stray_files(self) -> int:
        return 0


class SmtpCarrier:
    name = "smtp"
    max_workers = 2  # worker processes reach the same server

    def __init__(self, workdir: Path):
        from tests.support.smtp import Mailhost, make_certificates

        self.host = Mailhost(make_certificates(workdir / "smtp-certs")).start()

    def env(self, url: str) -> dict[str, str]:
        return base_env(url) | {
            "DIGEST_TRANSPORT": "smtp", "DIGEST_SMTP_URL": self.host.url(),
            "DIGEST_SECRET_KEYS": "crash-harness-signing-key-0123456789", "DIGEST_BASE_URL": "https://digest.example.com"}

    def command(self, workers: int) -> list[str]:
        return [DIGEST, "run", "--now", NOW.isoformat(), "--workers", str(workers)]

    def handed_over(self) -> int:
        return len(self.host.received)

    def distinct(self) -> int:
        return len({r.message_id for r in list(self.host.received)})

    def reset(self) -> None:
        self.host.received.clear()

    def delivered(self, pop: Population) -> list[Delivered]:
        by_email = {email: sid for sid, email in pop.emails.items()}
        return [Delivered(by_email.get(r.rcpt_to), r.rcpt_to, r.message_id, carrier_id=r.reply)
                for r in list(self.host.received)]

    def after_kill(self) -> None:
        pass

    def resent(self) -> tuple[int, list[str]]:
        return 0, []  # a second acceptance is among the received messages itself: check() counts it

    def stray_files(self) -> int:
        return 0

    def close(self) -> None:
        self.host.stop()


CARRIERS = {"outbox": OutboxCarrier, "ses": SesCarrier, "smtp": SmtpCarrier}
