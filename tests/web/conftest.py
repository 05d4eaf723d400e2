"""Fixtures for the pages: apps on a temporary state folder, a signed-in test client, the CSRF token of a page."""

from __future__ import annotations

import re

import pytest

from service.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture(scope="session")
def web_registry():
    from service.registry import Registry

    return Registry.load(("ohsumed-tfidf", "mtsamples-tfidf"), ("lead", "textrank"))


@pytest.fixture
def make_app(tmp_path, web_registry):
    apps = []

    def make(registry=None, **config):
        app = create_app({"state_dir": str(tmp_path / "state"), "rate_limit": 0, **config},
                         registry=registry or web_registry)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["clinnlp"].jobs.stop()


def token_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client, key: str | None):
    """Sign in through the form, as a browser does; returns the session's CSRF token (from the next page)."""
    form = client.get("/sign-in")
    answer = client.post("/sign-in", data={"csrf_token": token_of(form.get_data(as_text=True)), "key": key or ""})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    return token_of(client.get("/analyze").get_data(as_text=True))


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def key(app):
    return app.extensions["clinnlp"].keys.create("pages")[1]


@pytest.fixture
def signed_in(app, key):
    """A test client signed in through the sign-in form; ``.csrf`` is its session's token."""
    client = app.test_client()
    client.csrf = sign_in(client, key)
    return client
