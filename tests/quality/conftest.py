"""The deliverability gate's fixtures: every message type once per session, and the real checkers.

Each checker is a real program (SpamAssassin's spamd, Debian's Chromium, html-validate from npm). A missing
one fails the tests with the command that installs it; nothing here ever skips.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ..conftest import write_artifact

from digest.taxonomy import load_taxonomy

from . import corpus

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "email"  # gitignored: the messages, screenshots and checker reports
SPAMD = shutil.which("spamd") or "/usr/sbin/spamd"
SPAMC = shutil.which("spamc") or "/usr/bin/spamc"
SA_RULES = Path("/usr/share/spamassassin")  # the rules the Debian package ships; never sa-update (RECIPES)
NODE = shutil.which("node")
HTML_VALIDATE = REPO / "node_modules" / "html-validate" / "bin" / "html-validate.mjs"
HTML_VALIDATE_CONFIG = Path(__file__).with_name("htmlvalidate.mjs")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
INSTALL = "./scripts/test installs it (as root on Debian/Ubuntu)"


def missing(what: str, how: str) -> None:
    pytest.fail(f"{what} is missing: {how}. The deliverability gate never skips a checker.", pytrace=False)


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> dict[str, corpus.Sample]:
    """Every message type, built once, also written to test-artifacts/email/<name>.eml and .html."""
    built = corpus.build(tmp_path_factory.mktemp("quality"), load_taxonomy())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, sample in built.items():
        (ARTIFACTS / f"{name}.eml").write_bytes(sample.raw)
        (ARTIFACTS / f"{name}.html").write_text(sample.html, encoding="utf-8")
    return built


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SpamAssassin:
    """Score messages with spamc against a spamd this session started."""

    def __init__(self, port: int, configpath: Path | None):
        self.port = port
        self.configpath = configpath

    def report(self, raw: bytes) -> tuple[float, list[tuple[float, str, str]], str]:
        """Return (score, [(points, rule, description)], the full report)."""
        # -x: an unreachable spamd is an error, not a silent "0/0" (RECIPES); -R: score and the rules that fired
        done = subprocess.run([SPAMC, "-x", "-d", "127.0.0.1", "-p", str(self.port), "-R"], input=raw,
                              capture_output=True, timeout=30)
        out = done.stdout.decode("utf-8", "replace")
        if done.returncode not in (0, 1) or "/" not in out.split("\n", 1)[0]:
            pytest.fail(f"spamc exited {done.returncode}: {done.stderr.decode(errors='replace')}{out}")
        return float(out.split("/", 1)[0]), parse_rules(out), out


def parse_rules(report: str) -> list[tuple[float, str, str]]:
    """The rule table of a SpamAssassin report: ' 0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font …'."""
    rules: list[tuple[float, str, str]] = []
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("---- ")), None)
    for line in lines[start + 1:] if start is not None else ():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].lstrip("-").replace(".", "", 1).isdigit():
            rules.append((float(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""))
        elif rules and line.startswith(" " * 20) and line.strip():
            p, r, d = rules[-1]
            rules[-1] = (p, r, f"{d} {line.strip()}")
    return rules


@pytest.fixture(scope="session")
def spamassassin(tmp_path_factory):
    """spamd on a free port (local tests only, -L), its rules proved present before any score counts."""
    if not (Path(SPAMD).exists() and Path(SPAMC).exists()):
        missing("SpamAssassin (spamd, spamc)", f"apt-get install -y spamassassin spamc (and spamd on Debian 12); {INSTALL}")
    run_dir = tmp_path_factory.mktemp("spamd")
    run_dir.chmod(0o777)  # spamd drops to nobody and writes its pid file here
    problems = []
    # An sa-update without network leaves an empty rules directory behind: spamd then exits with "no rules
    # were found" (or, elsewhere, scores everything 0). The rules the package ships are the way back.
    for configpath in (None, SA_RULES):
        sa, problem = start_spamd(run_dir, configpath)
        if sa is not None:
            break
        problems.append(problem)
    else:
        pytest.fail("SpamAssassin could not start with its rules:\n" + "\n".join(problems) + "\nReinstall the "
                    "spamassassin package; never run sa-update here (it needs the network).", pytrace=False)
    yield sa
    _stop(run_dir)


def start_spamd(run_dir: Path, configpath: Path | None) -> tuple[SpamAssassin | None, str]:
    """Start spamd on a free port and prove it has rules; return it, or None and what went wrong."""
    port, log = _free_port(), run_dir / "spamd.log"
    cmd = [SPAMD, "-L", "-x", "-i", "127.0.0.1", "-p", str(port), "-d", "-r", str(run_dir / "pid"),
           f"--syslog={log}", "-m", "2", "--min-spare=1"]
    if os.geteuid() == 0:
        cmd += ["-u", "nobody"]
    if configpath:
        cmd.append(f"--configpath={configpath}")
    where = f"spamd{' --configpath=' + str(configpath) if configpath else ''}"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if done.returncode:
        errors = [line for line in log.read_text(errors="replace").splitlines() if "error" in line] if log.exists() else []
        return None, f"{where} exited {done.returncode}: {(errors or [done.stderr.strip()])[0]}"
    started = time.monotonic()
    while subprocess.run([SPAMC, "-K", "-d", "127.0.0.1", "-p", str(port)], capture_output=True).returncode:
        if time.monotonic() - started > 30:
            _stop(run_dir)
            return None, f"{where} did not answer on port {port} within 30 s; see {log}"
        time.sleep(0.05)
    sa = SpamAssassin(port, configpath)
    # A message without Date and Message-ID must score what those rules give, or the gate is blind.
    _, rules, _ = sa.report(b"From: a@example.com\r\nTo: b@example.com\r\nSubject: probe\r\n\r\nhello\r\n")
    if not {"MISSING_DATE", "MISSING_MID"} <= {r for _, r, _ in rules}:
        _stop(run_dir)
        return None, f"{where} scored a message without Date and Message-ID {rules}: its rules are missing"
    return sa, ""


def _stop(run_dir: Path) -> None:
    pid_file = run_dir / "pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip())
        try:
            os.kill(pid, 15)  # the spamd this fixture started, by its pid
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)  # spamd removes it itself as it stops


SPAM_LOG: dict[str, dict] = {}  # message type -> score and rules, written to test-artifacts/spamassassin.json


@pytest.fixture(scope="session", autouse=True)
def _spam_report():
    yield
    if SPAM_LOG:
        write_artifact("spamassassin.json", SPAM_LOG)


@pytest.fixture(scope="session")
def html_validate(samples) -> dict[str, list[dict]]:
    """html-validate (npm) over every message's HTML in one node process: file name -> its messages."""
    if NODE is None:
        missing("node", f"apt-get install -y nodejs npm; {INSTALL}")
    if not HTML_VALIDATE.exists():
        missing(str(HTML_VALIDATE.relative_to(REPO)), "run `npm ci` in the repository (./scripts/test does this)")
    files = [str(ARTIFACTS / f"{name}.html") for name in samples]
    results = run_html_validate(files)
    (ARTIFACTS / "html-validate.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def run_html_validate(files: list[str]) -> dict[str, list[dict]]:
    done = subprocess.run([NODE, str(HTML_VALIDATE), "--config", str(HTML_VALIDATE_CONFIG), "--formatter", "json",
                           *files], capture_output=True, text=True, timeout=60, cwd=REPO)
    if done.returncode not in (0, 1) or not done.stdout.strip().startswith("["):
        pytest.fail(f"html-validate exited {done.returncode}: {done.stderr}{done.stdout[:2000]}")
    results = {Path(r["filePath"]).name: r["messages"] for r in json.loads(done.stdout)}
    return {Path(f).name: results.get(Path(f).name, []) for f in files}


class Chromium:
    """Debian's Chromium, headless, driven from a thread of its own.

    Playwright's sync API runs one instance per thread, and tests/e2e keeps its own open in the main thread for
    the whole session: this one lives in a worker thread, and every call on it goes through `call`.
    """

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality-chromium")
        self._playwright = self.browser = None
        self._thread.submit(self._start).result(timeout=120)

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                                        headless=True)

    def call(self, fn, *args):
        """Run fn(browser, *args) on the browser's thread; return what it returns."""
        return self._thread.submit(fn, self.browser, *args).result(timeout=120)

    def close(self) -> None:
        def stop(browser):
            browser.close()
            self._playwright.stop()

        self.call(stop)
        self._thread.shutdown()


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        missing(str(CHROMIUM), f"apt-get install -y chromium; {INSTALL}")
    browser = Chromium()
    yield browser
    browser.close()
