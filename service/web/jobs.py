"""Batch jobs from the pages: upload a file as a job, watch its progress, download its results (JSON lines or
CSV) and its error manifest, cancel it, delete its files; the list of the signed-in key's jobs.

Everything goes through :class:`service.jobs.JobManager` as the ``/v1/jobs`` API does, with the same checks: the
upload's type, the operation's options (:func:`service.options.read_options`), the key's quota.
"""

from __future__ import annotations

from flask import current_app, g, jsonify, redirect, render_template, request, stream_with_context, url_for

from service.api import store_job
from service.errors import ApiError
from service.inputs import UPLOAD_SUFFIXES, upload_job_input, uploaded_file
from service.jobs import FINISHED
from service.options import OPERATIONS
from service.storage import ERRORS, RESULTS
from service.web.blueprint import bp, require, state
from service.web.downloads import results_csv
from service.web.panels import available, field_name, form_defaults


def _job(job_id: str) -> dict:
    status = state().jobs.status(job_id, g.key_id)
    if status is None:
        raise ApiError(404, "no such job (it does not exist, or it belongs to another key)")
    return status


def _list_context(error: ApiError | None = None) -> dict:
    service = state()
    panels = available(service)
    return {"jobs": service.jobs.list(g.key_id), "panels": panels, "operations": list(OPERATIONS),
            "field_name": field_name, "form": request.form, "error": error, "suffixes": UPLOAD_SUFFIXES,
            "defaults": form_defaults(service)}


@bp.get("/jobs")
def jobs():
    """The key's jobs, newest first, and the form to start one."""
    require("jobs")
    return render_template("jobs.html", **_list_context())


@bp.post("/jobs")
def submit():
    """Start a job from an uploaded file; answered with a redirect to the job's page."""
    try:
        require("jobs")
        operation = request.form.get("operation", "")
        panel = next((p for p in available(state()) if p.operation == operation), None)
        if panel is None:
            raise ApiError(422, f"'operation' must be one of {', '.join(OPERATIONS)}", {"field": "operation"})
        upload, suffix = uploaded_file()
        options = panel.read(request.form, state())  # checked before anything is written
        name, stored_suffix, fill = upload_job_input(upload, suffix)
        status = store_job(options, stored_suffix, name, fill)
    except ApiError as error:
        return render_template("jobs.html", **_list_context(error)), error.status
    return redirect(url_for("web.job", job_id=status["id"]), 303)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    """One job: status, a live progress bar, downloads, cancel."""
    require("jobs")
    return render_template("job.html", job=_job(job_id), finished=FINISHED)


@bp.get("/jobs/<job_id>/progress")
def job_progress(job_id: str):
    """The job's status as JSON, for the page's progress bar (the page cannot call /v1: it never holds the key)."""
    require("jobs")
    return jsonify(_job(job_id))


def _download(job_id: str, kind: str, as_csv: bool = False):
    require("jobs")
    status = _job(job_id)
    if not status["data"]["available"]:
        raise ApiError(410, f"this job's files were deleted on {status['data']['deleted']}")
    jobs_manager = state().jobs
    name = f"job-{job_id}-{kind}.{'csv' if as_csv else 'jsonl'}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Clinnlp-Job-Status": status["status"]}
    if as_csv:
        body = results_csv(lambda: jobs_manager.read(job_id, kind)[0])
        mimetype = "text/csv"
    else:
        body, complete = jobs_manager.read(job_id, kind)
        headers["Clinnlp-Results-Complete"] = "true" if complete else "false"
        mimetype = "application/x-ndjson"
    return current_app.response_class(stream_with_context(body), mimetype=mimetype, headers=headers)


@bp.get("/jobs/<job_id>/results.jsonl")
def job_results(job_id: str):
    return _download(job_id, RESULTS)


@bp.get("/jobs/<job_id>/results.csv")
def job_results_csv(job_id: str):
    return _download(job_id, RESULTS, as_csv=True)


@bp.get("/jobs/<job_id>/errors.jsonl")
def job_errors(job_id: str):
    return _download(job_id, ERRORS)


@bp.post("/jobs/<job_id>/cancel")
def cancel(job_id: str):
    """Cancel a queued or running job (its files stay until deleted or the retention period ends)."""
    require("jobs")
    if state().jobs.cancel(job_id, g.key_id) is None:
        raise ApiError(404, "no such job")
    return redirect(url_for("web.job", job_id=job_id), 303)


@bp.post("/jobs/<job_id>/delete")
def delete(job_id: str):
    """Delete the job's input, results and errors now (cancelling it first); its record stays."""
    require("jobs")
    if state().jobs.cancel(job_id, g.key_id, delete=True) is None:
        raise ApiError(404, "no such job")
    return redirect(url_for("web.job", job_id=job_id), 303)
