"""`digest subscribers add/import/list/show/export/remove` on SQLite and PostgreSQL, asserting on what an operator
reads back (show --json, list, export) and on the tables themselves after an erase."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.models import Delivery, Subscriber

from .conftest import read_outbox, NOW, listing
from .support.cli import digest, errors, json_lines, show

STACKS = "python, go, java, node, ruby, php, rust, kotlin, scala, elixir, csharp, cpp"
REGIONS = "us, canada, latam, europe, uk, africa, middle-east, asia, oceania, worldwide"
JOINED = NOW - timedelta(days=30)


def emails(engine) -> list[str]:
    with Session(engine) as s:
        return sorted(s.scalars(select(Subscriber.email)))


# -- add ------------------------------------------------------------------------------------------------

def test_add_with_every_preference_and_show_it(db_url, tmp_path):
    result = digest(db_url, tmp_path, "subscribers", "add", "Ana@Example.com", "--name", "Ana",
                    "--stack", "golang", "--stack", "Python", "--level", "Sr.", "--level", "mid",
                    "--region", "Europe", "--region", "UK", "--timezone", "Europe/Berlin", "--send-day", "friday",
                    "--send-hour", "7", "--min-salary", "90000", "--confirmed")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "added Ana@example.com (active)\n"
    # Looked up in any case; the preferences come back canonical.
    assert show(db_url, tmp_path, "ana@EXAMPLE.com") == show(db_url, tmp_path, "Ana@example.com") | {
        "email": "Ana@example.com", "name": "Ana", "status": "active", "stack": ["go", "python"],
        "level": ["mid", "senior"], "region": ["europe", "uk"], "timezone": "Europe/Berlin", "send_day": "friday",
        "send_hour": 7, "min_salary": 90000,
    }


def test_add_without_confirmed_is_pending_with_the_default_slot(db_url, tmp_path):
    result = digest(db_url, tmp_path, "subscribers", "add", "bo@example.com")
    assert result.stdout == "added bo@example.com (pending)\nsent 1 confirmation mail (pending until confirmed)\n"
    [(key, mail)] = read_outbox(tmp_path / "outbox").items()  # double opt-in: the confirmation is out
    assert key.startswith("confirm/") and mail["To"].addresses[0].addr_spec == "bo@example.com"
    assert "/confirm/" in mail.get_body(("plain",)).get_content()
    assert show(db_url, tmp_path, "bo@example.com") == show(db_url, tmp_path, "bo@example.com") | {
        "status": "pending", "stack": [], "level": [], "region": [], "timezone": "UTC", "send_day": "monday",
        "send_hour": 8, "confirmed_at": None,
    }


@pytest.mark.parametrize("args, message", [
    (["cy@example.com", "--stack", "cobol"], f"unknown stack 'cobol'; allowed: {STACKS}"),
    (["cy@example.com", "--stack", "go", "--stack", "cobol"], f"unknown stack 'cobol'; allowed: {STACKS}"),
    (["cy@example.com", "--level", "wizard"], "unknown level 'wizard'; allowed: intern, junior, mid, senior, lead"),
    (["cy@example.com", "--region", "Mars"], f"unknown region 'Mars'; allowed: {REGIONS}"),
    (["cy@example.com", "--timezone", "Mars/Olympus"],
     "timezone: unknown timezone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)"),
    (["not-an-email"], "email: An email address must have an @-sign."),
    (["cy@example..com"], "email: An email address cannot have two periods in a row."),
    (["ANA@example.com"], "ANA@example.com is already a subscriber (status active)"),
    (["cy@example.com", "--stack", "x" * 10_000], "stack: at most 50 values of at most 50 characters each"),
], ids=["stack", "one-bad-stack", "level", "region", "timezone", "email", "email-dots", "duplicate", "huge"])
def test_add_refuses_bad_values_in_one_line(args, message, db_url, tmp_path, engine):
    assert digest(db_url, tmp_path, "subscribers", "add", "ana@example.com", "--confirmed").exit_code == 0
    result = digest(db_url, tmp_path, "subscribers", "add", *args)
    assert result.exit_code == 1
    assert errors(result) == [f"Error: {message}"]
    assert result.stdout == ""
    assert emails(engine) == ["ana@example.com"]


# -- import ---------------------------------------------------------------------------------------------

def test_import_csv_reports_bad_rows_and_keeps_the_rest(db_url, tmp_path, engine):
    path = tmp_path / "subscribers.csv"
    path.write_text(
        "email,name,stack,level,region,timezone,send_day,send_hour,min_salary,confirmed\n"
        'eva@example.com,Eva,"golang, python",senior,europe,Europe/Paris,tuesday,9,120000,true\n'   # 2
        "not-an-email,Nobody,,,,,,,,true\n"                                                         # 3
        "EVA@Example.com,Eva again,,,,,,,,true\n"                                                   # 4
        "finn@example.com,Finn,,,,,,,,false\n"                                                      # 5
        "gus@example.com,Gus,cobol,,,,,,,true\n"                                                    # 6
        "hal@example.com,Hal,,,,Mars/Olympus,,,,true\n"                                             # 7
        'ida@example.com,"Ida, the second",node.js,,"us, canada",America/Toronto,,,,\n'             # 8
        "jo@example.com,Jo,,,,,someday,,,true\n",                                                   # 9
        encoding="utf-8",
    )
    result = digest(db_url, tmp_path, "subscribers", "import", str(path))
    assert result.exit_code == 1
    assert errors(result) == [
        f"{path}: line 3 (not-an-email): email: An email address must have an @-sign.",
        f"{path}: line 4 (EVA@Example.com): duplicate address (first on line 2); this one was skipped",
        f"{path}: line 6 (gus@example.com): unknown stack 'cobol'; allowed: {STACKS}",
        f"{path}: line 7 (hal@example.com): timezone: unknown timezone 'Mars/Olympus' "
        "(use an IANA name such as Europe/Berlin)",
        f"{path}: line 9 (jo@example.com): send_day: unknown day 'someday'; use monday … sunday",
    ]
    assert result.stdout == ("imported 3 subscribers (3 new, 0 updated); 5 rejected\n"
                             "sent 2 confirmation mails (pending until confirmed)\n")
    assert emails(engine) == ["eva@example.com", "finn@example.com", "ida@example.com"]
    assert show(db_url, tmp_path, "eva@example.com") == show(db_url, tmp_path, "eva@example.com") | {
        "name": "Eva", "status": "active", "stack": ["go", "python"], "level": ["senior"], "region": ["europe"],
        "timezone": "Europe/Paris", "send_day": "tuesday", "send_hour": 9, "min_salary": 120000,
    }
    assert show(db_url, tmp_path, "finn@example.com")["status"] == "pending"
    # An empty `confirmed` cell means "not confirmed", not a rejected row.
    assert show(db_url, tmp_path, "ida@example.com") == show(db_url, tmp_path, "ida@example.com") | {
        "name": "Ida, the second", "status": "pending", "stack": ["node"], "region": ["canada", "us"],
        "timezone": "America/Toronto",
    }

    listed = digest(db_url, tmp_path, "subscribers", "list")
    assert listed.stdout.splitlines() == [
        "eva@example.com\tactive\tgo,python\tEurope/Paris tue 09:00",
        "finn@example.com\tpending\tany\tUTC mon 08:00",
        "ida@example.com\tpending\tnode\tAmerica/Toronto mon 08:00",
    ]
    active = digest(db_url, tmp_path, "subscribers", "list", "--status", "active", "--json")
    assert [row["email"] for row in json_lines(active.stdout)] == ["eva@example.com"]


def test_import_jsonl_and_reimport_updates(db_url, tmp_path, engine):
    path = tmp_path / "subscribers.jsonl"
    rows = [
        {"email": "kim@example.com", "stack": ["golang", "Rust"], "region": "worldwide", "confirmed": True},  # 1
        {"email": "kim(at)example.com", "confirmed": True},                                                   # 2
        {"email": "KIM@example.COM", "stack": ["php"]},                                                       # 3
        {"email": "lu@example.com", "confirmed": False, "level": ["junior", "Mid-level"]},                    # 4
        {"name": "no address at all"},                                                                        # 5
        {"email": "mo@example.com", "timezone": None, "send_hour": 25},                                       # 6
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n", encoding="utf-8")       # 7
    result = digest(db_url, tmp_path, "subscribers", "import", str(path))
    assert result.exit_code == 1
    assert errors(result) == [
        f"{path}: line 2 (kim(at)example.com): email: An email address must have an @-sign.",
        f"{path}: line 3 (KIM@example.COM): duplicate address (first on line 1); this one was skipped",
        f"{path}: line 5: email: is required",
        f"{path}: line 6 (mo@example.com): send_hour: Input should be less than or equal to 23",
        f"{path}: line 7: malformed JSON: Expecting property name enclosed in double quotes at column 2",
    ]
    assert result.stdout == ("imported 2 subscribers (2 new, 0 updated); 5 rejected\n"
                             "sent 1 confirmation mail (pending until confirmed)\n")
    assert show(db_url, tmp_path, "kim@example.com") == show(db_url, tmp_path, "kim@example.com") | {
        "status": "active", "stack": ["go", "rust"], "region": ["worldwide"]}
    assert show(db_url, tmp_path, "lu@example.com") == show(db_url, tmp_path, "lu@example.com") | {
        "status": "pending", "level": ["junior", "mid"]}

    # Importing an existing (differently cased) address again updates that person, it does not add one.
    path.write_text(json.dumps({"email": "Kim@Example.com", "stack": "python", "confirmed": True}) + "\n",
                    encoding="utf-8")
    again = digest(db_url, tmp_path, "subscribers", "import", str(path))
    assert (again.exit_code, again.stderr) == (0, "")
    assert again.stdout == ("imported 1 subscribers (0 new, 1 updated); 0 rejected\n"
                            "changed for existing subscribers: stack 1 (empty cells keep, 'any' clears)\n")
    assert show(db_url, tmp_path, "kim@example.com")["stack"] == ["python"]
    assert show(db_url, tmp_path, "kim@example.com")["region"] == ["worldwide"]  # not in the row: kept
    assert emails(engine) == ["kim@example.com", "lu@example.com"]


def test_import_from_stdin_and_unreadable_files(db_url, tmp_path, engine):
    result = digest(db_url, tmp_path, "subscribers", "import", "-",
                    input="email,confirmed\nnia@example.com,yes\nnia@example.com,yes\n")
    assert result.exit_code == 1
    assert errors(result) == ["-: line 3 (nia@example.com): duplicate address (first on line 2); this one was skipped"]
    assert show(db_url, tmp_path, "nia@example.com")["status"] == "active"

    missing = digest(db_url, tmp_path, "subscribers", "import", str(tmp_path / "nope.csv"))
    assert (missing.exit_code, errors(missing)) == (1, [f"Error: {tmp_path / 'nope.csv'}: no such file"])
    xlsx = tmp_path / "list.xlsx"
    xlsx.write_bytes(b"PK\x03\x04")
    wrong = digest(db_url, tmp_path, "subscribers", "import", str(xlsx))
    assert (wrong.exit_code, errors(wrong)) == (1, [f"Error: {xlsx}: unknown file type '.xlsx'; use .jsonl, .json or .csv"])
    assert emails(engine) == ["nia@example.com"]


# -- export and remove ---------------------------------------------------------------------------------------

def test_export_shows_deliveries_and_remove_erases_them(db_url, tmp_path, engine):
    board = tmp_path / "board.jsonl"
    board.write_text("\n".join(json.dumps(r) for r in [
        listing("py-1", title="Senior Python Engineer", stack=["python"]),
        listing("go-1", title="Go Developer", stack=["golang"]),
    ]) + "\n", encoding="utf-8")
    assert digest(db_url, tmp_path, "listings", "import", str(board)).exit_code == 0
    for args in (["ana@example.com", "--stack", "python"], ["bo@example.com", "--stack", "go"]):
        added = digest(db_url, tmp_path, "subscribers", "add", *args, "--timezone", "UTC", "--confirmed", now=JOINED)
        assert added.exit_code == 0, added.stderr
    run = digest(db_url, tmp_path, "run", "--now", "2026-11-23T09:00:00Z")
    assert run.exit_code == 0, run.stderr
    assert "due 2, sent 2" in run.stdout

    exported = digest(db_url, tmp_path, "subscribers", "export", "ANA@example.com")
    assert (exported.exit_code, exported.stderr) == (0, "")
    data = json.loads(exported.stdout)
    assert data["subscriber"] | {"email": "ana@example.com", "status": "active", "stack": ["python"]} == data["subscriber"]
    [delivery] = data["deliveries"]
    assert delivery | {"period": "2026-W48", "status": "sent", "listings": ["py-1"]} == delivery
    assert delivery["message_id"].startswith("<") and delivery["sent_at"]

    with Session(engine) as s:
        ana = s.scalar(select(Subscriber.id).where(Subscriber.email == "ana@example.com"))
    removed = digest(db_url, tmp_path, "subscribers", "remove", "Ana@Example.com")
    assert (removed.exit_code, removed.stderr) == (0, "")
    assert removed.stdout == "removed ana@example.com and all data held about them (2 outbox files)\n"
    assert not list((tmp_path / "outbox").rglob(f"{ana}.*"))  # the .eml and .html of their week

    gone = digest(db_url, tmp_path, "subscribers", "show", "ana@example.com")
    assert (gone.exit_code, errors(gone)) == (1, ["Error: no subscriber with address ana@example.com"])
    with Session(engine) as s:
        count = lambda model, col: s.scalar(select(func.count()).select_from(model).where(col == ana))  # noqa: E731
        assert count(Subscriber, Subscriber.id) == 0
        assert count(Delivery, Delivery.subscriber_id) == 0
        # Only that person: the other subscriber keeps their history.
        [kept] = s.scalars(select(Delivery)).all()
        assert [board_id for board_id, _key in kept.listings] == ["go-1"]
    assert emails(engine) == ["bo@example.com"]


@pytest.mark.parametrize("command", ["show", "export", "remove"])
def test_an_unknown_address_is_one_line(command, db_url, tmp_path):
    assert digest(db_url, tmp_path, "subscribers", "add", "ana@example.com").exit_code == 0
    result = digest(db_url, tmp_path, "subscribers", command, "nobody@example.com")
    assert result.exit_code == 1
    assert errors(result) == ["Error: no subscriber with address nobody@example.com"]
    assert result.stdout == ""


def test_a_removed_persons_id_is_never_given_to_someone_new(db_url, tmp_path):
    """Links in old emails carry the subscriber id (and a token version that starts at 1 again): if a newcomer
    inherited the id of a removed person, that person's old unsubscribe link would act on the newcomer."""
    for address in ("ana@example.com", "bo@example.com"):
        assert digest(db_url, tmp_path, "subscribers", "add", address).exit_code == 0
    removed_id = show(db_url, tmp_path, "bo@example.com")["id"]
    assert digest(db_url, tmp_path, "subscribers", "remove", "bo@example.com").exit_code == 0
    assert digest(db_url, tmp_path, "subscribers", "add", "cy@example.com").exit_code == 0
    assert show(db_url, tmp_path, "cy@example.com")["id"] != removed_id


REFUSE = {
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON subscribers WHEN NEW.email_key = 'taken@example.com' "
               "BEGIN SELECT RAISE(ABORT, 'address taken meanwhile'); END"],
    "postgresql": ["CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF NEW.email_key = 'taken@example.com' THEN RAISE EXCEPTION 'address taken meanwhile'; END IF; "
                   "RETURN NEW; END $$",
                   "CREATE TRIGGER refuse BEFORE INSERT ON subscribers FOR EACH ROW EXECUTE FUNCTION refuse()"],
}


def test_a_row_the_database_refuses_costs_only_that_row(db_url, tmp_path, engine):
    """Say the same address signed up through the web form while the import ran: only that row is lost."""
    from sqlalchemy import text

    dialect = engine.dialect.name
    with engine.begin() as conn:
        for statement in REFUSE[dialect]:
            conn.execute(text(statement))
    try:
        path = tmp_path / "subscribers.csv"
        path.write_text("email,confirmed\nold@example.com,true\ntaken@example.com,true\nnew@example.com,false\n",
                        encoding="utf-8")
        result = digest(db_url, tmp_path, "subscribers", "import", str(path))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse" + (" ON subscribers" if dialect == "postgresql" else "")))
            if dialect == "postgresql":
                conn.execute(text("DROP FUNCTION refuse()"))
    assert result.exit_code == 1
    assert errors(result) == [f"{path}: line 3 (taken@example.com): the database refused it: address taken meanwhile"]
    assert result.stdout == ("imported 2 subscribers (2 new, 0 updated); 1 rejected\n"
                             "sent 1 confirmation mail (pending until confirmed)\n")
    assert emails(engine) == ["new@example.com", "old@example.com"]


@pytest.mark.parametrize("kind", ["rejected", "paused"])
def test_a_carrier_refusing_confirmation_mails_is_one_line_not_a_traceback(engine, settings, taxonomy, kind):
    """A refused address costs only that mail; a carrier that stops (paused, quota, unreachable) stops the
    mailing with one clear error, and whoever was not mailed is mailed by the next import."""
    from digest.errors import DigestError
    from digest.notices import confirm_pending
    from digest.subscribers import SubscriberIn, upsert
    from digest.carriers.base import TransportError
    from digest.carriers.null import RecordingTransport

    class Refusing(RecordingTransport):
        def send(self, key, to, raw, tags=None):
            if to == "b@example.com":
                raise TransportError("refused by the test", kind)
            return super().send(key, to, raw, tags)

    with Session(engine) as s:
        for who in ("a", "b", "c"):
            upsert(s, SubscriberIn.model_validate({"email": f"{who}@example.com"}), taxonomy, settings, JOINED)
        s.commit()
        carrier = Refusing()
        if kind == "rejected":
            assert confirm_pending(s, settings, taxonomy, carrier, NOW) == 2
        else:
            with pytest.raises(DigestError, match=r"confirmation mails stopped after 1 sent \(paused: refused by the test\)"):
                confirm_pending(s, settings, taxonomy, carrier, NOW)
        mailed = dict(s.execute(select(Subscriber.email, Subscriber.confirm_sent_at)).all())
    assert [to for _key, to, _raw in carrier.sent] == (["a@example.com", "c@example.com"] if kind == "rejected"
                                                        else ["a@example.com"])
    assert {e for e, at in mailed.items() if at is not None} == {to for _k, to, _r in carrier.sent}
    with Session(engine) as s:  # the next import mails the ones left (b again only if it was not refused for good)
        assert confirm_pending(s, settings, taxonomy, RecordingTransport(), NOW) == (1 if kind == "rejected" else 2)
