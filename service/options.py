"""Request options: one pydantic model per operation, read the same way from every place options come from.

The rule, for every input kind: options come from the query string and, for a JSON body or a multipart upload,
from the body's own fields (the form fields, or a JSON ``options`` form field). Naming the same option in two
places is an error, as is any field the operation does not know (422, naming it). Values in a JSON body must
have their JSON type (``true``, ``40``); values in the query string and form fields are text and are parsed
(``explain=false``, ``max_words=40``, ``sections=hpi,plan``). A job's saved options are these models' dumps.

Each model also resolves itself against what the process has loaded (the default model, the loaded
summarizers), builds the writer that does its work, and names the model whose batcher runs it: the API's
synchronous endpoints and the job runner call the same writer through the same batcher (:mod:`service.batching`),
so a result never has two implementations.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from nlp.privacy.recognizers import PHI_TYPES
from service.errors import ApiError


def _integral(value):
    # JSON has one number type: 40.0 is the whole number 40.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _comma_list(value):
    # The query string and form fields carry a list as "hpi,plan".
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()] if value.strip() else []
    return value


def _upper_list(value):
    value = _comma_list(value)
    return [item.upper() if isinstance(item, str) else item for item in value] if isinstance(value, list) else value


PositiveInt = Annotated[int, Field(ge=1), BeforeValidator(_integral)]


class Options(BaseModel):
    """What every operation's options share: unknown fields are refused, and nothing is null."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    operation: ClassVar[str]
    document_fields: ClassVar[tuple[str, ...]] = ()  # fields a document may have beside "id" and "text"

    def resolve(self, state) -> "Options":
        """The options with defaults filled in from the loaded models; raises :class:`ApiError`."""
        return self

    def writer(self, registry):
        """A callable ``documents -> list of result dicts`` that does this operation with the loaded models."""
        raise NotImplementedError

    def header(self, registry) -> dict:
        """Fields of the synchronous response beside ``results``."""
        return {}

    def batch_resource(self, registry) -> tuple | None:
        """The model whose batcher runs this operation (:mod:`service.batching`), or None to run it directly."""
        return None


# Without a configured default, a request that names no model gets a clinical-notes model (the service's main
# job), else the first loaded by name: which models happen to be in the folder must not change the answer.
CLINICAL_NOTES_DEFAULTS = ("mtsamples-ensemble", "mtsamples-tfidf", "mtsamples-transformer")


def default_classifier(classifiers) -> str | None:
    """The classifier a request that names none gets, when ``CLINNLP_DEFAULT_CLASSIFIER`` is not set."""
    return next((name for name in CLINICAL_NOTES_DEFAULTS if name in classifiers), None) or \
        next(iter(sorted(classifiers)), None)


def unknown_model(name: str, classifiers) -> ApiError:
    """The 404 for a classifier this service does not hold; it says so when the model is in the models folder but
    not loaded (one trained ``--not-served-by-default``, or left out of ``CLINNLP_CLASSIFIERS``)."""
    from nlp.model_store import ModelError, list_models

    try:
        in_folder = any(meta["name"] == name for meta in list_models())
    except ModelError:  # an unreadable model.json elsewhere in the folder: no hint, still a 404
        in_folder = False
    reason = " (it is in the models folder but this service does not load it: name it in CLINNLP_CLASSIFIERS)" \
        if in_folder else ""
    return ApiError(404, f"no model {name!r}{reason}", {"models": sorted(classifiers)})


class ClassifyOptions(Options):
    """Options of ``classify``.

    Attributes:
        model: A loaded classifier (default: the service's default classifier).
        explain: Add the terms behind each label, with offsets.
    """

    operation: ClassVar[str] = "classify"
    model: str = Field(default=None, min_length=1, description="a loaded classifier (default: the service default)",
                       json_schema_extra={"x-limit": "model"})
    explain: bool = Field(default=True, description="add the terms behind each label, with their offsets")
    deidentify: bool = Field(default=False, description="de-identify each document first (redact); explanation "
                             "offsets then refer to the de-identified text, returned as deidentified_text")

    def resolve(self, state) -> "ClassifyOptions":
        classifiers = state.registry.classifiers
        name = self.model or state.settings.default_classifier or default_classifier(classifiers)
        if name not in classifiers:
            raise unknown_model(name, classifiers)
        return self.model_copy(update={"model": name})

    def writer(self, registry):
        from nlp.batch import ClassificationWriter

        return ClassificationWriter(registry.classifiers[self.model], explain=self.explain)

    def header(self, registry) -> dict:
        model = registry.classifiers[self.model]
        return {"model": {"name": model.name, "version": model.version}}

    def batch_resource(self, registry) -> tuple | None:
        # Models that spread one batch over every core (transformers) gain from batching; a model that reads
        # through the shared clinical analyzer runs on that analyzer's thread; TF-IDF is cheap per document and
        # safe to share, so it runs in the request's thread.
        estimator = registry.classifiers[self.model].estimator
        if getattr(estimator, "uses_shared_analyzer", False):
            return ANALYZER
        return ("classify", self.model) if getattr(estimator, "threaded_inference", False) else None


class SummarizeOptions(Options):
    """Options of ``summarize``.

    Attributes:
        method: A loaded summarizer (default: ``extractive``).
        max_words: Hard cap on each summary's words.
        max_sentences: Cap on each summary's sentences.
        sections: Only these note sections (names or aliases).
    """

    operation: ClassVar[str] = "summarize"
    method: str = Field(default=None, description="extractive (default), lead, textrank or lexrank",
                        json_schema_extra={"x-limit": "method"})
    max_words: PositiveInt = Field(default=None, description="hard cap on each summary's words")
    max_sentences: PositiveInt = Field(default=None, description="cap on each summary's sentences")
    sections: Annotated[list[str], BeforeValidator(_comma_list)] = Field(
        default=None, min_length=1, description="only these note sections (in the query string or a form: comma-separated)")
    deidentify: bool = Field(default=False, description="de-identify each document first (redact); sentence "
                             "offsets then refer to the de-identified text, returned as deidentified_text")

    def resolve(self, state) -> "SummarizeOptions":
        summarizers = state.registry.summarizers
        method = self.method or ("extractive" if "extractive" in summarizers else next(iter(summarizers), None))
        if method not in summarizers:
            raise ApiError(422, f"unknown method {method!r}", {"field": "method", "methods": sorted(summarizers)})
        if self.sections is not None:
            if not self.sections:
                raise ApiError(422, "'sections' is empty: name one or more sections, or leave it out",
                               {"field": "sections"})
            from nlp.clinical.sections import resolve_sections

            try:
                resolve_sections(self.sections)
            except ValueError as error:
                raise ApiError(422, str(error), {"field": "sections"}) from None
        return self.model_copy(update={"method": method})

    def writer(self, registry):
        from nlp.batch import SummaryWriter

        return SummaryWriter(registry.summarizers[self.method], self.max_words, self.max_sentences, self.sections)

    def header(self, registry) -> dict:
        return {"method": self.method}

    def batch_resource(self, registry) -> tuple | None:
        # Every summarizer runs on its batcher's thread: its spaCy and torch objects are never shared by threads.
        return ("summarize", self.method)


class DeidentifyOptions(Options):
    """Options of ``deidentify``.

    Attributes:
        operator: ``redact`` (typed placeholders) or ``surrogate`` (realistic fakes, consistent per document).
        types: Only these identifier types (default: all).
    """

    operation: ClassVar[str] = "deidentify"
    operator: Literal["redact", "surrogate"] = Field(default="redact", description="redact ([NAME], [DATE], ...) "
                                                     "or surrogate (fakes, consistent per document, dates shifted)")
    types: Annotated[list[Literal[PHI_TYPES]], BeforeValidator(_upper_list)] = Field(
        default=None, min_length=1, description="only these identifier types (in the query string or a form: "
                                                "comma-separated; default: all)")

    def writer(self, registry):
        from nlp.batch import DeidentifyWriter
        from nlp.privacy import Deidentifier

        return DeidentifyWriter(Deidentifier(self.operator, self.types))

    def header(self, registry) -> dict:
        return {"operator": self.operator}

    def batch_resource(self, registry) -> tuple | None:
        # One spaCy and Presidio pipeline serves every de-identifier of the process: one thread runs it.
        return DEIDENTIFY

def _term_list(value):
    # Terms in the query string or a form: "edema,leg swelling".
    return _comma_list(value)


Term = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]


class AnalyzeOptions(Options):
    """Options of ``analyze``.

    Attributes:
        terms: More terms to look for in every document of the request (a document's own ``terms`` field
            adds more for it alone).
        lexicon: Also look for the packaged concepts (problems, findings, medications, procedures, anatomy).
    """

    operation: ClassVar[str] = "analyze"
    document_fields: ClassVar[tuple[str, ...]] = ("terms",)
    terms: Annotated[list[Term], BeforeValidator(_term_list)] = Field(
        default=None, max_length=100,
        description="terms to look for in every document (in the query string or a form: comma-separated)")
    lexicon: bool = Field(default=True, description="also look for the packaged concepts")

    def resolve(self, state) -> "AnalyzeOptions":
        if state.registry.analyzer is None:
            raise ApiError(404, "clinical analysis is not loaded in this service (CLINNLP_ANALYZER=false)")
        return self

    def writer(self, registry):
        from nlp.batch import AnalysisWriter
        from nlp.clinical.lexicon import record_terms

        try:
            terms = record_terms(self.terms, "terms")
        except ValueError as error:
            raise ApiError(422, str(error), {"field": "terms"}) from None
        return AnalysisWriter(registry.analyzer, terms, lexicon=self.lexicon)

    def header(self, registry) -> dict:
        from nlp.clinical.lexicon import lexicon_manifest

        return {"lexicon": {"version": lexicon_manifest()["version"], "used": self.lexicon}}

    def batch_resource(self, registry) -> tuple | None:
        # One analyzer (its spaCy and medspaCy objects) serves the process: one thread runs it.
        return ANALYZER

DEIDENTIFY = ("deidentify", "presidio")
ANALYZER = ("analyze", "clinical")

OPERATIONS: dict[str, type[Options]] = {cls.operation: cls for cls in (ClassifyOptions, SummarizeOptions,
                                                                        DeidentifyOptions, AnalyzeOptions)}


def _problem(error: dict, source: str, cls: type[Options]) -> tuple[str, str]:
    field = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "extra_forbidden":
        known = ", ".join(cls.model_fields)
        return field, f"unknown field {field!r} in the {source} for {cls.operation} (known: {known})"
    # pydantic's message names the expected type or bound; the input itself is never quoted.
    return field, f"{field!r} in the {source}: {error['msg'][0].lower()}{error['msg'][1:]}"


def _validate(cls: type[Options], values: dict, source: str, strict: bool) -> Options:
    try:
        return cls.model_validate(values, strict=strict)
    except ValidationError as error:
        problems = [_problem(e, source, cls) for e in error.errors(include_input=False, include_url=False)]
        raise ApiError(422, "; ".join(message for _, message in problems),
                       {"fields": [field for field, _ in problems]}) from None


def read_options(cls: type[Options], body: dict | None = None, text_fields: dict | None = None,
                 query: dict | None = None) -> Options:
    """Options of ``cls`` from a JSON body's fields, text fields (a form) and the query string.

    Raises:
        ApiError: 422 for an unknown field, a bad value, or an option given in two places.
    """
    sources = [("JSON body", body or {}, True), ("form", text_fields or {}, False),
               ("query string", query or {}, False)]
    seen: dict[str, str] = {}
    for source, values, _ in sources:
        for name in values:
            if name in seen:
                raise ApiError(422, f"option {name!r} is given in both the {seen[name]} and the {source}; give it once",
                               {"fields": [name]})
            seen[name] = source
    parsed = {}
    for source, values, strict in sources:
        if values:
            model = _validate(cls, values, source, strict)
            parsed.update({name: getattr(model, name) for name in model.model_fields_set})
    return cls.model_validate(parsed)
