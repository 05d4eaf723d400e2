"""The analysis page's panels: one per operation, each a form part, a result part and the spans it marks in the
note.

A panel does no work of its own: it reads its options with :func:`service.options.read_options` (the API's
validation and messages) and runs the writer its options model builds through :func:`service.api.run_writer`,
as the API does (the jobs run the same writer). What
it adds is presentation: which spans of the note its results point at (:class:`service.web.notes.Mark` for
highlighted spans, :class:`service.web.notes.Region` for spans that links jump to) and the template that shows
them. A new operation (clinical analysis, de-identification) plugs in as one more :class:`Panel` in
:data:`PANELS`; the page, the note view and the tests iterate over whatever is registered and loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from service.errors import ApiError
from service.options import OPERATIONS, ClassifyOptions, Options, SummarizeOptions, read_options
from service.web.notes import Mark, Region

# Label colours and underline patterns (the page's stylesheet defines s0..s4); a sixth label reuses the first.
STYLES = 5


def field_name(operation: str, name: str) -> str:
    """A form control's name: the operation first, so every panel's fields live in one form."""
    return f"{operation}-{name}"


@dataclass
class Panel:
    """How one operation appears on the analysis page.

    Attributes:
        operation: A key of :data:`service.options.OPERATIONS`.
        title: The panel's heading.
        form_template: Template of the panel's option controls (names from :func:`field_name`).
        result_template: Template of one document's result (gets ``result``, ``view`` and ``doc``).
        checkboxes: Option fields that are checkboxes: an unticked box sends nothing, so the form carries a hidden
            ``false`` before each (a form without the field at all leaves the option at its default).
        default_on: Ticked on a first visit.
    """

    operation: str
    title: str
    form_template: str
    result_template: str
    checkboxes: tuple[str, ...] = ()
    default_on: bool = True
    note_layers: tuple[str, ...] = field(default_factory=tuple)

    @property
    def options_model(self) -> type[Options]:
        return OPERATIONS[self.operation]

    def read(self, form: MultiDict, state) -> Options:
        """This panel's options from the submitted form, validated and resolved as the API does (raises
        :class:`service.errors.ApiError` with the API's message)."""
        values = {}
        for name in self.options_model.model_fields:
            given = form.getlist(field_name(self.operation, name))
            if name in self.checkboxes and given:  # a hidden "false" comes first, the ticked box's "true" after
                values[name] = "true" if "true" in given else "false"
            elif given and given[-1].strip():
                values[name] = given[-1].strip()
        return read_options(self.options_model, text_fields=values).resolve(state)

    def run(self, options: Options, registry, documents) -> tuple[dict, list[dict]]:
        """The API's header fields and one result per document, from the operation's own writer run as the API
        runs it (through its model's batcher; raises :class:`service.errors.ApiError` as the API does)."""
        from service.api import run_writer

        return options.header(registry), run_writer(options, documents)

    def marks(self, result: dict, prefix: str, view: dict) -> list[Mark]:
        return []

    def regions(self, result: dict, prefix: str, view: dict) -> list[Region]:
        return []

    def view(self, result: dict, header: dict, prefix: str, registry) -> dict:
        """What the result template needs beyond the result itself (ids, colours, sorted scores)."""
        return {}


class ClassifyPanel(Panel):
    """Labels with a bar per probability; the terms behind each predicted label, marked in the note in the
    label's colour and pattern."""

    def view(self, result: dict, header: dict, prefix: str, registry) -> dict:
        model = registry.classifiers.get(header.get("model", {}).get("name"))
        names = model.label_names if model is not None else {}
        predicted = list(result.get("labels", []))
        style = {label: index % STYLES for index, label in enumerate(predicted)}
        ranked = sorted(result.get("scores", {}).items(), key=lambda item: -item[1])
        shown = [label for label, _ in ranked[:8]]
        shown += [label for label in predicted if label not in shown]
        terms = {}
        for number, item in enumerate(result.get("explanation") or []):
            ref = f"{prefix}-term-{number}"
            terms.setdefault(item["label"], []).append({**item, "ref": ref, "anchor": f"{prefix}-at-{number}"})
        return {"labels": [{"id": label, "name": names.get(label, label), "score": result["scores"][label],
                            "predicted": label in predicted, "style": style.get(label),
                            "terms": terms.get(label, [])} for label in shown],
                "hidden": max(0, len(ranked) - len(shown)), "multi_label": model.multi_label if model else False,
                "none_predicted": not predicted}

    def marks(self, result: dict, prefix: str, view: dict) -> list[Mark]:
        found = []
        for label in view["labels"]:
            for term in label["terms"]:
                tip = f"{label['id']} {label['name']}: {term['term']}, weight {term['weight']:.3f}"
                for start, end in term.get("spans", []):
                    found.append(Mark(start, end, "term", term["ref"], tip, label["style"] or 0, term["weight"]))
        return found

    def regions(self, result: dict, prefix: str, view: dict) -> list[Region]:
        # The first place each term occurs: the term's entry in the labels panel links to it.
        found = []
        for label in view["labels"]:
            for term in label["terms"]:
                spans = term.get("spans") or []
                if spans:
                    found.append(Region(spans[0][0], spans[0][1], term["anchor"]))
        return found


class SummarizePanel(Panel):
    """The summary, each sentence a link to the place in the note it was taken from."""

    def view(self, result: dict, header: dict, prefix: str, registry) -> dict:
        return {"sentences": [{**sentence, "ref": f"{prefix}-sentence-{number}"}
                              for number, sentence in enumerate(result.get("sentences", []))]}

    def regions(self, result: dict, prefix: str, view: dict) -> list[Region]:
        return [Region(s["start"], s["end"], s["ref"]) for s in view["sentences"]]


ASSERTIONS = ("negated", "uncertain", "hypothetical", "historical", "family")
CATEGORY_STYLES = {"problem": 4, "finding": 1, "medication": 2, "procedure": 3, "anatomy": 0}


class AnalyzePanel(Panel):
    """Clinical analysis: the note's sections as an outline that jumps to each, and the concepts found with their
    assertions (a negated concept is struck through in the note and tagged in the list, not only coloured)."""

    def view(self, result: dict, header: dict, prefix: str, registry) -> dict:
        sections = [{**section, "ref": f"{prefix}-section-{number}"}
                    for number, section in enumerate(result.get("sections", []))]
        concepts = []
        for number, concept in enumerate(result.get("concepts", [])):
            asserted = [name for name in ASSERTIONS if concept.get(name)]
            concepts.append({**concept, "ref": f"{prefix}-concept-{number}", "anchor": f"{prefix}-at-{number}",
                             "assertions": asserted, "style": CATEGORY_STYLES.get(concept.get("category"), 0)})
        return {"sections": sections, "concepts": concepts,
                "negated": sum("negated" in c["assertions"] for c in concepts)}

    def marks(self, result: dict, prefix: str, view: dict) -> list[Mark]:
        found = []
        for concept in view["concepts"]:
            said = ", ".join(concept["assertions"]) or "affirmed"
            tip = f"{concept.get('category', 'concept')}: {concept.get('concept', concept.get('text'))} ({said})"
            found.append(Mark(concept["start"], concept["end"], "concept", concept["ref"], tip, concept["style"], 0.0,
                              tuple(concept["assertions"])))
        return found

    def regions(self, result: dict, prefix: str, view: dict) -> list[Region]:
        return ([Region(s["start"], s["end"], s["ref"]) for s in view["sections"]]
                + [Region(c["start"], c["end"], c["anchor"]) for c in view["concepts"]])


class DeidentifyPanel(Panel):
    """De-identification: the de-identified note, each replacement marked with its type; in the note, what would
    be replaced (its type only: no identifier is repeated anywhere else on the page)."""

    def view(self, result: dict, header: dict, prefix: str, registry) -> dict:
        from service.web.notes import render_note

        replaced = [Mark(item["replacement_start"], item["replacement_end"], "phi", f"{prefix}-phi", item["type"], 4)
                    for item in result.get("phi", [])]
        counts: dict[str, int] = {}
        for item in result.get("phi", []):
            counts[item["type"]] = counts.get(item["type"], 0) + 1
        return {"text": render_note(result.get("text", ""), replaced), "counts": sorted(counts.items()),
                "ref": f"{prefix}-phi"}

    def marks(self, result: dict, prefix: str, view: dict) -> list[Mark]:
        return [Mark(item["start"], item["end"], "phi", view["ref"], f"identifier: {item['type']}", 4, 0.0)
                for item in result.get("phi", [])]


PANELS: list[Panel] = [
    ClassifyPanel("classify", "Labels", "panels/classify_form.html", "panels/classify_result.html",
                  checkboxes=("explain",), note_layers=("term",)),
    SummarizePanel("summarize", "Summary", "panels/summarize_form.html", "panels/summarize_result.html"),
    # These two appear once their operations are in service.options.OPERATIONS (clinical analysis, privacy).
    AnalyzePanel("analyze", "Clinical analysis", "panels/analyze_form.html", "panels/analyze_result.html",
                 checkboxes=("lexicon",), note_layers=("concept",)),
    DeidentifyPanel("deidentify", "De-identified", "panels/deidentify_form.html", "panels/deidentify_result.html",
                    default_on=False, note_layers=("phi",)),
]


def available(state) -> list[Panel]:
    """The panels whose operation this service offers and has something loaded for."""
    loaded = {"classify": bool(state.registry.classifiers), "summarize": bool(state.registry.summarizers),
              "analyze": getattr(state.registry, "analyzer", None) is not None}
    return [panel for panel in PANELS if panel.operation in OPERATIONS and loaded.get(panel.operation, True)]


def form_defaults(state) -> dict:
    """What the option selects show first: the model and method the API picks when a request names none (asked
    of the options models themselves, so a page cannot disagree with the API)."""
    registry = state.registry
    return {"classifiers": sorted(registry.classifiers), "model": _default(ClassifyOptions, state, "model"),
            "summarizers": sorted(registry.summarizers), "method": _default(SummarizeOptions, state, "method")}


def _default(cls, state, attribute: str):
    try:
        return getattr(cls().resolve(state), attribute)
    except ApiError:  # nothing of that kind is loaded
        return None
