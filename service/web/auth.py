"""Sign in with an API key (checked against the key store like any API request), sign out."""

from __future__ import annotations

from flask import g, make_response, redirect, render_template, request, url_for

from service.web.blueprint import (SESSION_COOKIE, bp, cookie_name, new_signin_token, secure_cookies, set_cookie,
                                   signed_in, state, web_state)
from service.web.sessions import same_token

SIGNIN_COOKIE = "clinnlp_signin"


def _form(status: int = 200, message: str | None = None):
    # The sign-in form's own CSRF token (there is no session yet): a random value in a SameSite=Strict cookie
    # that the form must send back, so another site cannot sign a browser in with the attacker's key.
    token = new_signin_token()
    response = make_response(render_template("sign_in.html", signin_token=token, message=message,
                                              auth=state().settings.auth), status)
    set_cookie(response, SIGNIN_COOKIE, token, max_age=3600)
    return response


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Sign in with an API key; the key is checked once and never stored (the session keeps the key's id)."""
    if request.method == "GET":
        if signed_in() is not None:
            return redirect(url_for("web.analyze"), 303)
        return _form()
    if not same_token(request.form.get("csrf_token"), request.cookies.get(cookie_name(SIGNIN_COOKIE), "")):
        return _form(403, "The sign-in form expired or your browser refused its cookie: try again (this page "
                          "needs cookies).")
    settings = state().settings
    if settings.auth:
        key = request.form.get("key", "").strip()
        principal = state().keys.check(key) if key else None
        if principal is None:
            return _form(401, "That API key is not valid (or it was revoked or has expired).")
        key_id = principal.id
    else:
        key_id = None
    sessions = web_state().sessions
    sessions.end(request.cookies.get(cookie_name(SESSION_COOKIE)))  # a new id at every sign-in
    session_id, _ = sessions.create(key_id)
    g.key_id = key_id  # the audit trail records who signed in
    response = redirect(url_for("web.analyze"), 303)
    set_cookie(response, SESSION_COOKIE, session_id)
    response.delete_cookie(cookie_name(SIGNIN_COOKIE), path="/")
    return response


@bp.post("/sign-out")
def sign_out():
    """End the session (its row is deleted) and clear the cookie."""
    web_state().sessions.end(request.cookies.get(cookie_name(SESSION_COOKIE)))
    response = redirect(url_for("web.sign_in"), 303)
    response.delete_cookie(cookie_name(SESSION_COOKIE), path="/", secure=secure_cookies(), httponly=True,
                           samesite="Strict")
    return response
