"""Every error is JSON ``{"error": {"code", "message", "details"}}`` with the right status; never a stack trace.

Messages name fields and limits, never the text that was sent.
"""

from __future__ import annotations

import logging
import traceback

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 410: "gone",
         413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests",
         500: "internal_error", 503: "unavailable"}


class ApiError(Exception):
    """An error to send to the client as JSON."""

    def __init__(self, status: int, message: str, details: dict | list | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.details = details or {}


def error_response(status: int, code: str, message: str, details=None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        # Werkzeug's descriptions are generic (no request content): safe to pass on. Its headers too
        # (405 must say which methods are allowed).
        response = error_response(status, CODES.get(status, "error"), error.description or error.name)
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        # The type and where it happened, never the message: it could quote a document.
        frames = "; ".join(f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(error.__traceback__))
        log.error("unexpected %s while handling a request at %s", type(error).__name__, frames)
        return error_response(500, "internal_error", "the server failed to handle this request")
