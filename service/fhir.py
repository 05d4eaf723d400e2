"""Documents from FHIR R4 resources: a ``DocumentReference``, or a ``Bundle`` of them, with ``text/plain``
attachments carried as base64 ``data``. Parsed and validated with the ``fhir.resources`` models (R4B)."""

from __future__ import annotations

from nlp.documents import Document
from service.errors import ApiError

TEXT_TYPES = ("text/plain",)


def is_fhir(body: dict) -> bool:
    return body.get("resourceType") in ("DocumentReference", "Bundle")


def documents_from_fhir(body: dict) -> list[Document]:
    """One document per ``text/plain`` attachment, id ``<DocumentReference id>`` (``/<n>`` after the first)."""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.documentreference import DocumentReference
    from pydantic import ValidationError

    try:
        if body["resourceType"] == "Bundle":
            bundle = Bundle.model_validate(body)
            references = [entry.resource for entry in bundle.entry or []
                          if entry.resource is not None and entry.resource.get_resource_type() == "DocumentReference"]
        else:
            references = [DocumentReference.model_validate(body)]
    except ValidationError as error:
        # Field paths and error kinds only: the input values could be patient text.
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["type"]} for e in error.errors()[:20]]
        raise ApiError(422, f"not a valid FHIR R4 {body['resourceType']}", {"errors": problems}) from None
    documents = []
    for number, reference in enumerate(references):
        base_id = reference.id or str(number + 1)
        texts = []
        for content in reference.content or []:
            attachment = content.attachment
            kind = (attachment.contentType or "").split(";")[0].strip().lower()
            if kind in TEXT_TYPES and attachment.data:
                try:
                    texts.append(bytes(attachment.data).decode("utf-8"))
                except UnicodeDecodeError:
                    raise ApiError(400, f"attachment of DocumentReference {base_id!r} is not valid UTF-8") from None
        for index, text in enumerate(texts):
            documents.append(Document(base_id if index == 0 else f"{base_id}/{index + 1}", text, f"fhir:{base_id}"))
    if not documents:
        raise ApiError(422, "no text/plain attachment with base64 data in the FHIR resource")
    return documents
