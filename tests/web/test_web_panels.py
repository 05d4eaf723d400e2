"""Panels plug in by operation: clinical analysis and de-identification appear on the analysis page as soon as
their operations are registered in service.options.OPERATIONS and loaded, with no change to the page.

Their own operations are built by other parts of the project; here stand-ins with the same result shapes (sections
and concepts with assertions; de-identified text with typed replacements) take their place, because what is under
test is the page: the spans marked in the note, the outline and concept links, the negated look, the de-identified
view. When a real operation is installed, the same test runs against it (see ``operations``) and checks the page
against what that operation itself returns."""

from __future__ import annotations

import re
from html import unescape
from typing import ClassVar

import pytest

from service.options import OPERATIONS, Options
from tests.web.conftest import sign_in

NOTE = "HISTORY: Chest pain since Monday.\nEXAM: No fever. Leg edema.\nPLAN: Call John Smith at 555-0100."


class _Writer:
    def __init__(self, run, description):
        self.run, self.description = run, description

    def __call__(self, documents):
        return [{"id": doc.id, **self.run(doc.text)} for doc in documents]


def _analysis(text: str) -> dict:
    sections = [{"name": m.group(1).lower(), "title": m.group(1), "start": m.start(), "end": len(text)}
                for m in re.finditer(r"^([A-Z]+):", text, re.M)]
    for section, following in zip(sections, sections[1:]):
        section["end"] = following["start"]
    concepts = []
    for phrase, category in (("chest pain", "problem"), ("fever", "problem"), ("edema", "finding")):
        for match in re.finditer(phrase, text, re.I):
            negated = text[max(0, match.start() - 3):match.start()].lower() == "no "
            concepts.append({"text": match.group(0), "start": match.start(), "end": match.end(), "concept": phrase,
                             "category": category, "section": None, "negated": negated, "historical": False,
                             "hypothetical": False, "family": False, "uncertain": False})
    return {"sections": sections, "concepts": concepts}


def _deidentified(text: str) -> dict:
    out, phi, position = "", [], 0
    for match in re.finditer(r"John Smith|Monday|555-0100", text):
        kind = {"John Smith": "NAME", "Monday": "DATE"}.get(match.group(0), "PHONE")
        out += text[position:match.start()]
        replacement = f"[{kind}]"
        phi.append({"type": kind, "start": match.start(), "end": match.end(), "replacement_start": len(out),
                    "replacement_end": len(out) + len(replacement)})
        out += replacement
        position = match.end()
    return {"text": out + text[position:], "phi": phi}


class StandInAnalyze(Options):
    operation: ClassVar[str] = "analyze"
    terms: list[str] = None
    lexicon: bool = True

    def writer(self, registry):
        return _Writer(_analysis, "analyze")

    def header(self, registry):
        return {"lexicon": {"version": "stand-in", "used": self.lexicon}}


class StandInDeidentify(Options):
    operation: ClassVar[str] = "deidentify"
    operator: str = "redact"
    types: list[str] = None

    def writer(self, registry):
        return _Writer(_deidentified, "deidentify")

    def header(self, registry):
        return {"operator": self.operator}


@pytest.fixture
def operations(monkeypatch, web_registry):
    """The stand-ins, unless the real operations are installed (then those run)."""
    if "analyze" not in OPERATIONS:
        monkeypatch.setitem(OPERATIONS, "analyze", StandInAnalyze)
        monkeypatch.setattr(type(web_registry), "analyzer", object(), raising=False)
    if "deidentify" not in OPERATIONS:
        monkeypatch.setitem(OPERATIONS, "deidentify", StandInDeidentify)


def expected(app, operation: str) -> dict:
    """What the operation itself (stand-in or real) gives for NOTE, called directly."""
    from nlp.documents import Document

    state = app.extensions["clinnlp"]
    options = OPERATIONS[operation]().resolve(state)
    return options.writer(state.registry)([Document("note", NOTE, "test")])[0]


def test_web_panels_analysis_and_deidentification_plug_into_the_page(operations, make_app):
    app = make_app()
    client = app.test_client()
    csrf = sign_in(client, app.extensions["clinnlp"].keys.create("panels")[1])
    blank = client.get("/analyze").get_data(as_text=True)
    assert 'value="analyze" checked' in blank and 'value="deidentify">' in blank  # de-identify is opt-in
    page = client.post("/analyze", data={"csrf_token": csrf, "text": NOTE, "run": ["analyze", "deidentify"],
                                         "analyze-lexicon": ["false", "true"]}, content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[-1500:]
    analysis, deidentified = expected(app, "analyze"), expected(app, "deidentify")
    # The outline links to each section's place; each concept is marked where it stands, a negated one struck.
    assert analysis["sections"] and analysis["concepts"]
    for number, section in enumerate(analysis["sections"]):
        assert f'id="d0-analyze-section-{number}" tabindex="-1" data-start="{section["start"]}"' in html
        assert f'href="#d0-analyze-section-{number}"' in html
    for concept in analysis["concepts"]:
        mark = re.search(rf'<mark class="([^"]*)" data-start="{concept["start"]}" data-end="{concept["end"]}"[^>]*>'
                         rf'{re.escape(concept["text"])}</mark>', html)
        assert mark and "concept" in mark.group(1).split()
        assert ("negated" in mark.group(1).split()) == concept["negated"]
    negated = sum(c["negated"] for c in analysis["concepts"])
    assert negated and f"({len(analysis['concepts'])}, {negated} negated)" in html
    assert 'class="tag assertion-negated">negated</span>' in html
    # The de-identified view shows the replacements, typed; the note marks what they replace, by type only.
    assert deidentified["phi"] and "John Smith" not in deidentified["text"]
    shown = re.search(r'<div class="note deidentified"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert unescape(re.sub(r"<[^>]+>", "", shown)) == deidentified["text"]
    for item in deidentified["phi"]:
        assert f'data-start="{item["start"]}" data-end="{item["end"]}"' in html
        assert f'data-tip="identifier: {item["type"]}"' in html
        replaced = f'data-start="{item["replacement_start"]}" data-end="{item["replacement_end"]}"'
        assert re.search(rf'<mark class="[^"]*phi[^"]*" {replaced}[^>]*data-tip="{item["type"]}"', shown)
    assert "Highlight concepts" in html and "Highlight identifiers" in html


def test_web_panels_stay_away_until_their_operation_is_loaded(make_app, web_registry):
    app = make_app()
    client = app.test_client()
    sign_in(client, app.extensions["clinnlp"].keys.create("none")[1])
    page = client.get("/analyze").get_data(as_text=True)
    for operation in ("analyze", "deidentify"):
        assert (f'value="{operation}"' in page) == (operation in OPERATIONS and (
            operation != "analyze" or getattr(web_registry, "analyzer", None) is not None))


def test_web_classify_panel_says_when_a_model_predicts_no_label(make_app):
    """hoc-tfidf may predict no label (some Hallmarks abstracts have none): the panel says so in words instead of
    leaving a list of bars with nothing marked."""
    from service.registry import Registry

    app = make_app(registry=Registry.load(("hoc-tfidf",), ("lead",)))
    client = app.test_client()
    csrf = sign_in(client, app.extensions["clinnlp"].keys.create("panels")[1])

    def page(text):
        reply = client.post("/analyze", data={"csrf_token": csrf, "text": text, "run": ["classify"],
                                              "classify-model": "hoc-tfidf"}, content_type="multipart/form-data")
        assert reply.status_code == 200
        return reply.get_data(as_text=True)

    quiet = page("Follow-up visit: blood pressure was stable and the patient walked without help.")
    assert "No label reached the model's threshold" in quiet and '<span class="tag">predicted</span>' not in quiet
    assert "hoc-tfidf" in quiet and 'class="label-score"' in quiet  # the scores are still shown
    hallmark = page("Tumour cells evaded apoptosis and sustained proliferative signalling through EGFR.")
    assert "No label reached" not in hallmark and '<span class="tag">predicted</span>' in hallmark
