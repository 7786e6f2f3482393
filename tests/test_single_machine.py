"""deploy/ for one machine without AWS: the systemd units pass `systemd-analyze verify` with the installed
command, their command lines are ones `digest` accepts, the timer fires hourly, the env file reads the same in
/bin/sh and in systemd, and the crontab line and the service's command really run `digest run` on SQLite and
PostgreSQL."""

from __future__ import annotations

import configparser
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.cli import main
from digest.errors import ConfigError
from digest.models import Delivery
from digest.settings import Settings

from .conftest import listing, read_outbox

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = ["jobdigest-run.service", "jobdigest-run.timer", "jobdigest-web.service"]
INSTALLED = "/opt/jobdigest/.venv/bin/digest"  # where the units and the crontab expect the command
ENV_FILE, STATE_DIR = "/etc/jobdigest/jobdigest.env", "/var/lib/jobdigest"
DIGEST = str(Path(sys.executable).with_name("digest"))


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:  # never a skip: scripts/test installs it
        pytest.fail("systemd-analyze is missing: apt-get install systemd (scripts/test does this)")
    return found


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (double quotes around a value are dropped)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _eq, value = line.partition("=")
            out[key] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return out


def test_the_units_pass_systemd_analyze_verify_with_the_installed_command(tmp_path):
    analyze = systemd_analyze()
    env = tmp_path / "jobdigest.env"
    env.write_text((DEPLOY / "jobdigest.env.example").read_text())
    for name in UNITS:  # as installed: the command at its place, the env file at its place
        text = (DEPLOY / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace(INSTALLED, DIGEST).replace(ENV_FILE, str(env)))
    done = subprocess.run([analyze, "verify", *(str(tmp_path / n) for n in UNITS)], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # It does check: the same units with the command not there are refused.
    (tmp_path / UNITS[0]).write_text((DEPLOY / "systemd" / UNITS[0]).read_text().replace(ENV_FILE, str(env)))
    refused = subprocess.run([analyze, "verify", str(tmp_path / UNITS[0])], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and f"Command {INSTALLED} is not executable" in refused.stderr


@pytest.mark.parametrize("name, command", [("jobdigest-run.service", "run"), ("jobdigest-web.service", "serve")])
def test_each_service_runs_a_digest_command_with_arguments_it_accepts(name, command):
    service = unit(name)["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[:2] == [INSTALLED, command]
    assert (service["EnvironmentFile"], service["WorkingDirectory"], service["StateDirectory"]) == (
        ENV_FILE, STATE_DIR, "jobdigest")
    cmd = main.get_command(main.make_context("digest", argv[1:2]), command)
    ctx = cmd.make_context(command, argv[2:])  # a usage error would raise here
    if command == "serve":
        assert (ctx.params["host"], ctx.params["port"]) == ("127.0.0.1", 8000)  # loopback, behind the proxy


def test_the_timer_starts_the_run_every_hour_and_catches_up_after_downtime():
    timer = unit("jobdigest-run.timer")
    assert timer["Timer"]["Unit"] == "jobdigest-run.service" and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    shown = subprocess.run([systemd_analyze(), "calendar", "--iterations=3", timer["Timer"]["OnCalendar"]],
                           capture_output=True, text=True, timeout=60, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert shown.returncode == 0, shown.stderr
    elapses = [datetime.strptime(m, "%Y-%m-%d %H:%M:%S")
               for m in re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", shown.stdout)]
    assert len(elapses) == 3 and all(e.minute == 0 and e.second == 30 for e in elapses)
    assert [b - a for a, b in zip(elapses, elapses[1:])] == [timedelta(hours=1)] * 2


def test_the_env_example_reads_the_same_in_sh_and_in_systemd_and_starts_nothing_without_a_key():
    example = DEPLOY / "jobdigest.env.example"
    sh = subprocess.run(["/bin/sh", "-c", f'set -a; . "{example}"; set +a; env'], capture_output=True, text=True,
                        timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert sh.returncode == 0 and sh.stderr == ""
    from_sh = dict(line.split("=", 1) for line in sh.stdout.splitlines() if line.startswith("DIGEST_"))
    settings = env_file(example)
    assert from_sh == settings
    assert settings["DIGEST_FROM"] == "Backend Jobs Weekly <digest@example.org>"
    assert settings["DIGEST_TRANSPORT"] == "smtp" and settings["DIGEST_SMTP_URL"].startswith("smtp+starttls://")
    # The placeholder key is refused (the transport set to one this check can build without a server).
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEYS: key 1 is 10 bytes"):
        Settings.from_env(settings | {"DIGEST_TRANSPORT": "outbox"})


def installed(tmp_path: Path, db_url: str) -> tuple[Path, dict[str, str]]:
    """The example env file as an operator fills it in (with the outbox: this test has no SMTP server)."""
    state = tmp_path / "state"
    state.mkdir()
    values = {"DIGEST_DATABASE_URL": db_url, "DIGEST_SECRET_KEYS": secrets.token_urlsafe(32),
              "DIGEST_TRANSPORT": "outbox", "DIGEST_OUTBOX_DIR": str(state / "outbox")}
    text = (DEPLOY / "jobdigest.env.example").read_text()
    for key, value in values.items():
        text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, count=1, flags=re.M)
        assert n == 1, key
    env = tmp_path / "jobdigest.env"
    env.write_text(text)
    return state, env_file(env) | {"_path": str(env)}


def test_the_crontab_line_and_the_service_run_digest_run_with_the_env_file(db_url, tmp_path, engine, add_listings,
                                                                          add_subscriber):
    now = datetime.now(UTC).replace(microsecond=0)  # cron and systemd run on the real clock
    add_listings(listing("py-1", verified_at=(now - timedelta(days=1)).isoformat()), at=now - timedelta(minutes=5))
    add_subscriber("ana@example.com", joined=now - timedelta(days=30))
    state, env = installed(tmp_path, db_url)

    [line] = [row for row in (DEPLOY / "crontab").read_text().splitlines() if row.strip() and not row.startswith("#")]
    *when, command = line.split(None, 5)
    assert when == ["0", "*", "*", "*", "*"]  # minute 0 of every hour
    command = command.replace(INSTALLED, DIGEST).replace(ENV_FILE, env["_path"]).replace(STATE_DIR, str(state))
    cron = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh"})  # cron's
    log = (state / "run.log").read_text()
    assert cron.returncode == 0, log
    assert re.search(r"^run [0-9a-f]{8} at .*: due 1, sent 1,", log, re.M), log
    [(key, message)] = read_outbox(state / "outbox").items()
    assert message["To"].addresses[0].addr_spec == "ana@example.com"

    # The service's command, with the environment systemd gives it: the same database, nothing due twice.
    argv = shlex.split(unit("jobdigest-run.service")["Service"]["ExecStart"].replace(INSTALLED, DIGEST))
    service = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=state,
                             env={k: v for k, v in env.items() if not k.startswith("_")} | {"PATH": "/usr/bin:/bin"})
    assert service.returncode == 0, service.stderr
    assert re.search(r": due 0, sent 0,", service.stdout), service.stdout
    with Session(engine) as s:
        assert [d.status for d in s.scalars(select(Delivery))] == ["sent"]
