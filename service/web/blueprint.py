"""The pages' blueprint and what every page request goes through: the session, the CSRF check, the key's rate
limit, the page policy, and errors shown as pages.

Order of checks for a request to a page: the app's own (request id, in-flight limit), then here: the session
cookie is looked up and the key behind it re-checked (revoked or expired: signed out); anything but the sign-in
page and the static files needs a session; every request that changes something (any method but GET/HEAD) must
carry the session's CSRF token (a form field, or the ``X-CSRF-Token`` header for script calls) and must not come
from another site (``Origin``, ``Sec-Fetch-Site``); and the key's rate limit applies as it does to the API.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from dataclasses import dataclass

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from service.errors import CODES, ApiError
from service.keys import ALL, Principal
from service.security import RateLimiter, retry_after
from service.web.sessions import SessionStore, SignedIn, same_token

log = logging.getLogger(__name__)

# Scripts and styles only from this service's own files: no inline script or style, nothing from elsewhere.
# Trusted Types: the page's script may not turn a string into HTML at all (it only sets text).
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PUBLIC_ENDPOINTS = ("web.sign_in", "web.static")
JSON_ENDPOINTS = ("web.job_progress",)
SESSION_COOKIE = "clinnlp_session"

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")


@dataclass
class WebState:
    sessions: SessionStore
    limiter: RateLimiter


def state():
    return current_app.extensions["clinnlp"]


def web_state() -> WebState:
    return current_app.extensions["clinnlp.web"]


def secure_cookies() -> bool:
    return request.is_secure or state().settings.secure_cookies


def cookie_name(base: str) -> str:
    # The __Host- prefix (HTTPS only) pins a cookie to this host and path: no sibling subdomain can set it.
    return f"__Host-{base}" if secure_cookies() else base


def set_cookie(response, base: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(cookie_name(base), value, max_age=max_age, path="/", secure=secure_cookies(), httponly=True,
                        samesite="Strict")


def signed_in() -> SignedIn | None:
    return g.get("web_session")


def require(scope: str) -> None:
    """Refuse (403) when the signed-in key lacks ``scope``, as the API would."""
    principal: Principal = g.principal
    if not principal.allows(scope):
        raise ApiError(403, f"this key may not use {scope} (it needs the {scope!r} scope)", {"scope": scope})


def new_signin_token() -> str:
    return secrets.token_urlsafe(32)


@bp.before_request
def check_request():
    if request.endpoint == "web.static":
        return None
    settings = state().settings
    session = web_state().sessions.get(request.cookies.get(cookie_name(SESSION_COOKIE)))
    principal = None
    if session is not None:
        if not settings.auth:
            principal = Principal("", frozenset({ALL}))  # as the API with auth off: every operation and jobs
        elif session.key_id:
            principal = state().keys.active(session.key_id)
        if principal is None:  # the key was revoked or expired since sign-in (or auth was turned on)
            web_state().sessions.end(request.cookies.get(cookie_name(SESSION_COOKIE)))
            session = None
    g.web_session, g.principal = session, principal
    g.key_id = session.key_id if session else None
    _same_site()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if session is None:
        if request.method in SAFE_METHODS and request.endpoint not in JSON_ENDPOINTS:
            return redirect(url_for("web.sign_in"), 303)
        raise ApiError(401, "you are signed out (the session ended): sign in again")
    if request.method not in SAFE_METHODS:
        given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
        if not same_token(given, session.csrf):
            raise ApiError(403, "this form is out of date or did not come from this site: reload the page and try "
                                "again", code="csrf")
    if session.key_id:
        wait = web_state().limiter.allow(session.key_id)
        if wait:
            raise ApiError(429, f"too many requests for this key: at most {settings.rate_limit} a minute",
                           {"retry_after_seconds": float(retry_after(wait))})
    return None


def _same_site() -> None:
    """Refuse state-changing requests that the browser says came from anywhere but this origin (defence in depth
    beside the CSRF token and the SameSite=Strict cookie). ``Sec-Fetch-Site`` is what modern browsers send;
    ``same-site`` is refused too, since another port or a sibling host is another application. Without it, a
    given ``Origin`` must be this one (``null``, which the no-referrer policy makes browsers send for this
    site's own forms, proves nothing either way and is left to the token)."""
    if request.method in SAFE_METHODS:
        return
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if fetch_site is not None:
        allowed = fetch_site in ("same-origin", "none")
    else:
        allowed = not origin or origin == "null" or origin.rstrip("/") == request.host_url.rstrip("/")
    if not allowed:
        raise ApiError(403, "this request came from another site", code="csrf")


@bp.after_request
def page_headers(response):
    # A view that serves something else (a mining report) sets its own policy first.
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    return response


@bp.app_template_global()
def csrf_token() -> str:
    session = signed_in()
    return session.csrf if session else ""


@bp.app_template_filter()
def percent(value: float) -> str:
    return f"{100 * float(value):.1f}%"


def _error_page(status: int, message: str, details=None):
    if request.endpoint in JSON_ENDPOINTS:
        response = jsonify({"error": {"code": CODES.get(status, "error"), "message": message,
                                      "details": details or {}}})
        response.status_code = status
        return response
    return render_template("error.html", status=status, message=message, details=details or {}), status


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    response = _error_page(error.status, error.message, error.details)
    if error.status in (429, 503):
        response = current_app.make_response(response)
        response.headers["Retry-After"] = retry_after(error.details.get("retry_after_seconds", 1))
    return response


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    return _error_page(error.code or 500, error.description or error.name)


@bp.errorhandler(Exception)
def unexpected(error: Exception):
    # The type and where it happened, never the message: it could quote a note.
    frames = "; ".join(f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(error.__traceback__))
    log.error("unexpected %s while handling a page at %s", type(error).__name__, frames)
    return _error_page(500, "the server failed to handle this request")
