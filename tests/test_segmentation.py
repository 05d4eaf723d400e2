import pytest

from nlp.clinical.sections import find_sections, resolve_sections
from nlp.segmentation import Segmenter

NOTE = """HISTORY OF PRESENT ILLNESS: Mr. Smith is a 64-year-old man seen by Dr. Jones with chest pain.  He takes aspirin 81 mg q.d. and metoprolol 25 mg b.i.d. He denies fever.
VITALS: BP 140/90, HR 88, T 98.6 F, SpO2 97%.
MEDICATIONS:
1. Aspirin 81 mg daily.
2. Lisinopril 10 mg daily.

ASSESSMENT
Unstable angina. Rule out MI, e.g. with troponin.
Plan: Cardiac catheterization.  Follow up in 2 wks. The results were
reviewed with the patient (see Fig. 2)."""


@pytest.fixture(scope="module")
def segmented():
    return Segmenter().segment([NOTE])[0]


def test_segmentation_keeps_clinical_abbreviations_vitals_and_lists(segmented):
    texts = [s.text for s in segmented.sentences]
    assert texts == [
        "HISTORY OF PRESENT ILLNESS: Mr. Smith is a 64-year-old man seen by Dr. Jones with chest pain.",
        "He takes aspirin 81 mg q.d. and metoprolol 25 mg b.i.d.",
        "He denies fever.",
        "VITALS: BP 140/90, HR 88, T 98.6 F, SpO2 97%.",
        "MEDICATIONS:",
        "1. Aspirin 81 mg daily.",
        "2. Lisinopril 10 mg daily.",
        "ASSESSMENT",
        "Unstable angina.",
        "Rule out MI, e.g. with troponin.",
        "Plan: Cardiac catheterization.",
        "Follow up in 2 wks.",
        "The results were\nreviewed with the patient (see Fig. 2).",
    ]


def test_segmentation_ends_sentences_at_rule_lines_and_glued_letter_periods():
    text = ("Positive for hepatitis-C. The spleen is normal. Seen by J. Smith today. "
            "PAP x 1 ______________ FINAL RESULT: satisfactory\n====\ndone")
    sentences = [s.text for s in Segmenter().segment([text])[0].sentences]
    assert sentences[:3] == ["Positive for hepatitis-C.", "The spleen is normal.", "Seen by J. Smith today."]
    assert sentences[3:] == ["PAP x 1", "FINAL RESULT: satisfactory", "done"]  # rule lines are not sentences


@pytest.mark.parametrize("text", [
    "Mr. ___ is a 65 year old man with ___ admitted on ___.",  # MIMIC's placeholders are not rule lines
    "Name: ___ Unit No: ___ Admitted ___-year-old.",
    "Patient ---- stable ---- discharged ***** home.",
    "Seen by (J. Smith) and RN/J. Smith, Smith,J. Allen and Dr.J. Smith today.",  # initials after a non-word
    "MRSA (S. Aureus) was grown.",
])
def test_segmentation_keeps_placeholders_short_dashes_and_initials_inside_a_sentence(text):
    assert [s.text for s in Segmenter().segment([text])[0].sentences] == [text]


def test_segmentation_offsets_point_at_the_source(segmented):
    for sentence in segmented.sentences:
        assert NOTE[sentence.start:sentence.end] == sentence.text


def test_segmentation_finds_sections_and_headings(segmented):
    assert [(s.category, s.title) for s in segmented.sections] == [
        ("history_of_present_illness", "HISTORY OF PRESENT ILLNESS"), ("vital_signs", "VITALS"),
        ("medications", "MEDICATIONS"), ("assessment", "ASSESSMENT"), ("plan", "Plan")]
    by_text = {s.text: s for s in segmented.sentences}
    assert by_text["MEDICATIONS:"].is_heading and by_text["ASSESSMENT"].is_heading
    assert by_text["Unstable angina."].section == "assessment"
    assert by_text["Follow up in 2 wks."].section == "plan"
    assert not by_text["He denies fever."].is_heading


def test_segmentation_ignores_headings_inside_sentences():
    assert find_sections("We discussed the plan: rest. Assessment of risk was done.") == []


def test_segmentation_drops_speaker_labels_but_keeps_offsets():
    text = "[doctor] hi , martha . how are you ?\n[patient] i'm okay .\nDoctor: Any chest pain?\nPatient: No."
    sentences = Segmenter().segment([text])[0].sentences
    assert [s.text for s in sentences] == ["hi , martha . how are you ?", "i'm okay .", "Any chest pain?", "No."]
    assert all(text[s.start:s.end] == s.text for s in sentences)


def test_segmentation_empty_and_punctuation_only_texts():
    assert [s.sentences for s in Segmenter().segment(["", " \n ", "..."])] == [[], [], []]


@pytest.mark.parametrize("names, expected", [
    (["hpi"], {"history_of_present_illness"}),
    (["Assessment"], {"assessment", "assessment_and_plan"}),
    (["a&p", "meds"], {"assessment_and_plan", "medications"}),
])
def test_segmentation_resolve_sections(names, expected):
    assert resolve_sections(names) == expected


def test_segmentation_unknown_section_lists_known():
    with pytest.raises(ValueError, match="unknown section 'vibes'; known: .*hpi"):
        resolve_sections(["vibes"])


def test_segmentation_breaks_long_runs_before_spacy_keeping_offsets():
    from nlp.segmentation import LONG_RUN, Segmenter, tokenizer_safe

    hostile = "Chest pain. " + "(" * 5000 + " Troponin rose. " + "=" * 100 + "\nPlan: admit."
    safe = tokenizer_safe(hostile)
    assert len(safe) == len(hostile) and max(map(len, safe.split())) <= LONG_RUN
    assert all(a == b or (b == " " and a in "(=") for a, b in zip(hostile, safe))
    assert tokenizer_safe("An ordinary note.\nNothing long here.") == "An ordinary note.\nNothing long here."
    seen = []
    segmenter = Segmenter()
    real_pipe = segmenter.pipeline.pipe
    segmenter.pipeline.pipe = lambda texts, **kw: real_pipe([seen.append(t) or t for t in texts], **kw)
    [segmented] = segmenter.segment([hostile])
    assert seen == [safe]  # spaCy only ever sees the broken runs
    for sentence in segmented.sentences:  # offsets and texts come from the original
        assert hostile[sentence.start:sentence.end] == sentence.text
    assert any("Troponin rose." in s.text for s in segmented.sentences) and segmented.sentences[-1].text == "Plan: admit."


def test_segmentation_vocabulary_stays_bounded_in_a_long_running_process():
    import random

    from nlp.segmentation import Segmenter

    segmenter = Segmenter()
    segmenter.max_strings = 5_000
    rng = random.Random(0)
    sizes = []
    for _ in range(8):  # a stream of new words, as a service reading notes for months (or an attacker) sends
        words = " ".join("".join(rng.choice("abcdefghijklmnop") for _ in range(9)) for _ in range(2000))
        [segmented] = segmenter.segment([words + ". Chest pain resolved."])
        assert segmented.sentences[-1].text == "Chest pain resolved."
        sizes.append(len(segmenter.pipeline.vocab.strings))
    assert max(sizes) < 5_000 + 2_500  # never more than the limit plus one batch's new strings
