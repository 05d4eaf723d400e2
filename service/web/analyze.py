"""The analysis page: a pasted note or an uploaded file, the chosen operations run by their own writers, results
beside the note with every span they point at marked in it."""

from __future__ import annotations

from pathlib import Path

import orjson
from flask import render_template, request

from nlp.documents import Document
from service.errors import ApiError
from service.fhir import documents_from_fhir, is_fhir
from service.inputs import (UPLOAD_SUFFIXES, checked_documents, documents_from_file, too_many, upload_name,
                            upload_stream, uploaded_file)
from service.observability import count_work
from service.web.blueprint import bp, require, state
from service.web.notes import render_note
from service.web.panels import available, field_name, form_defaults

PAGE_SUFFIXES = (*UPLOAD_SUFFIXES, ".json")


def read_page_documents(settings, document_fields: tuple[str, ...] = ()) -> tuple[list[Document], bool]:
    """The pasted note, or every record of the uploaded file (``.txt``, ``.csv``, ``.tsv``, ``.jsonl``, or a FHIR
    R4 ``.json`` resource), through the API's readers, checks and limits (raises :class:`ApiError`); and whether
    the note was pasted. ``document_fields``: record fields the chosen operations read beside id and text (an
    analysis reads each record's ``terms``)."""
    upload = request.files.get("file")
    text = request.form.get("text", "")
    if upload is not None and upload.filename:
        if text.strip():
            raise ApiError(422, "paste a note or choose a file, not both", {"field": "file"})
        if Path(upload.filename).suffix.lower() == ".json":
            documents = _fhir_upload(upload, settings)
        else:
            upload, suffix = uploaded_file()
            documents = documents_from_file(upload_stream(upload, suffix), settings, document_fields)
    elif text.strip():
        # Browsers send a text box's line breaks as CR LF; the note is read with the breaks as typed (LF), so
        # the offsets in the results are offsets in the text the page shows.
        documents = checked_documents([Document("note", text.replace("\r\n", "\n"), "form")], settings)
    else:
        raise ApiError(422, "paste a note or choose a file", {"field": "text"})
    if len(documents) > settings.max_documents:
        raise too_many(len(documents), settings)
    return documents, not (upload is not None and upload.filename)


def _fhir_upload(upload, settings) -> list[Document]:
    data = upload.stream.read()
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"{upload_name(upload)} is not valid JSON: {error.msg} (line {error.lineno})") from None
    if not isinstance(body, dict) or not is_fhir(body):
        raise ApiError(422, "a .json file must hold a FHIR R4 DocumentReference or Bundle with text/plain "
                            "attachments", {"field": "file"})
    return checked_documents(documents_from_fhir(body), settings)


def _chosen(panels) -> list:
    if request.method == "GET":
        return [panel for panel in panels if panel.default_on]
    wanted = request.form.getlist("run")
    return [panel for panel in panels if panel.operation in wanted]


@bp.route("/analyze", methods=["GET", "POST"])
def analyze():
    """Paste or upload; classify, summarize (and whatever else is plugged in) with the API's own writers."""
    service = state()
    panels = available(service)
    chosen = _chosen(panels)
    context = {"panels": panels, "chosen": {panel.operation for panel in chosen}, "form": request.form,
               "field_name": field_name, "defaults": {**form_defaults(service), "suffixes": PAGE_SUFFIXES}, "documents": [], "error": None,
               "text": request.form.get("text", "").replace("\r\n", "\n")}
    if request.method == "GET":
        return render_template("analyze.html", **context)
    try:
        if not chosen:
            raise ApiError(422, "choose at least one analysis to run", {"field": "run"})
        for panel in chosen:
            require(panel.operation)
        options = {panel.operation: panel.read(request.form, service) for panel in chosen}  # all checked first
        fields = tuple(dict.fromkeys(name for panel in chosen
                                     for name in getattr(panel.options_model, "document_fields", ())))
        documents, pasted = read_page_documents(service.settings, fields)
        count_work(len(documents), sum(len(d.text) for d in documents))
        outputs = {}
        for panel in chosen:
            outputs[panel.operation] = panel.run(options[panel.operation], service.registry, documents)
    except ApiError as error:
        return render_template("analyze.html", **{**context, "error": error}), error.status
    context["documents"] = [_document_view(number, document, chosen, outputs, service.registry, pasted)
                            for number, document in enumerate(documents)]
    return render_template("analyze.html", **context)


def _document_view(number: int, document: Document, chosen, outputs: dict, registry, pasted: bool) -> dict:
    prefix = f"d{number}"
    marks, regions, results = [], [], []
    for panel in chosen:
        header, per_document = outputs[panel.operation]
        result = per_document[number]
        view = panel.view(result, header, f"{prefix}-{panel.operation}", registry)
        marks += panel.marks(result, f"{prefix}-{panel.operation}", view)
        regions += panel.regions(result, f"{prefix}-{panel.operation}", view)
        results.append({"panel": panel, "result": result, "header": header, "view": view})
    layers = sorted({layer for panel in chosen for layer in panel.note_layers})
    title = "The pasted note" if pasted else f"Document {document.id}"
    return {"id": document.id, "title": title, "prefix": prefix, "number": number, "length": len(document.text),
            "note": render_note(document.text, marks, regions), "results": results, "layers": layers}
