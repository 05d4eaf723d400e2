import time

import pytest

from nlp.clinical.context import ATTRIBUTES
from nlp.clinical.lexicon import Term

FLAGS = set(ATTRIBUTES)


@pytest.mark.parametrize("text, concept, expected", [
    ("Patient denies chest pain or shortness of breath.", "chest pain", {"negated"}),
    ("Patient denies chest pain or shortness of breath.", "shortness of breath", {"negated"}),
    ("No evidence of pneumonia.", "pneumonia", {"negated"}),
    ("Pneumonia is not excluded.", "pneumonia", {"uncertain"}),
    ("Rule out MI.", "myocardial infarction", {"uncertain"}),
    ("Mother had breast cancer.", "breast cancer", {"family"}),
    ("History of stroke in 2010.", "stroke", {"historical"}),
    ("If fever develops, return to the clinic.", "fever", {"hypothetical"}),
    ("Biopsy negative for malignancy.", "cancer", {"negated"}),
    ("Extremities without edema.", "edema", {"negated"}),
    ("No change in the effusion.", "pleural effusion", set()),
    ("Family history: diabetes.", "diabetes mellitus", {"family"}),
    ("The patient has pneumonia.", "pneumonia", set()),
    ("A 65-year-old man with pneumonia.", "pneumonia", set()),
    ("No  evidence\nof DVT.", "deep vein thrombosis", {"negated"}),
    # One trigger, two meanings; the literal rule wins over the phrases a pattern rule spells out.
    ("She has no history of pancreatitis.", "pancreatitis", {"negated", "historical"}),
    ("No hx of stroke.", "stroke", {"negated", "historical"}),
    ("Likely pneumonia.", "pneumonia", {"uncertain"}),
    ("May be pneumonia.", "pneumonia", {"uncertain"}),
    # Uncertainty stated after the finding, as radiology impressions put it.
    ("Pneumonia is likely.", "pneumonia", {"uncertain"}),
    ("Pneumonia is suspected.", "pneumonia", {"uncertain"}),
    ("Pneumonia is less likely.", "pneumonia", {"uncertain"}),
    ("Pneumonia is unlikely.", "pneumonia", {"negated"}),
    ("Atelectasis vs pneumonia.", "atelectasis", {"uncertain"}),
    ("Atelectasis vs pneumonia.", "pneumonia", {"uncertain"}),
    # "vs" reaches three tokens each way: not the next clause.
    ("Atelectasis versus aspiration; no pleural effusion.", "pleural effusion", {"negated"}),
    ("Edema, likely cardiogenic.", "edema", set()),
])
def test_analyze_assertions_of_hard_snippets(analyze_one, text, concept, expected):
    mention = only_mention(analyze_one(text), concept)
    assert flags_of(mention) == expected
    assert text[mention.start:mention.end] == mention.text


def only_mention(result, concept: str):
    """The one mention of ``concept`` in an analysis (failing with the concepts found otherwise)."""
    found = [c for c in result.concepts if c.concept == concept]
    assert len(found) == 1, [c.concept for c in result.concepts]
    return found[0]


def flags_of(mention) -> set[str]:
    return {name for name, value in mention.assertion.as_dict().items() if value}


@pytest.mark.parametrize("text, concept, expected", [
    # A trigger inside brackets modifies only what is inside them...
    ("Review of the report (slides not submitted) indicates pneumonia.", "pneumonia", set()),
    ("Date of last period: {Not Entered} History: hypertension.", "hypertension", {"historical"}),
    ("Cultures [not sent] show pneumonia.", "pneumonia", set()),
    ("Findings (no pneumonia) as before.", "pneumonia", {"negated"}),
    # ...a trigger outside still reaches in, and one inside does not end its scope outside.
    ("Denies pain (no fever) or cough.", "fever", {"negated"}),
    ("Denies rash (occult nor overt), cough or fever.", "cough", {"negated"}),
    ("ROS -ve for change in weight, anemia or fatigue.", "anemia", {"negated"}),
    # A trigger in brackets still looks back at what they comment on.
    ("Pneumonia (not seen).", "pneumonia", {"negated"}),
    ("Pneumonia (is ruled out).", "pneumonia", {"negated"}),
    ("Cough (no fever) (rash).", "rash", set()),
    # A mention that runs across a line break keeps its sentence's negation.
    ("PATIENT DENIES CHEST\nPAIN OR FEVER.", "chest pain", {"negated"}),
])
def test_analyze_brackets_bound_what_a_trigger_inside_them_modifies(analyze_one, text, concept, expected):
    assert flags_of(only_mention(analyze_one(text), concept)) == expected


def test_analyze_scope_ends_at_a_glued_letter_period_and_a_rule_line(analyze_one):
    result = analyze_one("Not tailored for hepatitis-C. The patient has pneumonia.")
    assert [c.assertion.negated for c in result.concepts if c.concept == "pneumonia"] == [False]
    result = analyze_one("Comments: none ____________ FINAL RESULT: pneumonia is absent. Tachycardia __________ no")
    flags = {c.concept: c.assertion.negated for c in result.concepts}
    assert flags["pneumonia"] is True and flags["tachycardia"] is False


def test_analyze_many_brackets_in_one_sentence_cost_about_one_graph(analyzer):
    text = "no " * 200 + "(no cough) " * 25 + "fever."
    started = time.perf_counter()
    result = analyzer.analyze([text], terms=[(Term("cough"), Term("fever"))])[0]
    assert time.perf_counter() - started < 5  # 0.06 s here; twenty graphs of 225 triggers took 0.8 s
    assert all(c.assertion.negated for c in result.concepts if c.concept == "cough")


def test_analyze_headings_in_capitals_set_sections_and_context(analyze_one):
    text = ("PAST MEDICAL HISTORY\nHypertension.\n\nFAMILY HISTORY\nColon cancer.\n\n"
            "HISTORY OF PRESENT ILLNESS\nHe presents with cough.")
    result = analyze_one(text)
    by_concept = {c.concept: c for c in result.concepts}
    assert [s.category for s in result.sections] == ["past_medical_history", "family_history",
                                                     "history_of_present_illness"]
    assert by_concept["hypertension"].section == "past_medical_history" and by_concept["hypertension"].assertion.historical
    assert by_concept["colon cancer"].assertion.family and not by_concept["colon cancer"].assertion.historical
    assert by_concept["cough"].section == "history_of_present_illness" and by_concept["cough"].affirmed


def test_analyze_social_history_is_historical_as_in_medspacy(analyze_one):
    text = ("SOCIAL HISTORY: He denies alcohol use. Tobacco use for 30 years.\n\n"
            "HISTORY OF PRESENT ILLNESS: Tobacco use and cough.")
    result = analyze_one(text, (Term("alcohol use"), Term("tobacco use"), Term("cough")))
    social = [c for c in result.concepts if c.section == "social_history"]
    assert [(c.concept, c.assertion.historical, c.assertion.negated) for c in social] == [
        ("alcohol use", True, True), ("tobacco use", True, False)]
    present = [c for c in result.concepts if c.section == "history_of_present_illness"]
    assert [c.concept for c in present] == ["tobacco use", "cough"] and all(c.affirmed for c in present)


@pytest.mark.parametrize("text, concept, expected", [
    # What the patient presents with now is not part of the history before it.
    ("A 60-year-old with a history of coronary artery disease who presented with chest pain.", "chest pain",
     set()),
    ("History significant for depression who presented with a two-day history of abdominal pain.",
     "abdominal pain", set()),
    ("A 60-year-old with a history of coronary artery disease who presented with chest pain.",
     "coronary artery disease", {"historical"}),
    # A year dates what comes before it, not what follows (an admission's date).
    ("She was admitted on Dec 9 2007 with chest pain.", "chest pain", set()),
    ("Seen **DATE[Feb 13 2008], for chest pain.", "chest pain", set()),
    ("Myocardial infarction in 2005.", "myocardial infarction", {"historical"}),
    ("Myocardial infarction Jan 2005.", "myocardial infarction", {"historical"}),
    ("Myocardial infarction on March 3, 2005.", "myocardial infarction", {"historical"}),
    # The items of a numbered list that opens its sentence are sentences of their own...
    ("Diagnosis: 1) Esophagitis s/p biopsy 2) Hiatal hernia.", "hernia", set()),
    ("Impression: 1) No pneumothorax 2) Pleural effusion.", "pleural effusion", set()),
    # ...a lead-in's trigger governs every item of its list...
    ("Denies: 1) fever 2) chills.", "chills", {"negated"}),
    ("History of: 1) stroke 2) hypertension.", "hypertension", {"historical"}),
    # Repeated admissions for a problem are its history; one admission for it is the present.
    ("She is admitted quite frequently for abdominal pain.", "abdominal pain", {"historical"}),
    ("Several hospitalizations for pneumonia.", "pneumonia", {"historical"}),
    ("He was admitted multiple times for pneumonia.", "pneumonia", {"historical"}),
    ("She was admitted for pneumonia.", "pneumonia", set()),
    ("She is seen regularly for hypertension in clinic.", "hypertension", set()),
    # ...and a bracketed or out-of-order number is not an item.
    ("Denies (1) fever (2) chills.", "chills", {"negated"}),
    ("Impression: 1) No pneumonia (series 2) or pleural effusion.", "pleural effusion", {"negated"}),
    ("No fever, take 2) tablets for chills.", "chills", {"negated"}),
])
def test_analyze_historical_scope(analyze_one, text, concept, expected):
    assert flags_of(only_mention(analyze_one(text), concept)) == expected


def test_analyze_allergies_are_history_not_current_medications(analyze_one):
    text = "ALLERGIES: Penicillin.\nMEDICATIONS: Aspirin daily."
    result = analyze_one(text, (Term("penicillin", category="medication"),))
    by_concept = {c.concept: c for c in result.concepts}
    assert by_concept["penicillin"].section == "allergies" and by_concept["penicillin"].assertion.historical
    assert not by_concept["penicillin"].affirmed
    assert by_concept["aspirin"].section == "medications" and by_concept["aspirin"].affirmed


def test_analyze_an_allergy_list_is_history_up_to_the_next_heading_listed_or_not(analyze_one):
    text = ("ALLERGIES\n\nPenicillin\n\nAspirin\n\nLABORATORY AT PRESENTATION: Anemia.\n\n"
            "FAMILY HISTORY:\n\nMOTHER: Breast cancer.\n\n"
            "PAST MEDICAL HISTORY:\n\nCARDIAC: Coronary artery disease.\n\nPULMONARY: Asthma.")
    result = analyze_one(text, (Term("penicillin", category="medication"),))
    by_concept = {c.concept: c for c in result.concepts}
    assert by_concept["penicillin"].assertion.historical and by_concept["aspirin"].assertion.historical
    assert by_concept["anemia"].section is None and by_concept["anemia"].affirmed
    assert by_concept["breast cancer"].assertion.family
    assert by_concept["coronary artery disease"].assertion.historical and by_concept["asthma"].assertion.historical


def test_analyze_the_present_visit_inside_a_history_section_is_not_history(analyze_one):
    text = ("ALLERGIES: NKDA. Patient presents today with fever.\n\n"
            "PAST MEDICAL HISTORY: Asthma, COPD. Presents with dyspnea and wheezing. "
            "Stroke in 2015, who presented at that time with seizures. Reviewed today: hypertension and diabetes. "
            "Pneumonia in 2018; on admission she had sepsis. Depression (presents with insomnia), anxiety. "
            "Presents with a history of gout.\n\n"
            "FAMILY HISTORY: The sister presents with migraine.")
    concepts = {c.text.lower(): c for c in analyze_one(text).concepts}
    assert concepts["fever"].section == "allergies" and concepts["fever"].affirmed
    assert concepts["dyspnea"].section == "past_medical_history" and concepts["dyspnea"].affirmed
    assert concepts["wheezing"].affirmed and not concepts["insomnia"].assertion.historical
    # what precedes the trigger, past presentations and admissions, time words of record-keeping, what follows a
    # trigger's closing bracket and what a history trigger of the sentence governs keep the section's flag
    assert all(concepts[name].assertion.historical for name in (
        "asthma", "copd", "stroke", "seizures", "hypertension", "diabetes", "pneumonia", "sepsis", "depression",
        "anxiety", "gout"))
    assert concepts["migraine"].assertion.family and not concepts["migraine"].assertion.historical


def test_analyze_scope_ends_at_the_sentence_and_at_but(analyze_one):
    result = analyze_one("No fever. Cough is present. No rash but wheezing.")
    flags = {c.concept: c.assertion.negated for c in result.concepts}
    assert flags == {"fever": True, "cough": False, "rash": True, "wheezing": False}


def test_analyze_heading_words_are_not_triggers(analyze_one):
    concept = analyze_one("HISTORY: cough for two days.").concepts[0]
    assert concept.concept == "cough" and not concept.assertion.historical


def test_analyze_offsets_point_into_the_original_text(analyze_one):
    text = "CHIEF COMPLAINT:\tchest   pain.\r\nASSESSMENT: Congestive heart\nfailure, r/o PE. Café au lait spots."
    result = analyze_one(text)
    assert result.concepts and all(text[c.start:c.end] == c.text for c in result.concepts)
    assert {"chest pain", "congestive heart failure", "pulmonary embolism"} <= {c.concept for c in result.concepts}
    assert all(text[s.start:s.start + len(s.title)] == s.title for s in result.sections)


def test_analyze_abbreviations_match_only_as_written(analyze_one):
    assert [c.concept for c in analyze_one("Pt with MI.").concepts] == ["myocardial infarction"]
    assert analyze_one("mi casa").concepts == []


def test_analyze_user_terms_win_and_record_terms_apply_to_their_record_only(analyzer):
    texts = ["Mild leg swelling, no pulmonary edema.", "Swollen legs, pulmonary edema."]
    results = analyzer.analyze(texts, terms=[(Term("leg swelling", synonyms=("swollen legs",)), Term("edema")), None])
    first = {c.text: c for c in results[0].concepts}
    assert first["leg swelling"].category == "term" and first["leg swelling"].concept == "leg swelling"
    assert first["edema"].category == "term" and first["edema"].assertion.negated  # the user's term, inside the longer one
    assert "Swollen legs" not in {c.text for c in results[1].concepts}
    assert "pulmonary edema" in {c.text for c in results[1].concepts}


def test_analyze_empty_and_whitespace_texts(analyzer):
    assert [r.as_dict() for r in analyzer.analyze(["", "   \n", "..."])] == [{"sections": [], "concepts": []}] * 3


def test_analyze_as_dict_has_the_documented_fields(analyze_one):
    record = analyze_one("ASSESSMENT: no pneumothorax.").as_dict()
    assert record["sections"] == [{"name": "assessment", "title": "ASSESSMENT", "start": 0, "end": 28}]
    assert record["concepts"] == [{"text": "pneumothorax", "start": 15, "end": 27, "concept": "pneumothorax",
                                   "category": "finding", "section": "assessment", "negated": True,
                                   "historical": False, "hypothetical": False, "family": False, "uncertain": False}]


@pytest.mark.parametrize("hostile", [
    pytest.param("(" * 20_000, id="parentheses"),
    pytest.param("=" * 50_000 + " no pneumonia", id="equals-signs"),
    pytest.param("no " * 30_000 + "pneumonia", id="triggers"),
    pytest.param("No fever, " * 5_000, id="one-long-sentence"),
    pytest.param("PLAN: no edema.\n" * 5_000, id="headings"),
    pytest.param("\n" * 50_000 + "chest pain", id="line-breaks"),
    pytest.param("fever 1) " * 10_000, id="list-items-in-one-sentence"),
    pytest.param("IMPRESSION: " + "".join(f"{i % 99 + 1}) no fever " for i in range(10_000)), id="long-list"),
])
def test_analyze_hostile_input_finishes_in_linear_time(analyzer, hostile):
    started = time.perf_counter()
    result = analyzer.analyze([hostile])[0]
    assert time.perf_counter() - started < 60  # quadratic behaviour would take hours here
    assert all(hostile[c.start:c.end] == c.text for c in result.concepts)
