"""preview and test-send: the very digest the run would send, and nothing recorded."""

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.cli import main
from digest.models import Delivery
from digest.run import run

from .conftest import NOW, listing, listing_ids, read_outbox
from .support.cli import invoke


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


def test_preview_prints_the_text_part_and_raw_prints_the_message_the_run_sends(engine, settings, add_listings,
                                                                               add_subscriber):
    import email
    import email.policy

    add_listings(listing("a", title="Senior Python Engineer"), listing("b", title="Python Developer"))
    sid = add_subscriber("ana@example.com", name="Ana", stack=["python"])
    text = invoke(settings, "preview", "ana@example.com", "--now", NOW.isoformat())
    raw = CliRunner().invoke(main, ["preview", "ana@example.com", "--now", NOW.isoformat(), "--raw"],
                             env={"DIGEST_DATABASE_URL": settings.database_url,
                                  "DIGEST_OUTBOX_DIR": str(settings.outbox_dir)}, catch_exceptions=False)
    assert text.exit_code == 0 and raw.exit_code == 0
    run(settings, NOW, engine=engine)
    sent = email.message_from_bytes((settings.outbox_dir / "2026-W48" / f"{sid}.eml").read_bytes(),
                                    policy=email.policy.default)
    # Plain text a person reads (no quoted-printable, no headers), exactly the text part the run sent.
    assert text.stdout.rstrip("\n") == sent.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n")
    assert "Senior Python Engineer" in text.stdout and "=\n" not in text.stdout and "Subject:" not in text.stdout
    assert raw.stdout_bytes == (settings.outbox_dir / "2026-W48" / f"{sid}.eml").read_bytes()


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


def test_no_link_of_a_test_copy_can_change_the_real_subscriber(engine, settings, add_listings, add_subscriber):
    """A seed list or deliverability service opens and posts to every link of what it receives, the
    List-Unsubscribe one-click included: every one of them answers with the test-copy page, changing nothing."""
    import re

    from digest.models import HiddenCompany, NotForMe, Subscriber
    from subscribers.app import create_app

    from .support.web import FORM, MULTIPART, ONE_CLICK, ONE_CLICK_MULTIPART, parse_mail

    add_listings(listing("a", title="Senior Python Engineer"), listing("b", title="Python Developer"))
    sid = add_subscriber("ana@example.com", stack=["python"])
    assert invoke(settings, "test-send", "ana@example.com", "--to", "ops@example.org", "--now", NOW.isoformat()).exit_code == 0
    [(_key, msg)] = read_outbox(settings.outbox_dir).items()
    raw = msg.as_bytes()
    body = parse_mail(raw)
    texts = body.get_body(("plain",)).get_content() + body.get_body(("html",)).get_content()
    ours = re.escape(settings.base_url)
    links = set(re.findall(rf"{ours}(/[^\s\"'<>)]*)", texts)) | {msg["List-Unsubscribe"].strip("<>")[len(settings.base_url):]}
    assert links == {"/test-copy/preferences", "/test-copy/unsubscribe", "/test-copy/not-for-me",
                     "/test-copy/hide-company"}

    def person():
        with Session(engine) as s:
            sub = s.get(Subscriber, sid)
            return ((sub.status, sub.stack, sub.levels, sub.regions, sub.cadence, sub.paused_until, sub.unsubscribed_at,
                     sub.token_version, sub.updated_at),
                    s.scalar(select(func.count()).select_from(NotForMe)),
                    s.scalar(select(func.count()).select_from(HiddenCompany)))

    before = person()
    client = create_app(settings, engine).test_client()
    for path in sorted(links):
        for answer in (client.get(path), client.post(path, data=ONE_CLICK, content_type=FORM),
                       client.post(path, data=ONE_CLICK_MULTIPART, content_type=MULTIPART),
                       client.post(path, data={"reason": "not_interested", "stack": "go", "pause": "4"})):
            assert answer.status_code == 200 and b"test copy" in answer.data, path
    assert person() == before
    assert client.get("/test-copy/anything-else").status_code == 404
