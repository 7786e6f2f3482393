"""The routes. GET and HEAD only read; every change is a POST carrying a signed token."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache
from zoneinfo import available_timezones

from urllib.parse import unquote_to_bytes

from flask import Blueprint, abort, render_template, request

from digest import cadence, lifecycle, page_mail
from digest.schedule import slot_label, zone
from digest.settings import WEEKDAYS
from digest.subscribers import local_status
from digest.tokens import TokenExpired

from . import forms, limits
from .context import core, error_page, session

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))) + ["UTC"]


def choices() -> dict:
    taxonomy = core().taxonomy
    return dict(
        stacks=[(t, taxonomy.stack_label(t)) for t in taxonomy.stacks],
        levels=[(level, taxonomy.level_label(level)) for level in taxonomy.levels],
        regions=[(r, taxonomy.region_label(r)) for r in taxonomy.regions],
        roles=[(r, taxonomy.role_type_labels[r]) for r in taxonomy.role_types],
        employers=[(e, taxonomy.employer_type_labels[e]) for e in taxonomy.employer_types],
        cadences=[(c, cadence.LABELS[c].capitalize()) for c in cadence.CADENCES],
        timezones=timezones(), weekdays=list(enumerate(WEEKDAYS)), hours=range(24),
    )


def require_form() -> None:
    """Refuse bodies that are not a form (an empty body is fine: one-click clients may send none)."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if (request.content_length or chunked or request.mimetype) and request.mimetype not in FORM_TYPES:
        abort(415)
    if request.mimetype == FORM_TYPES[0]:
        # Werkzeug keeps invalid percent-escapes literally ("%FF" stays "%FF"): refuse non-UTF-8 instead.
        try:
            unquote_to_bytes(request.get_data(cache=True).replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            abort(400)
    request.form  # parse now, so a too-large or broken body fails here with 413/400  # noqa: B018


def load(token: str, purpose: str):
    """The subscriber a link is for; a link that does not verify (forged, truncated, revoked, other purpose or gone)
    raises TokenError, which the app answers with the same 404 page wherever it comes from."""
    sub, _claims = lifecycle.subscriber_for(session(), core().settings, token, purpose)
    return sub


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/")
@bp.get("/subscribe")
def subscribe_form():
    return render_template("subscribe.html", form={}, errors=[], **choices())


@bp.post("/subscribe")
def subscribe():
    require_form()
    c = core()
    try:
        data = forms.signup(request.form, c.taxonomy)
    except forms.FormError as e:
        return render_template("subscribe.html", form=request.form, errors=e.messages, **choices()), 400
    if (refused := over_limit()) is not None:
        return refused
    # Stored, answered, then handled after the answer (digest.page_mail): the same work and the same answer
    # whether the address is new, pending, active, unsubscribed or never to be mailed.
    _mail_after_answer(lambda s, now: page_mail.enqueue(s, "signup", now, email=data.email, data=data))
    return render_template("check_inbox.html", email=data.email)


def _mail_after_answer(store) -> None:
    """Store a request for page mail with the request's transaction, then hand it to the mailer."""
    c = core()
    s = session()
    request_id = store(s, c.clock()).id
    s.commit()
    c.mailer.submit(request_id)


def _confirmable(token: str, now):
    """The subscriber a confirmation link names and its sign-up, or the answer for a link that no longer works."""
    try:
        return lifecycle.confirmable(session(), core().settings, token, now), None
    except TokenExpired:
        return (None, None), (render_template("confirm_expired.html", token=token), 410)


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    (sub, signup), refused = _confirmable(token, core().clock())
    if refused:
        return refused
    done = sub.status == "active" and (signup is None or signup.confirmed_at is not None)
    return render_template("confirm.html", token=token, done=done)


@bp.post("/confirm/<token>")
def confirm(token: str):
    require_form()
    c = core()
    s, now = session(), c.clock()
    (sub, signup), refused = _confirmable(token, now)
    if refused:
        return refused
    if sub.status == "suppressed":
        return _suppressed()
    lifecycle.confirm(s, sub, signup, c.taxonomy, c.settings, now)
    s.commit()
    return render_template("confirmed.html", preferences_url=_link("preferences", sub),
                           first_digest=slot_label(cadence.next_digest(s, sub, now).at, sub.timezone),
                           then=cadence.LABELS.get(sub.cadence, cadence.LABELS["weekly"]))


@bp.post("/confirm/<token>/renew")
def confirm_renew(token: str):
    """Send a fresh confirmation link for an expired one (the old link still proves the mailbox), after the
    answer and within the address's caps, for the same sign-up."""
    require_form()
    c = core()
    sub, claims = lifecycle.subscriber_for(session(), c.settings, token, "confirm")
    if (refused := over_limit()) is not None:
        return refused
    _mail_after_answer(lambda s, now: page_mail.enqueue(s, "renew", now, subscriber_id=sub.id,
                                                        signup_id=claims.signup_id))
    return render_template("check_inbox.html", email=sub.email)


@bp.get("/manage")
def manage_form():
    return render_template("manage.html", form={}, errors=[])


@bp.post("/manage")
def manage():
    """Lost links: mail a subscriber their preferences and unsubscribe links. The same answer, the same work and
    the same time whatever the address; the mail (if any) leaves after the answer, within the same caps."""
    require_form()
    try:
        email = forms.email_only(request.form)
    except forms.FormError as e:
        return render_template("manage.html", form=request.form, errors=e.messages), 400
    if (refused := over_limit()) is not None:
        return refused
    _mail_after_answer(lambda s, now: page_mail.enqueue(s, "manage", now, email=email))
    return render_template("manage_sent.html", email=email)


@bp.get("/preferences/<token>")
def preferences_page(token: str):
    sub = load(token, "preferences")
    return _preferences_page(token, sub, core().clock())


def _preferences_page(token: str, sub, now, form=None, errors: list[str] | None = None, saved: bool = False):
    """The preferences form as stored (or as just posted, with what is wrong), and what their status means:
    someone who left is told so and offered the way back instead of a promise of digests."""
    return render_template("preferences.html", token=token, sub=sub, form=form, errors=errors or [], saved=saved,
                           status=local_status(sub, now), unsubscribe_url=_link("unsubscribe", sub),
                           can_undo=lifecycle.can_undo(sub, now), **choices())


@bp.post("/preferences/<token>")
def preferences(token: str):
    require_form()
    c = core()
    sub = load(token, "preferences")
    now = c.clock()
    today = now.astimezone(zone(sub.timezone)).date()
    try:
        prefs = forms.preferences(request.form, c.taxonomy, sub.email, today)
    except forms.FormError as e:
        return _preferences_page(token, sub, now, form=request.form, errors=e.messages), 400
    s = session()
    lifecycle.save_preferences(s, sub, prefs.data, c.taxonomy, c.settings, now, prefs.paused_until)
    s.commit()
    return _preferences_page(token, sub, now, saved=True)


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    sub, current = load_unsubscribe(token)
    if lifecycle.awaits_consent(session(), sub):  # from a confirmation mail: "never email this address"
        return render_template("unsubscribe.html", token=token, sub=sub, done=False, never=True, reasons={})
    return render_template("unsubscribe.html", token=token, sub=sub, done=sub.status == "unsubscribed",
                           **_offers(sub, current))


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    """Unsubscribe at once: the page's button (with the optional reason) and RFC 8058 one-click (200, no
    redirect, repeatable; a one-click body carries no reason and needs none)."""
    require_form()
    sub, current = load_unsubscribe(token)
    try:
        reason = forms.unsubscribe_reason(request.form)
    except forms.FormError as e:
        return render_template("unsubscribe.html", token=token, sub=sub, done=sub.status == "unsubscribed",
                               errors=e.messages, **_offers(sub, current)), 400
    c = core()
    now = c.clock()
    never = lifecycle.leave(session(), c.settings, sub, now, reason)  # maybe "never email this address"
    session().commit()
    offers = _offers(sub, current) | ({"can_undo": False, "preferences_url": None} if never else {})
    return render_template("unsubscribe.html", token=token, sub=sub, done=True, never=never, **offers)


@bp.post("/unsubscribe/<token>/fortnightly")
def fortnightly(token: str):
    """The unsubscribe page's first offer: a digest every two weeks instead, staying subscribed."""
    sub = load_offer(token)
    s, now = session(), core().clock()
    lifecycle.set_cadence(sub, "fortnightly", now)
    s.commit()
    return render_template("fortnightly.html", sub=sub, preferences_url=_link("preferences", sub),
                           next_digest=slot_label(cadence.next_digest(s, sub, now).at, sub.timezone),
                           resubscribe_url=f"/unsubscribe/{token}/resubscribe", can_undo=lifecycle.can_undo(sub, now))


@bp.post("/unsubscribe/<token>/pause")
def pause(token: str):
    sub = load_offer(token)
    c = core()
    now = c.clock()
    until = now.astimezone(zone(sub.timezone)).date() + lifecycle.PAUSE_DEFAULT
    lifecycle.pause(sub, until, now)
    session().commit()
    return render_template("paused.html", until=until, preferences_url=_link("preferences", sub))


@bp.post("/unsubscribe/<token>/resubscribe")
def resubscribe(token: str):
    sub = load_offer(token)
    if sub.status == "suppressed":
        return _suppressed()
    now = core().clock()
    if sub.status == "unsubscribed" and not lifecycle.can_undo(sub, now):
        return error_page(410, "This undo has expired",
                          "You unsubscribed a while ago, so coming back takes a new sign-up: we will send a "
                          "confirmation email.")
    lifecycle.resubscribe(sub, now)
    session().commit()
    return render_template("resubscribed.html", preferences_url=_link("preferences", sub))


def load_unsubscribe(token: str):
    """The subscriber an unsubscribe link is for, and whether the link is current (not revoked)."""
    sub, claims = lifecycle.subscriber_for(session(), core().settings, token, "unsubscribe")
    return sub, lifecycle.current_link(sub, claims)


def load_offer(token: str):
    """For the unsubscribe page's offers (every two weeks, pause, come back): the form's subscriber, through a
    current link only (a revoked link may only unsubscribe)."""
    require_form()
    sub, current = load_unsubscribe(token)
    if not current:
        abort(404)
    return sub


def _offers(sub, current: bool) -> dict:
    """What an unsubscribe page may offer besides unsubscribing (nothing, and not even the address, through a
    revoked link), and the reasons it asks about."""
    return dict(current=current, preferences_url=_link("preferences", sub) if current else None,
                can_undo=current and lifecycle.can_undo(sub, core().clock()),
                fortnightly=sub.cadence != "fortnightly", reasons=lifecycle.UNSUBSCRIBE_REASONS)


def over_limit():
    """Count a request that may send a confirmation mail; the 429 page when its network is over the limit.

    Counted in the request's transaction (a refusal rolls all of it back, a failure counts nothing) and never
    depending on the address, so the answer reveals nothing about it.
    """
    c = core()
    settings = c.settings
    key = limits.client_key(settings.secret_keys[0], limits.client_ip(request.environ, settings.trusted_proxies))
    s = session()
    decision = limits.hit(s, limits.SIGNUP, key, settings.signup_limit, timedelta(seconds=settings.signup_window),
                          c.clock())
    if decision.allowed:
        return None
    s.rollback()
    log.info("sign-up refused: client over its limit", extra={"client": key[:16], "retry_after": decision.retry_after})
    minutes = max(1, -(-decision.retry_after // 60))
    page = render_template("too_many.html", limit=settings.signup_limit, per=_duration(settings.signup_window),
                           minutes=minutes)
    return page, 429, {"Retry-After": str(decision.retry_after)}


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"


def _suppressed():
    return error_page(400, "We cannot email this address",
                      "Mail to this address bounced or was reported as spam, so we stopped sending to it.")


def _link(purpose: str, sub) -> str:
    from digest import tokens

    settings = core().settings
    return f"/{purpose}/{tokens.sign(settings.secret_keys, purpose, sub.id, sub.token_version)}"


