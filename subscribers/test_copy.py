"""The page every link of a test copy leads to (digest.compose.Composer.test_copy_url): it changes nothing.

Seed lists and deliverability services open and post to every link of what they receive, including the
List-Unsubscribe one-click POST: each gets a 200 and this page, and no subscriber is touched.
"""

from __future__ import annotations

from flask import abort, render_template

from .views import bp

LINKS = {"preferences": "preferences", "unsubscribe": "unsubscribe", "not-for-me": "“Not for me”",
         "hide-company": "“Hide company”"}


@bp.route("/test-copy/<link>", methods=["GET", "HEAD", "POST"])
def test_copy(link: str):
    if link not in LINKS:
        abort(404)
    return render_template("test_copy.html", what=LINKS[link])
