"""preview and test-send: the very digest the run would send, and nothing recorded."""

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.cli import main
from digest.models import Delivery
from digest.run import run

from .conftest import NOW, listing, listing_ids, read_outbox


def invoke(settings, *args):
    env = {"DIGEST_DATABASE_URL": settings.database_url, "DIGEST_OUTBOX_DIR": str(settings.outbox_dir)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def ledger_rows(engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Delivery))


def test_preview_is_byte_for_byte_what_the_run_sends(engine, settings, add_listings, add_subscriber, tmp_path):
    add_listings(listing("a", title="Senior Python Engineer"), listing("b", stack=["go"]))
    sid = add_subscriber("Ana@Example.com", name="Ana", stack=["python"])
    out = tmp_path / "ana.eml"
    result = invoke(settings, "preview", "ana@example.com", "--now", NOW.isoformat(), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert ledger_rows(engine) == 0 and not settings.outbox_dir.exists()
    run(settings, NOW, engine=engine)
    sent = (settings.outbox_dir / "2026-W48" / f"{sid}.eml").read_bytes()
    assert out.read_bytes() == sent


def test_preview_html_and_nothing_matches(engine, settings, add_listings, add_subscriber, tmp_path):
    add_listings(listing("a"))
    add_subscriber("r@example.com", stack=["rust"])
    add_subscriber("p@example.com")
    page = tmp_path / "p.html"
    assert invoke(settings, "preview", "p@example.com", "--now", NOW.isoformat(), "--out", str(page)).exit_code == 0
    assert page.read_text().startswith("<!doctype html") and 'lang="en"' in page.read_text()
    result = invoke(settings, "preview", "r@example.com", "--now", NOW.isoformat())
    assert result.exit_code == 0 and "nothing matches" in result.output


def test_test_send_goes_to_the_given_address_with_test_prefix_and_records_nothing(engine, settings, add_listings,
                                                                                   add_subscriber):
    add_listings(listing("a"), listing("b"))
    add_subscriber("ana@example.com")
    result = invoke(settings, "test-send", "ana@example.com", "--to", "ops@example.org", "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    msgs = read_outbox(settings.outbox_dir)
    assert len(msgs) == 1
    (key, msg), = msgs.items()
    assert key.startswith("test/")
    assert msg["Subject"].startswith("[TEST] ")
    assert msg["To"].addresses[0].addr_spec == "ops@example.org"
    assert sorted(listing_ids(msg)) == ["a", "b"]
    assert ledger_rows(engine) == 0
    # The real run still sends the subscriber their digest afterwards.
    assert run(settings, NOW, engine=engine)[1].sent == 1


def test_test_send_refuses_a_bad_address(engine, settings, add_subscriber):
    add_subscriber("ana@example.com")
    result = CliRunner().invoke(main, ["test-send", "ana@example.com", "--to", "not an address"],
                                env={"DIGEST_DATABASE_URL": settings.database_url})
    assert result.exit_code == 1 and "not a valid email address" in result.output


def test_remove_also_erases_their_outbox_copies(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"))
    gone = add_subscriber("gone@example.com")
    kept = add_subscriber("kept@example.com")
    assert invoke(settings, "test-send", "gone@example.com", "--to", "ops@example.org", "--now", NOW.isoformat()).exit_code == 0
    run(settings, NOW, engine=engine)
    result = invoke(settings, "subscribers", "remove", "gone@example.com")
    assert result.exit_code == 0 and "4 outbox files" in result.output  # the week's .eml + .html, the test send's .eml + .html
    assert set(read_outbox(settings.outbox_dir)) == {f"2026-W48/{kept}"}
    index = (settings.outbox_dir / "index.html").read_text()
    assert "gone@example.com" not in index and "kept@example.com" in index
    assert not list(settings.outbox_dir.rglob(f"{gone}.html"))


def test_a_test_copys_unsubscribe_button_cannot_unsubscribe_the_subscriber(engine, settings, add_listings,
                                                                            add_subscriber):
    from flask import Flask  # noqa: F401  (the web app is what the header's URL would reach)

    from digest.models import Subscriber
    from subscribers.app import create_app

    add_listings(listing("a"))
    sid = add_subscriber("ana@example.com")
    assert invoke(settings, "test-send", "ana@example.com", "--to", "ops@example.org", "--now", NOW.isoformat()).exit_code == 0
    [(_key, msg)] = read_outbox(settings.outbox_dir).items()
    assert msg["Feedback-ID"].startswith("test:")
    header_url = msg["List-Unsubscribe"].strip("<>")
    client = create_app(settings, engine).test_client()
    answer = client.post(header_url.replace(settings.base_url, ""), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 404  # a page that changes nothing
    with Session(engine) as s:
        assert s.get(Subscriber, sid).status == "active"
