"""Privacy over a whole week of real operations, on SQLite and PostgreSQL: no subscriber address in any log
record at INFO or above, no secret in any log record at all, a bad database URL never echoes its password,
and `subscribers export` / `remove` cover every table that holds a person's data (found from the models)."""

from __future__ import annotations

import json
import logging
import re
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core.exceptions import JsonRESTError
from moto.ses.models import SESBackend
from sqlalchemy import JSON, Table, inspect, select, text
from sqlalchemy.orm import Session

from digest import contact, db, lambdas, tokens
from digest.errors import ConfigError
from digest.models import Base, Delivery, Subscriber
from digest.run import run
from digest.settings import DEV_SECRET_KEY, Settings
from digest.carriers.ses import CLIENT_CONFIG, make_ses_transport
from digest.subscribers import address_hash
from digest.carriers.base import TransportError
from digest.carriers.null import RecordingTransport
from digest.carriers.outbox import OutboxTransport


from ..conftest import NOW, listing
from ..support.cli import digest as cli
from ..support.lambda_events import FakeContext, scheduled_event
from ..support.sns import TOPIC, notification, sign_event, signer, write
from ..support.web import FORM, ONE_CLICK, FakeClock, mail_link, make_app, parse_mail

SECRET_KEY, OLD_KEY = "sk-privacy-7f3c9a1e-5d0b2e8f4a6c1d3e", "sk-privacy-old-52ab-9c7e1f3a5b8d0e2f"
DB_PASSWORD = "pw-Privacy-91xq"
AWS_KEY_ID, AWS_SECRET = "AKIAPRIVACYTEST7Q2W", "aws-secret-Privacy-0c7d"
REGION = "us-east-1"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ses"

ANA, BO, CY, DEE, EVE, FAY, GUS = ("ana.lopez@example.com", "bo.chen@example.net", "cy.pending@example.org",
                                   "dee.web@example.com", "eve.bounce@example.org", "fay.complaint@example.net",
                                   "gus.rejected@example.org")
HAL, IDA, STRANGER, OPS = "hal.error@example.com", "ida.limited@example.com", "stranger@example.com", "ops@example.org"
ADDRESSES = (ANA, BO, CY, DEE, EVE, FAY, GUS, HAL, IDA, STRANGER, OPS)


# --- capturing every log record --------------------------------------------------------------------------------

class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: dict[int, logging.LogRecord] = {}  # by id: a record seen by two loggers counts once

    def emit(self, record: logging.LogRecord) -> None:
        self.records[id(record)] = record


@pytest.fixture
def captured():
    """Every record: the root logger at DEBUG, Powertools' logger, and SQL statements (an operator debugging)."""
    capture = Capture()
    levels = {"": logging.DEBUG, lambdas.logger.name: logging.DEBUG, "sqlalchemy.engine": logging.INFO}
    saved = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).addHandler(capture)
    yield capture
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).removeHandler(capture)


def everything_in(record: logging.LogRecord) -> str:
    """The record as any handler could write it: message, args, extra fields, exception, Powertools' JSON."""
    parts = [repr(vars(record))]
    try:
        parts.append(record.getMessage())
    except Exception:  # noqa: BLE001  (a broken format string still has its parts above)
        pass
    if record.exc_info:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    parts.append(logging.Formatter().format(record))
    if record.name == lambdas.logger.name:
        parts.append(lambdas.logger.registered_formatter.format(record))
    return "\n".join(parts).lower()


def leaks(records, needles, min_level: int) -> list[tuple[str, str, str]]:
    out = []
    for r in records:
        if r.levelno < min_level:
            continue
        blob = everything_in(r)
        out += [(r.name, r.levelname, n) for n in needles if n.lower() in blob]
    return out


# --- a week of operations ---------------------------------------------------------------------------------------

def with_password(url: str) -> str:
    """The test server trusts local connections, so a password in the URL is accepted and ignored."""
    if url.startswith("postgresql") and ":" not in url.split("://", 1)[1].split("@", 1)[0]:
        return url.replace("://postgres@", f"://postgres:{DB_PASSWORD}@", 1)
    return url


def sent_id(engine, address: str) -> str:
    """The carrier's id of the digest the ledger says went to this address (SES feedback names it)."""
    with Session(engine) as s:
        return s.scalars(select(Delivery.transport_id).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                         .where(Subscriber.email_key == address.lower(), Delivery.status == "sent")).first()


class FailsFor(RecordingTransport):
    """Refuses one address the way a provider does: naming it in the error."""

    def __init__(self, address: str, error=RuntimeError):
        super().__init__()
        self.address, self.error = address, error

    def send(self, key, to, raw, tags=None):
        if to.lower() == self.address.lower():
            raise self.error(f"MessageRejected: Email address is not verified. The following identities failed "
                             f"the check in region US-EAST-1: {to}")
        return super().send(key, to, raw, tags)


def web_steps(settings: Settings, engine, ids: dict[str, int]) -> None:
    """Sign up, confirm, save preferences, hit the limit, fail on a provider error, one-click unsubscribe."""
    transport = FailsFor(HAL)
    app = make_app(settings.with_(signup_limit=2), engine, transport=transport, clock=FakeClock(NOW))
    client = app.test_client(use_cookies=False)

    def post(path, data=None, ip="198.51.100.1", **kw):
        return client.post(path, data=data or {}, content_type=FORM, environ_base={"REMOTE_ADDR": ip}, **kw)

    assert post("/subscribe", {"email": DEE, "timezone": "UTC", "stack": "python"}).status_code == 200
    confirm = mail_link(parse_mail(transport.sent[-1][2]), "confirm")
    assert post(confirm).status_code == 200
    with Session(engine) as s:
        dee = s.scalar(select(Subscriber.id).where(Subscriber.email_key == DEE))
    prefs = f"/preferences/{tokens.sign(settings.secret_keys, 'preferences', dee, 1)}"
    assert client.get(prefs).status_code == 200
    assert post(prefs, {"stack": "python", "timezone": "Europe/Berlin", "send_day": "monday",
                        "send_hour": "8"}).status_code == 200
    # The provider's refusal comes after the answer (the mail leaves after it): logged by the mailer, not shown.
    assert post("/subscribe", {"email": HAL, "timezone": "UTC"}, ip="198.51.100.2").status_code == 200
    assert post("/subscribe", {"email": IDA, "timezone": "UTC"}).status_code == 200
    assert post("/subscribe", {"email": IDA, "timezone": "UTC"}).status_code == 429
    unsubscribe = f"/unsubscribe/{tokens.sign(settings.secret_keys, 'unsubscribe', ids[BO], 1)}"
    assert client.post(unsubscribe, data=ONE_CLICK, content_type=FORM).status_code == 200


def aws_steps(settings: Settings, engine, monkeypatch, tmp_path: Path) -> None:
    """Next week through SES (moto, one address refused by name), then the Lambda functions."""
    ses = boto3.client("sesv2", region_name=REGION, config=CLIENT_CONFIG)
    ses.create_email_identity(EmailIdentity="example.com")
    original = SESBackend.send_raw_email

    def refuse_gus(backend, source, destinations, raw_data):
        if GUS in destinations:
            error = JsonRESTError("MessageRejected", f"Email address is not verified. The following identities "
                                                     f"failed the check in region US-EAST-1: {GUS}")
            error.code = 400
            raise error
        return original(backend, source, destinations, raw_data)

    monkeypatch.setattr(SESBackend, "send_raw_email", refuse_gus)
    ses_settings = settings.with_(transport="ses", ses_rate=1000.0, ses_region=REGION)
    _, summary = run(ses_settings, NOW + timedelta(days=7), engine=engine,
                     transport=make_ses_transport(ses_settings, ses))
    assert summary.sent >= 1 and summary.failed_rejected == 1

    monkeypatch.setenv("DIGEST_QUEUE_URL", boto3.client("sqs").create_queue(QueueName="shards")["QueueUrl"])
    monkeypatch.setenv("DIGEST_SNS_TOPIC_ARN", TOPIC)
    lambdas.state.cache_clear()
    try:
        st = lambdas.state()
        st.settings = st.settings.with_(sns_cert_fetcher=signer().fetch)
        # A bounce for someone SES just carried a digest to (its SES id from the ledger), signed as SNS signs it.
        with Session(engine) as s:
            victim, ses_id = s.execute(
                select(Subscriber.email_key, Delivery.transport_id).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.status == "sent", Delivery.sent_at > NOW + timedelta(days=6),
                       Subscriber.email_key != ANA)).first()
        sns = (FIXTURES / "lambda-sns-event.json").read_text().replace("gone@example.com", victim)
        sns = sns.replace("0102018c2a5b1c2d-6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-000000", ses_id)
        event = sign_event(json.loads(sns.replace("happy@example.com", ANA)))
        assert lambdas.ses_events(event, FakeContext())["suppressed"] == 1
        sent = lambdas.test_send({"subscriber": ANA.upper(), "to": OPS, "now": "2026-12-07T09:00:00Z"}, FakeContext())
        assert sent["listings"] >= 1
        assert lambdas.schedule(scheduled_event("2026-12-07T09:00:00Z"), FakeContext())["due"] >= 1
    finally:
        lambdas.state().engine.dispose()
        lambdas.state.cache_clear()


def test_a_week_of_operations_logs_no_address_and_no_secret(db_url, tmp_path, captured, monkeypatch):
    url = with_password(db_url)
    for name, value in (("DIGEST_SECRET_KEYS", f"{SECRET_KEY},{OLD_KEY}"), ("DIGEST_DATABASE_URL", url),
                        ("DIGEST_OUTBOX_DIR", str(tmp_path / "outbox")), ("DIGEST_TRANSPORT", "outbox"),
                        ("DIGEST_BASE_URL", "https://subscribe.example.com"), ("AWS_ACCESS_KEY_ID", AWS_KEY_ID),
                        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET), ("AWS_DEFAULT_REGION", REGION),
                        ("POWERTOOLS_METRICS_NAMESPACE", "JobDigestTest")):
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "DIGEST_SSM_PREFIX", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()

    def operator(*args, now=NOW):
        result = cli(url, tmp_path, *args, now=now)
        assert result.exit_code == 0, result.stderr
        return result

    week_two = NOW + timedelta(days=7)
    operator("listings", "import", write(tmp_path / "listings.jsonl", [
        listing("py-1", stack=["python"]), listing("go-1", stack=["go"]),
        listing("py-2", stack=["python"], posted_at="2026-11-29T08:00:00Z", verified_at="2026-11-29T10:00:00Z"),
        listing("py-3", stack=["python"], posted_at="2026-12-06T08:00:00Z", verified_at="2026-12-06T10:00:00Z"),
    ]))
    operator("subscribers", "import", write(tmp_path / "people.jsonl", [
        {"email": ANA, "name": "Ana López", "stack": "python", "confirmed": True},
        {"email": BO, "stack": "go", "confirmed": True},
        {"email": CY, "stack": "python"},  # pending: gets a confirmation mail
        *({"email": a, "stack": "python", "confirmed": True} for a in (EVE, FAY, GUS)),
    ]))
    engine = db.make_engine(url)
    try:
        with Session(engine) as s:
            ids = dict(s.execute(select(Subscriber.email_key, Subscriber.id)).all())
        web_steps(settings, engine, ids)
        operator("preview", ANA, "--now", NOW.isoformat(), "--out", str(tmp_path / "preview.html"))
        operator("test-send", ANA, "--to", OPS, "--now", NOW.isoformat())
        operator("run", "--now", NOW.isoformat())
        operator("feedback", write(tmp_path / "feedback.jsonl", [
            notification("notification-bounce-transient.json", EVE, sent_id(engine, EVE)),
            notification("notification-complaint.json", FAY, sent_id(engine, FAY)),
            notification("notification-bounce-permanent.json", STRANGER, "m-stranger"),
        ]))
        with mock_aws():
            aws_steps(settings, engine, monkeypatch, tmp_path)
        operator("subscribers", "show", DEE, "--json")
        operator("subscribers", "list")
        assert ANA in operator("subscribers", "export", ANA).stdout
        operator("subscribers", "remove", ANA, now=week_two)
    finally:
        engine.dispose()

    records = list(captured.records.values())
    names = {r.name for r in records if r.levelno >= logging.INFO}
    # The capture saw the paths that could leak: our loggers, Powertools, the web app's error, SQL statements.
    assert {"digest.feedback", "digest.ses", "jobdigest", "subscribers.mailer", "subscribers.views",
            "sqlalchemy.engine.Engine"} <= names, names
    [crash] = [r for r in records if r.name == "subscribers.mailer" and r.levelno == logging.ERROR]
    assert "MessageRejected" in crash.getMessage() and f"<address {address_hash(HAL)[:12]}>" in crash.getMessage()
    assert any("INSERT INTO subscribers" in r.getMessage() for r in records if r.name.startswith("sqlalchemy"))
    assert leaks(records, ADDRESSES, logging.INFO) == []
    assert leaks(records, (SECRET_KEY, OLD_KEY, DB_PASSWORD, AWS_SECRET), logging.NOTSET) == []
    assert leaks(records, (AWS_KEY_ID,), logging.INFO) == []


# --- secrets in configuration errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://jobs:{DB_PASSWORD}@db.internal:notaport/jobs",
    f"postgresql+nosuchdriver://jobs:{DB_PASSWORD}@db.internal/jobs",
    f"postgresql+psycopg://jobs:{DB_PASSWORD}@127.0.0.1:1/jobs",
    f"postgresql+psycopg://jobs:{DB_PASSWORD.replace('-', '%2D')}@127.0.0.1:1/jobs",
], ids=["bad-port", "unknown-driver", "unreachable", "percent-encoded"])
def test_a_bad_database_url_is_one_line_without_its_password(url, tmp_path, captured):
    result = cli(url, tmp_path, "listings", "list")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "database" in line.lower()
    assert DB_PASSWORD not in line and DB_PASSWORD.replace("-", "%2D") not in line
    assert leaks(captured.records.values(), (DB_PASSWORD, DB_PASSWORD.replace("-", "%2D")), logging.NOTSET) == []


def test_an_error_that_quotes_the_url_is_masked_and_not_chained(monkeypatch):
    """Drivers and older SQLAlchemy versions quote the whole URL in their errors."""
    url = f"postgresql+psycopg://jobs:{DB_PASSWORD}@db.internal/jobs"

    def quoting(u, **_kw):
        raise ValueError(f"Could not parse SQLAlchemy URL from string '{u}'")

    monkeypatch.setattr(db, "create_engine", quoting)
    with pytest.raises(ConfigError) as e:
        db.make_engine(url)
    message = str(e.value)
    assert message == ("DIGEST_DATABASE_URL is not usable: ValueError: Could not parse SQLAlchemy URL from string "
                       "'postgresql+psycopg://jobs:***@db.internal/jobs'")
    assert DB_PASSWORD not in "".join(traceback.format_exception(e.value))


# --- export and remove cover every table that holds a person's data --------------------------------------------

NOT_A_PERSON = {
    # Keyed hash of a client network, pruned after an hour: it cannot be tied to any one person.
    "rate_limit_hits": "per-network counters",
}
ALIASES = {("subscribers", "levels"): "level", ("subscribers", "regions"): "region", ("subscribers", "roles"): "role",
           ("subscribers", "employers"): "employer"}
DERIVED = {("subscribers", "email_key"): "email"}  # the lower-cased address, exported as `email`


def links(table: Table, person_tables: dict[str, dict]) -> dict[str, str]:
    """How a table's rows are tied to a person: column -> subscriber | address | address_hash | <parent table>."""
    out = {}
    for c in table.columns:
        parents = {fk.column.table.name for fk in c.foreign_keys}
        if table.name == "subscribers" and c.primary_key:
            out[c.name] = "subscriber"
        elif "subscribers" in parents:
            out[c.name] = "subscriber"
        elif parents & set(person_tables):
            out[c.name] = next(iter(parents & set(person_tables)))
        elif "email" in c.name or "address" in c.name:
            out[c.name] = "address_hash" if "hash" in c.name else "address"
    return out


def person_tables() -> dict[str, dict]:
    """Every table that holds a person's data, from the models (parents before children)."""
    found: dict[str, dict] = {}
    for table in Base.metadata.sorted_tables:
        tied = links(table, found)
        if tied:
            found[table.name] = {"table": table, "links": tied}
    return found


def rows_of(conn, found: dict[str, dict], sid: int, address: str) -> dict[str, list[dict]]:
    """Each person table's rows that belong to the person with this id and address."""
    # Hashes of the address: the suppression list's plain one, and digest.contact's keyed ones (under any key).
    hashes = {address_hash(address)} | {contact.ref(k, address) for k in (SECRET_KEY, OLD_KEY, DEV_SECRET_KEY)}
    values = {"subscriber": {sid}, "address": {address.lower()}, "address_hash": hashes}
    out: dict[str, list[dict]] = {}
    for name, info in found.items():
        table = info["table"]
        rows = [dict(r._mapping) for r in conn.execute(select(table))]
        mine = []
        for row in rows:
            for column, kind in info["links"].items():
                value = row[column]
                wanted = values.get(kind) or {tuple(p[c.name] for c in found[kind]["table"].primary_key)[0]
                                              for p in out[kind]}
                if (value.lower() if isinstance(value, str) and kind == "address" else value) in wanted:
                    mine.append(row)
                    break
        out[name] = mine
    return out


def section(export: dict, name: str):
    for key in (name, name.removesuffix("s")):
        if key in export:
            return export[key]
    raise AssertionError(f"the export has no section for table {name} (keys: {sorted(export)})")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_exported(export: dict, name: str, table: Table, rows: list[dict], tied: dict[str, str]) -> None:
    entries = section(export, name)
    entries = entries if isinstance(entries, list) else [entries]
    assert len(entries) == len(rows), name
    for row in rows:
        entry = max(entries, key=lambda e: sum(comparable(v) in e.values() for v in row.values()))
        for c in table.columns:
            if c.foreign_keys or (c.primary_key and isinstance(row[c.name], int)):
                continue  # a row id and the link to the person: internal numbers, not their data
            if (name, c.name) in DERIVED:
                assert entry[DERIVED[name, c.name]].lower() == row[c.name], (name, c.name)
                continue
            key = ALIASES.get((name, c.name), c.name)
            assert key in entry, f"{name}.{c.name} is not in the export"
            if isinstance(row[c.name], (str, datetime)) and not isinstance(c.type, JSON):
                assert entry[key] == comparable(row[c.name]), (name, c.name)


def comparable(value):
    return iso(value) if isinstance(value, datetime) else value


def test_the_models_name_the_tables_that_hold_a_persons_data():
    found = person_tables()
    assert {"subscribers", "deliveries", "suppressions", "not_for_me", "hidden_companies"} <= set(found)
    for name in NOT_A_PERSON:
        assert name in Base.metadata.tables and name not in found
    assert found["suppressions"]["links"] == {"email_hash": "address_hash"}


def test_export_includes_and_remove_erases_every_table_with_a_persons_data(db_url, tmp_path):
    def operator(*args, now=NOW):
        result = cli(db_url, tmp_path, *args, now=now)
        assert result.exit_code == 0, result.stderr
        return result

    operator("listings", "import", write(tmp_path / "listings.jsonl", [
        listing("py-1", stack=["python"]),
        listing("py-2", stack=["python"], posted_at="2026-11-29T08:00:00Z", verified_at="2026-11-29T10:00:00Z"),
    ]))
    operator("subscribers", "import", write(tmp_path / "people.jsonl", [
        {"email": "Ana.Lopez@Example.com", "name": "Ana López", "stack": "python", "min_salary": 90000,
         "timezone": "Europe/Madrid"},  # pending: the confirmation mail is on its way
        {"email": BO, "name": "Bo Chen", "stack": "python", "confirmed": True},
    ]), now=NOW - timedelta(days=2))
    outbox = tmp_path / "outbox"
    [confirmation] = [p for p in outbox.rglob("*.eml") if p.parent.name == "confirm"]
    engine = db.make_engine(db_url)
    try:
        web = make_app(Settings(database_url=db_url, outbox_dir=outbox), engine,
                         transport=OutboxTransport(outbox), clock=FakeClock(NOW - timedelta(days=1)))
        confirm = mail_link(parse_mail(confirmation.read_bytes()), "confirm")
        assert web.test_client().post(confirm, content_type=FORM).status_code == 200
        operator("run", "--now", NOW.isoformat())
        # From her digest's cards: one job "not for me" (with a reason) and one company hidden.
        [digest] = [p for p in outbox.rglob("*.eml") if p.parent.name != "confirm" and ANA in p.read_text().lower()]
        feedback = re.findall(r"https?://[^/\s]+(/feedback/[A-Za-z0-9_-]+)", parse_mail(digest.read_bytes())
                              .get_body(("plain",)).get_content())
        client = web.test_client()
        assert client.post(feedback[0], data={"reason": "wrong_level"}, content_type=FORM).status_code == 200
        assert client.post(feedback[1], content_type=FORM).status_code == 200
        week_two = NOW + timedelta(days=7)
        rejected = FailsFor(ANA.lower(), error=lambda m: TransportError(m, "rejected"))
        run(Settings(database_url=db_url, outbox_dir=outbox), week_two, engine=engine, transport=rejected)
        operator("feedback", write(tmp_path / "feedback.jsonl", [
            notification("notification-bounce-transient.json", ANA, sent_id(engine, ANA)),
            notification("notification-complaint.json", ANA, sent_id(engine, ANA)),
        ]), now=week_two)
        with Session(engine) as s:
            ana = s.scalar(select(Subscriber).where(Subscriber.email_key == ANA))
            bo = s.scalar(select(Subscriber.id).where(Subscriber.email_key == BO))
            assert (ana.status, ana.bounce_count, ana.suppression_reason) == ("suppressed", 1, "complaint")
            ana_id = ana.id

        found = person_tables()
        with engine.connect() as conn:
            before = rows_of(conn, found, ana_id, ANA)
            others = rows_of(conn, found, bo, BO)
        assert all(before[name] for name in ("subscribers", "deliveries", "suppressions", "not_for_me",
                                             "hidden_companies"))
        assert {d["status"] for d in before["deliveries"]} == {"sent", "rejected"}

        exported = json.loads(operator("subscribers", "export", ANA).stdout)
        for name, info in found.items():
            assert_exported(exported, name, info["table"], before[name], info["links"])

        assert operator("subscribers", "remove", ANA, now=week_two).stdout.lower().startswith(f"removed {ANA}")
        with engine.connect() as conn:
            after = rows_of(conn, found, ana_id, ANA)
            assert rows_of(conn, found, bo, BO) == others  # nobody else touched
            tables = inspect(conn).get_table_names()
            stored = {t: repr(conn.execute(text(f'SELECT * FROM "{t}"')).all()).lower() for t in tables}
    finally:
        engine.dispose()
    # Kept on purpose: the suppression list's hash, so an old list imported again never mails her.
    assert after.pop("suppressions") == before["suppressions"]
    assert [(r["email_hash"], r["reason"]) for r in before["suppressions"]] == [(address_hash(ANA), "complaint")]
    # And her count of confirmation mails, under a keyed hash, so the lifetime cap survives her removal.
    assert after.pop("contact_counts") == before["contact_counts"] != []
    assert after == {name: [] for name in after}
    for table, content in stored.items():
        assert ANA not in content and "ana lópez" not in content, table
    for path in outbox.rglob("*"):
        if path.is_file():
            assert ANA not in path.read_text("utf-8", errors="replace").lower(), path
