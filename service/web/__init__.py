"""The web pages: sign in, analyze a note, batch jobs, model cards, mining reports (``/`` beside the ``/v1`` API).

Server-rendered Jinja templates, one stylesheet and one small script from ``static/``; every result comes from
the same writers the API runs (:mod:`service.web.panels`). ``init_app`` adds the pages to the service's app.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for

from service.config import parse_duration
from service.security import RateLimiter
from service.web import analyze, auth, jobs, models, reports  # noqa: F401  (their views join the blueprint)
from service.web.blueprint import PAGE_POLICY, WebState, bp
from service.web.sessions import SessionStore

# Page requests that do the heavy work, held to the same in-flight limit as the API's operations.
HEAVY_PAGES = frozenset({"/analyze", "/jobs"})

__all__ = ["HEAVY_PAGES", "PAGE_POLICY", "init_app"]


@bp.get("/")
def home():
    return redirect(url_for("web.analyze"), 303)


def init_app(app: Flask, limiter: RateLimiter) -> None:
    """Register the pages on ``app`` (after ``app.extensions["clinnlp"]`` holds the service state)."""
    settings = app.extensions["clinnlp"].settings
    sessions = SessionStore(settings.database_url, parse_duration(settings.session_idle, "CLINNLP_SESSION_IDLE"),
                            parse_duration(settings.session_max, "CLINNLP_SESSION_MAX"))
    app.extensions["clinnlp.web"] = WebState(sessions, limiter)
    app.register_blueprint(bp)
