"""The smtp transport against a real SMTP server on loopback (aiosmtpd, tests/support/smtp.py): STARTTLS or implicit
TLS with the certificate verified against the test's own CA, AUTH LOGIN/PLAIN required over TLS.

What the server received is compared with what the outbox transport writes for the same week: the same bytes.
"""

from __future__ import annotations

import email
import email.policy
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.settings import DEV_SECRET_KEY, Settings
from digest.carriers.smtp import make_smtp_transport
from digest.carriers.smtp_url import parse_smtp_url
from digest.carriers.choose import make_transport

from .conftest import NOW, read_outbox
from .support.serve import free_port
from .support.smtp import (
    KEY, SECRETS, USER, Mailhost, add_people, digest, ledger, make_certificates, smtp_env, week_listings,
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning",
                                        "ignore:Session.login_data is deprecated:DeprecationWarning")
STRICT = email.policy.default.clone(raise_on_defect=True)


# --- the week, through SMTP and through the outbox ------------------------------------------------------------


def test_a_run_delivers_every_digest_over_one_connection_as_the_same_bytes_the_outbox_writes(
        engine, db_url, taxonomy, add_listings, mailhost, tmp_path):
    from .reliability.crash_harness import reset_ledger

    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 230)  # more than a page (200): the connection outlives the page's transaction
    env = smtp_env(db_url, mailhost.url(), tmp_path / "unused-outbox")

    done = digest("run", "--now", NOW.isoformat(), env=env)
    assert done.exit_code == 0, done.output
    assert "due 230, sent 230, skipped-empty 0, failed 0" in done.stdout
    assert not (tmp_path / "unused-outbox").exists()

    got = mailhost.by_recipient()
    assert sorted(got) == sorted(ids) and all(len(copies) == 1 for copies in got.values())
    assert mailhost.connections == 1  # one connection for the whole run
    assert mailhost.logins == [("PLAIN", True)]  # logged in once, over TLS
    assert {r.mail_from for r in mailhost.received} == {"digest@example.com"}  # DIGEST_FROM's address
    rows = ledger(engine)
    for to, (r,) in got.items():
        msg = email.message_from_bytes(r.data, policy=STRICT)
        assert msg["To"].addresses[0].addr_spec == to
        row = rows[ids[to]]
        assert (row.status, row.message_id, row.transport_id) == ("sent", msg["Message-ID"], r.reply)

    # The same week again, on the outbox: each file holds exactly the bytes the SMTP server received.
    reset_ledger(engine)
    outbox = tmp_path / "outbox"
    done = digest("run", "--now", NOW.isoformat(), env=env | {"DIGEST_TRANSPORT": "outbox",
                                                             "DIGEST_OUTBOX_DIR": str(outbox)})
    assert done.exit_code == 0 and "sent 230" in done.stdout, done.output
    files = {p.stem: p.read_bytes() for p in outbox.rglob("*.eml")}
    by_id = {str(sid): got[to][0].data for to, sid in ids.items()}
    assert files.keys() == by_id.keys()
    assert all(files[k] == by_id[k] for k in files)  # no header added, nothing re-encoded or re-folded
    parsed = read_outbox(outbox)
    assert {m["Message-ID"] for m in parsed.values()} == {r.message_id for r in mailhost.received}
    some = got["reader001@example.org"][0]
    msg = email.message_from_bytes(some.data, policy=STRICT)
    assert msg.get_body(("plain",)).get_content().strip() and msg.get_body(("html",)) is not None
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_implicit_tls_with_auth_login_delivers_the_same_way(engine, db_url, taxonomy, add_listings, certs, tmp_path):
    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 12)
    with Mailhost(certs, tls="implicit", mechanisms=("LOGIN",)) as host:
        assert host.url().startswith("smtps://")
        done = digest("run", "--now", NOW.isoformat(), env=smtp_env(db_url, host.url(), tmp_path / "outbox"))
    assert done.exit_code == 0 and "sent 12" in done.stdout, done.output
    assert sorted(host.by_recipient()) == sorted(ids)
    assert (host.connections, host.logins) == (1, [("LOGIN", True)])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_relay_on_this_machine_takes_mail_in_clear_without_a_login(engine, db_url, taxonomy, add_listings, tmp_path):
    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 5)
    with Mailhost(None, tls=None) as relay:
        assert relay.url() == f"smtp://127.0.0.1:{relay.port}"
        done = digest("run", "--now", NOW.isoformat(), env=smtp_env(db_url, relay.url(), tmp_path / "outbox"))
    assert done.exit_code == 0 and "sent 5" in done.stdout, done.output
    assert sorted(relay.by_recipient()) == sorted(ids) and relay.logins == []


# --- refusing to start: one line, nobody claimed ------------------------------------------------------------------


def _refused(db_url: str, url: str, tmp_path, engine, **extra: str) -> str:
    done = digest("run", "--now", NOW.isoformat(), env=smtp_env(db_url, url, tmp_path / "outbox") | extra)
    assert done.exit_code == 1 and done.stdout == "", done.output
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert ledger(engine) == {}  # nothing claimed, so nothing waits for a lease
    for secret in SECRETS:
        assert secret not in done.stderr
    return done.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_server_that_cannot_take_mail_is_one_line_at_start(engine, db_url, taxonomy, add_listings, certs, mailhost,
                                                             tmp_path):
    week_listings(add_listings)
    add_people(engine, taxonomy, 3)
    shown = f"smtp+starttls://{USER}:***@127.0.0.1:{mailhost.port}"

    down = free_port()
    err = _refused(db_url, f"smtp+starttls://{USER}:x@127.0.0.1:{down}", tmp_path, engine)
    assert f"cannot start sending through smtp+starttls://{USER}:***@127.0.0.1:{down}" in err
    assert "ConnectionRefusedError" in err

    err = _refused(db_url, mailhost.url(password="wrong password"), tmp_path, engine)
    assert err.startswith(f"Error: cannot start sending through {shown}?cafile=") and "535" in err
    assert "wrong password" not in err and "wrong%20password" not in err

    # Verification stays on: the system's CAs do not know the test CA, and a certificate for another name is refused.
    err = _refused(db_url, mailhost.url(cafile=False), tmp_path, engine)
    assert "certificate verify failed" in err
    other = make_certificates(tmp_path / "other", hosts=("mail.other.example",))
    with Mailhost(other) as impostor:
        err = _refused(db_url, impostor.url().replace(str(other.ca), str(mailhost.certs.ca)), tmp_path, engine)
    assert "certificate verify failed" in err

    with Mailhost(None, tls=None) as no_tls:  # asked for STARTTLS, the server does not offer it: no mail in clear
        err = _refused(db_url, f"smtp+starttls://{USER}:pw@127.0.0.1:{no_tls.port}", tmp_path, engine)
    assert "STARTTLS extension not supported by server" in err and no_tls.received == []
    assert mailhost.received == []

    err = _refused(db_url, mailhost.url(), tmp_path, engine, DIGEST_SECRET_KEYS=DEV_SECRET_KEY)
    assert "the smtp transport refuses the development signing key" in err


@pytest.mark.parametrize("url, says", [
    ("smtp+starttls://u:secret-pw@mail.example.com:587", None),
    ("smtps://u:secret-pw@mail.example.com", None),
    ("smtp://127.0.0.1:25", None),
    ("http://u:secret-pw@mail.example.com", "must start with smtp+starttls://, smtps:// or smtp://"),
    ("smtps://u:secret-pw@:465", "names no server"),
    ("smtps://u:secret-pw@mail.example.com:99999", "has a port that is not a number from 1 to 65535"),
    ("smtps://u:secret-pw@mail.example.com:465/inbox", "must not have a path"),
    ("smtps://u@mail.example.com:465", "must give both a user name and a password"),
    ("smtps://ü:secret-pw@mail.example.com:465", "not ASCII"),
    ("smtp://u:secret-pw@mail.example.com:25", "sends in clear text, which is only for a relay on this machine"),
    ("smtps://u:secret-pw@mail.example.com:465?verify=no", "takes only ?cafile=PATH"),
    ("smtps://u:secret-pw@mail.example.com:465?cafile=/a&cafile=/b", "takes only ?cafile=PATH"),
    ("smtp://127.0.0.1:25?cafile=/etc/ca.pem", "has a cafile, which only a TLS connection uses"),
    ("smtps://u:secret-pw@mail.example.com:465?timeout=0", "has a timeout that is not a number of seconds"),
    ("smtps://u:secret-pw@mail.example.com:465\nX", "DIGEST_SMTP_URL"),
])
def test_settings_read_the_smtp_url_and_refuse_a_bad_one_in_one_line(url, says):
    env = {"DIGEST_TRANSPORT": "smtp", "DIGEST_SMTP_URL": url}
    if says is None:
        assert Settings.from_env(env).smtp_url == url
        assert "secret-pw" not in repr(Settings.from_env(env)) and "secret-pw" not in repr(parse_smtp_url(url))
        return
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    text = str(refused.value)
    assert says in text and "\n" not in text and "secret-pw" not in text
    assert text.startswith("DIGEST_SMTP_URL ") and "for example smtp+starttls://" in text


def test_the_url_defaults_and_the_transport_choice():
    assert [(s.host, s.port, s.tls) for s in map(parse_smtp_url, (
        "smtp+starttls://u:p@Mail.Example.com", "smtps://u:p@mail.example.com", "smtp://localhost",
        "smtp://[::1]:2525?timeout=5"))] == [("mail.example.com", 587, "starttls"), ("mail.example.com", 465, "implicit"),
                                             ("localhost", 25, None), ("::1", 2525, None)]
    assert parse_smtp_url("smtps://a%40b:p%2Fq@h?cafile=/etc/ca.pem").username == "a@b"
    assert parse_smtp_url("smtps://a%40b:p%2Fq@h?cafile=/etc/ca.pem").password == "p/q"
    with pytest.raises(ConfigError, match=r"^DIGEST_TRANSPORT=smtp needs DIGEST_SMTP_URL, for example "):
        Settings.from_env({"DIGEST_TRANSPORT": "smtp"})
    with pytest.raises(ConfigError, match=r"^DIGEST_TRANSPORT must be 'outbox', 'ses' or 'smtp', not 'sendmail'$"):
        Settings.from_env({"DIGEST_TRANSPORT": "sendmail"})
    with pytest.raises(ConfigError, match="DIGEST_BASE_URL must be the public https://"):
        make_smtp_transport(Settings(transport="smtp", smtp_url="smtp://127.0.0.1:25", secret_keys=(KEY,)))
    with pytest.raises(ConfigError, match="cafile /nonexistent/ca.pem: No such file"):
        make_smtp_transport(Settings(transport="smtp", smtp_url="smtps://u:p@127.0.0.1?cafile=/nonexistent/ca.pem",
                                     secret_keys=(KEY,), base_url="https://subs.example.com"))


def test_the_smtp_path_never_imports_boto3(mailhost):
    code = ("import sys; from digest.run import run; from digest.carriers.choose import make_transport; "
            "from digest.settings import Settings; "
            f"t = make_transport(Settings(transport='smtp', smtp_url={mailhost.url()!r}, secret_keys=({KEY!r},), "
            "base_url='https://subs.example.com')); t.close(); sys.exit('boto3' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert mailhost.connections == 1


def test_a_caller_that_never_closes_gets_a_connection_per_message_and_no_password_in_any_log_line(
        mailhost, caplog):
    """The web app's transport (autoclose) sends a confirmation now and then: it says QUIT after each."""
    settings = Settings(transport="smtp", smtp_url=mailhost.url(), secret_keys=(KEY,),
                        base_url="https://subs.example.com")
    caplog.set_level(logging.DEBUG, logger="digest")
    transport = make_transport(settings, autoclose=True)
    mailhost.script = lambda n, stage: "drop" if (n, stage) == (1, "MAIL") else None
    for to in ("a@example.net", "b@example.net"):
        assert transport.send(f"key-{to}", to, b"Subject: x\r\nMessage-ID: <1@example.com>\r\n\r\nhi\r\n")
    assert [r.rcpt_to for r in mailhost.received] == ["a@example.net", "b@example.net"]
    assert mailhost.connections == 4  # the start-up check, the dropped one, then one per message
    lines = [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    assert any("trying again" in line for line in lines)
    assert all(secret not in line for line in lines for secret in SECRETS)
    assert any(f"{USER}:***@127.0.0.1" in line for line in lines)
