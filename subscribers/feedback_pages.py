"""The feedback pages a digest card links to: "Not for me" and "Hide {company}", each with undo.

Mail scanners open every link in a message, so a GET only shows the choice and its button; the POST applies
it, and the page it returns offers undo (another POST). Hidden companies are listed, each with an unhide
button, on the preferences page (`hidden_companies` below is what its template calls).
"""

from __future__ import annotations

from flask import abort, make_response, render_template, request

from digest import listing_feedback as fb
from digest.errors import InputError
from digest.render import clean_text

from .context import core, error_page, session
from .views import _link, bp, load, require_form


def load_target(token: str) -> fb.Target:
    """What a feedback link is about; a bad, forged or revoked link is the usual 404, a removed job a 410."""
    try:
        return fb.target_for(session(), core().settings, token)
    except fb.GoneListing:
        abort(make_response(error_page(410, "This job is no longer listed",
                                       "The board has taken it down, so it will not be in your digests anyway.")))


def _page(t: fb.Target, token: str, *, done: bool, undone: bool = False, errors: list[str] = (),
          reason: str | None = None, status: int = 200):
    """The one page of a feedback link: the question with its button, or the choice made with its undo."""
    page = render_template(
        "feedback.html", token=token, purpose=t.purpose, done=done, undone=undone, errors=list(errors),
        title=clean_text(t.listing.title) or "Untitled role", company=clean_text(t.listing.company),
        reasons=fb.REASONS, reason=reason, preferences_url=_link("preferences", t.subscriber),
    )
    return page, status


def _reason(form) -> str | None:
    """The optional reason: at most one, and one of the offered ones (InputError otherwise)."""
    values = form.getlist("reason")
    if len(values) > 1:
        raise InputError("reason: choose one")
    return fb.check_reason(values[0].strip() if values else None)


@bp.get("/feedback/<token>")
def feedback_page(token: str):
    t = load_target(token)
    return _page(t, token, done=fb.marked(session(), t))


@bp.post("/feedback/<token>")
def feedback(token: str):
    """Apply the card's choice: this job is not for me (with a reason, if given), or hide its company."""
    require_form()
    t = load_target(token)
    s, now = session(), core().clock()
    reason = None
    if t.purpose == "not_for_me":
        try:
            reason = _reason(request.form)
        except InputError as e:
            return _page(t, token, done=False, errors=[str(e)], status=400)
        fb.not_for_me(s, t, reason, now)
    else:
        fb.hide_company(s, t, now)
    s.commit()
    return _page(t, token, done=True, reason=reason)


@bp.post("/feedback/<token>/undo")
def feedback_undo(token: str):
    """Take the choice back; the page offers it again (undoing twice is harmless)."""
    require_form()
    t = load_target(token)
    s = session()
    if t.purpose == "not_for_me":
        fb.undo_not_for_me(s, t)
    else:
        fb.unhide_company(s, t.subscriber.id, t.company_key)
    s.commit()
    return _page(t, token, done=False, undone=True)


@bp.post("/preferences/<token>/unhide")
def unhide(token: str):
    """Show a hidden company's listings again (the preferences page lists each with this button)."""
    require_form()
    sub = load(token, "preferences")
    keys = request.form.getlist("company")
    if len(keys) != 1 or not keys[0]:
        return error_page(400, "That did not work", "Choose one company to show again, from your preferences page.")
    s = session()
    name = fb.unhide_company(s, sub.id, keys[0])
    s.commit()
    return render_template("unhidden.html", company=clean_text(name) if name else None,
                           preferences_url=f"/preferences/{token}")


@bp.app_template_global()
def hidden_companies(sub) -> list[dict]:
    """The subscriber's hidden companies for the preferences page: a template global, so the preferences routes
    need not pass them (one small query per page view)."""
    return [{"key": row.company_key, "name": clean_text(row.company)}
            for row in fb.hidden_companies(session(), sub.id)]
