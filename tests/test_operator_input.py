"""Operator input that must not destroy or waste: a misconfigured outbox costs nobody an attempt; `digest serve`
on a port in use or an impossible host is one line (SQLite and PostgreSQL where a database is involved)."""

from __future__ import annotations

import socket

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.cli import main
from digest.runtime import Runtime
from digest.models import Delivery

from .conftest import NOW, listing, listing_ids, read_outbox
from .support.cli import digest, errors, show


def test_an_outbox_that_cannot_be_written_stops_the_run_before_anyone_is_claimed(db_url, tmp_path, engine,
                                                                                  add_listings, add_subscriber):
    add_listings(listing("py-1", title="Senior Python Engineer"))
    sid = add_subscriber("ana@example.com", stack=["python"])
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the outbox should be\n", encoding="utf-8")  # DIGEST_OUTBOX_DIR under a file
    env = {"DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX_DIR": str(blocker / "mail"), "DIGEST_TRANSPORT": "outbox"}
    from click.testing import CliRunner

    app = Runtime(clock=lambda: NOW)
    result = CliRunner().invoke(main, ["run", "--now", NOW.isoformat()], env=env, obj=app)
    if "engine" in app.__dict__:
        app.engine.dispose()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert errors(result) == [f"Error: the outbox {blocker / 'mail'} cannot be written: Not a directory"]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0  # nobody claimed, no attempt spent
    # Fixed, the next run sends as if the bad one never happened.
    blocker.unlink()
    fixed = digest(db_url, tmp_path, "run", "--now", NOW.isoformat())
    assert fixed.exit_code == 0, fixed.output
    assert listing_ids(read_outbox(tmp_path / "outbox")[f"2026-W48/{sid}"]) == ["py-1"]


def test_serve_on_a_port_in_use_or_an_impossible_host_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEYS", "k" * 32)  # off loopback the development key is refused first
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host, why in (("127.0.0.1", "Address already in use"), ("999.999.999.999", "")):
            result = digest(f"sqlite:///{tmp_path}/digest.db", tmp_path, "serve", "--host", host, "--port", str(port))
            assert result.exit_code == 1 and "Traceback" not in result.output
            assert len(errors(result)) == 1 and errors(result)[0].startswith(f"Error: cannot listen on {host}:{port}: ")
            assert why in errors(result)[0]


def test_importing_an_existing_person_merges_blank_keeps_and_any_clears(db_url, tmp_path, engine):

    first = tmp_path / "list.csv"
    first.write_text("email,stack,level,region,min_salary,hide_no_salary,confirmed\n"
                     "ana@example.com,go,senior,europe,120000,true,true\n"
                     "bo@example.com,python,junior,us,,,true\n", encoding="utf-8")
    assert digest(db_url, tmp_path, "subscribers", "import", str(first)).exit_code == 0
    # A row with only a stack (other columns blank or missing) must not erase level, region or the floor;
    # "any" clears exactly what it names.
    second = tmp_path / "update.csv"
    second.write_text("email,stack,level,region,min_salary\n"
                      "ana@example.com,rust,,,\n"
                      "bo@example.com,,any,,any\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "subscribers", "import", str(second))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "imported 2 subscribers (0 new, 2 updated); 0 rejected",
        "changed for existing subscribers: levels 1, stack 1 (empty cells keep, 'any' clears)"]
    ana, bo = show(db_url, tmp_path, "ana@example.com"), show(db_url, tmp_path, "bo@example.com")
    assert (ana["stack"], ana["level"], ana["region"], ana["min_salary"], ana["hide_no_salary"]) == (
        ["rust"], ["senior"], ["europe"], 120000, True)
    assert (bo["stack"], bo["level"], bo["region"], bo["min_salary"]) == (["python"], [], ["us"], None)


def test_subscribers_update_changes_only_what_it_is_given(db_url, tmp_path):

    assert digest(db_url, tmp_path, "subscribers", "add", "cy@example.com", "--stack", "go", "--level", "senior",
                  "--region", "europe", "--min-salary", "90000", "--confirmed").exit_code == 0
    result = digest(db_url, tmp_path, "subscribers", "update", "CY@example.com", "--region", "any", "--level", "lead")
    assert (result.exit_code, result.stdout) == (0, "updated cy@example.com: levels, regions\n")
    cy = show(db_url, tmp_path, "cy@example.com")
    assert (cy["stack"], cy["level"], cy["region"], cy["min_salary"], cy["status"]) == (
        ["go"], ["lead"], [], 90000, "active")
    same = digest(db_url, tmp_path, "subscribers", "update", "cy@example.com", "--level", "lead")
    assert same.stdout == "no change for cy@example.com\n"
    cleared = digest(db_url, tmp_path, "subscribers", "update", "cy@example.com", "--min-salary", "0")
    assert cleared.stdout == "updated cy@example.com: min_salary\n"
    assert show(db_url, tmp_path, "cy@example.com")["min_salary"] is None
    nobody = digest(db_url, tmp_path, "subscribers", "update", "nobody@example.com", "--level", "lead")
    assert (nobody.exit_code, errors(nobody)) == (1, ["Error: no subscriber with address nobody@example.com"])
    assert (digest(db_url, tmp_path, "subscribers", "update", "cy@example.com", "--stack", "cobol").exit_code,
            ) == (1,)


def test_role_employer_and_cadence_through_add_update_import_and_show(db_url, tmp_path):

    added = digest(db_url, tmp_path, "subscribers", "add", "dee@example.com", "--role", "Data-heavy", "--role", "api",
                   "--employer", "scale-up", "--cadence", "fortnightly", "--confirmed")
    assert added.exit_code == 0, added.output
    dee = show(db_url, tmp_path, "dee@example.com")
    assert (dee["role"], dee["employer"], dee["cadence"]) == (["api", "data"], ["scaleup"], "fortnightly")
    plain = digest(db_url, tmp_path, "subscribers", "add", "eli@example.com", "--confirmed")
    assert plain.exit_code == 0
    eli = show(db_url, tmp_path, "eli@example.com")
    assert (eli["role"], eli["employer"], eli["cadence"]) == ([], [], "weekly")  # any, any, every week

    updated = digest(db_url, tmp_path, "subscribers", "update", "dee@example.com", "--role", "any",
                     "--cadence", "weekly")
    assert (updated.exit_code, updated.stdout) == (0, "updated dee@example.com: roles, cadence\n")
    dee = show(db_url, tmp_path, "dee@example.com")
    assert (dee["role"], dee["employer"], dee["cadence"]) == ([], ["scaleup"], "weekly")

    # Import: an empty cell keeps, `any` clears, a value replaces.
    sheet = tmp_path / "more.csv"
    sheet.write_text("email,role,employer,cadence\n"
                     "dee@example.com,platform,,\n"
                     "eli@example.com,,\"startup, agency\",fortnightly\n"
                     "fay@example.com,data,any,\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "subscribers", "import", str(sheet))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "imported 3 subscribers (1 new, 2 updated); 0 rejected",
        "changed for existing subscribers: cadence 1, employers 1, roles 1 (empty cells keep, 'any' clears)"]
    dee, eli, fay = (show(db_url, tmp_path, f"{n}@example.com") for n in ("dee", "eli", "fay"))
    assert (dee["role"], dee["employer"], dee["cadence"]) == (["platform"], ["scaleup"], "weekly")
    assert (eli["role"], eli["employer"], eli["cadence"]) == ([], ["agency", "startup"], "fortnightly")
    assert (fay["role"], fay["employer"], fay["cadence"]) == (["data"], [], "weekly")
    cleared = tmp_path / "clear.jsonl"
    cleared.write_text('{"email": "eli@example.com", "employer": "any", "role": ["api"]}\n', encoding="utf-8")
    assert digest(db_url, tmp_path, "subscribers", "import", str(cleared)).exit_code == 0
    eli = show(db_url, tmp_path, "eli@example.com")
    assert (eli["role"], eli["employer"], eli["cadence"]) == (["api"], [], "fortnightly")


def test_unknown_roles_employers_and_cadences_name_the_allowed_values(db_url, tmp_path):
    for args, message in (
        (["--role", "frontend"], "Error: unknown role 'frontend'; allowed: api, data, platform"),
        (["--employer", "charity"], "Error: unknown employer 'charity'; allowed: startup, scaleup, enterprise, agency"),
        (["--cadence", "monthly"], "Error: Invalid value for '--cadence': 'monthly' is not one of 'weekly', "
                                   "'fortnightly'."),
    ):
        result = digest(db_url, tmp_path, "subscribers", "add", "gus@example.com", *args)
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert errors(result)[-1] == message
    sheet = tmp_path / "bad.csv"
    sheet.write_text("email,role,employer,cadence\n"
                     "a@example.com,frontend,,\n"
                     "b@example.com,,charity,\n"
                     "c@example.com,,,monthly\n"
                     "d@example.com,api,agency,weekly\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "subscribers", "import", str(sheet))
    assert result.exit_code == 1
    assert errors(result) == [
        f"{sheet}: line 2 (a@example.com): unknown role 'frontend'; allowed: api, data, platform",
        f"{sheet}: line 3 (b@example.com): unknown employer 'charity'; allowed: startup, scaleup, enterprise, agency",
        f"{sheet}: line 4 (c@example.com): cadence: unknown cadence 'monthly': use weekly or fortnightly"]
    assert result.stdout.startswith("imported 1 subscribers (1 new, 0 updated); 3 rejected")
