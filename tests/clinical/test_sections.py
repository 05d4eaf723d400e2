import pytest

from nlp.clinical.sections import find_sections, resolve_sections, section_at, section_names


def test_sections_headings_in_capitals_without_colons_on_their_own_line():
    text = "HISTORY OF PRESENT ILLNESS\nCough for two days.\n\nPAST MEDICAL HISTORY\nAsthma.\n\nPLAN\nRest."
    sections = find_sections(text)
    assert [(s.category, s.title) for s in sections] == [
        ("history_of_present_illness", "HISTORY OF PRESENT ILLNESS"), ("past_medical_history", "PAST MEDICAL HISTORY"),
        ("plan", "PLAN")]
    assert [text[s.start:s.start + len(s.title)] for s in sections] == [s.title for s in sections]
    assert sections[-1].end == len(text) and sections[0].end == sections[1].start


def test_sections_run_on_headings_in_capitals_inside_a_line():
    text = "CHIEF COMPLAINT: cough. HISTORY OF PRESENT ILLNESS: two days of cough. FAMILY HISTORY: none."
    assert [s.category for s in find_sections(text)] == ["chief_complaint", "history_of_present_illness",
                                                          "family_history"]


def test_sections_habits_is_social_history_at_a_line_start_but_not_after_another_word():
    def found(text):
        return [(s.category, s.title) for s in find_sections(text)]

    assert found("HABITS: No tobacco. No ethanol.") == [("social_history", "HABITS")]
    assert found("Exam normal.  SOCIAL HABITS: denies alcohol.") == [("social_history", "SOCIAL HABITS")]
    # A review of systems item, not a social history: its diarrhea must not become "historical".
    assert found("REVIEW OF SYSTEMS: GI: BOWEL HABITS: diarrhea daily.") == [("review_of_systems", "REVIEW OF SYSTEMS")]


def test_sections_headings_of_dictated_history_and_physicals():
    text = ("ALLERGIES TO MEDICINES: None.\n\nCURRENT MEDICINES: Aspirin.\n\nSYSTEMS REVIEW: No fever.\n\n"
            "HISTORY OF PRESENT COMPLAINT: Cough.\n\nSURGERIES: Appendectomy.\n\nHEART RATE AFTER MEDICATION: 64.")
    assert [(s.category, s.title) for s in find_sections(text)] == [
        ("allergies", "ALLERGIES TO MEDICINES"), ("medications", "CURRENT MEDICINES"),
        ("review_of_systems", "SYSTEMS REVIEW"), ("history_of_present_illness", "HISTORY OF PRESENT COMPLAINT"),
        # "MEDICATION:" after another word in capitals is part of a longer heading, not a medication list.
        ("past_surgical_history", "SURGERIES")]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sections_an_allergy_list_ends_at_an_unlisted_heading_that_opens_a_paragraph(newline):
    text = "ALLERGIES:\n\nPenicillin.\n\nSulfa.\n\nLABORATORY AT PRESENTATION: Anemia.\n\nPLAN: Rest.".replace("\n", newline)
    allergies, plan = find_sections(text)
    # A blank-line list is still the allergy list; the unlisted heading after it is not.
    assert allergies.category == "allergies" and allergies.end == text.index(newline * 2 + "LABORATORY")
    assert section_at([allergies, plan], text.index("Sulfa")) == allergies
    assert section_at([allergies, plan], text.index("Anemia")) is None
    assert plan.start == text.index("PLAN")


@pytest.mark.parametrize("text", [
    "PAST MEDICAL HISTORY:\n\nCARDIAC: CAD.\n\nPULMONARY: Asthma.",
    "PMH:\nAsthma.\n\nHTN: on lisinopril.\n\nDM: on metformin.",
    "FAMILY HISTORY:\n\nMOTHER: Breast cancer.\n\nFATHER: Stroke.",
    "SOCIAL HISTORY: Married.\n\nTOBACCO: None.\n\nEDUCATION: College.",
])
def test_sections_other_sections_keep_unlisted_headings_as_their_sub_headings(text):
    (section,) = find_sections(text)
    assert section.end == len(text)


@pytest.mark.parametrize("text, expected", [
    ("FAMILY HISTORY: Father with stroke. SERIOUS ILLNESSES: Sister with breast cancer.", ["family_history"]),
    ("ASSESSMENT AND PLAN: Osteoarthritis.  UPCOMING SURGERIES: Knee replacement.", ["assessment_and_plan"]),
    ("HPI: Chest pain today. RECENT HOSPITALIZATIONS: none.", ["history_of_present_illness"]),
    ("ILLNESSES: Asthma.\nSURGERIES: None.\nHOSPITALIZATIONS: None.",
     ["past_medical_history", "past_surgical_history", "past_medical_history"]),
])
def test_sections_short_history_headings_count_only_at_a_line_start(text, expected):
    assert [s.category for s in find_sections(text)] == expected


def test_sections_a_heading_word_inside_a_longer_heading_is_not_its_own_section():
    sections = find_sections("PAST MEDICAL HISTORY: asthma.\nMEDICAL HISTORY: none.")
    assert [(s.category, s.title) for s in sections] == [("past_medical_history", "PAST MEDICAL HISTORY"),
                                                          ("past_medical_history", "MEDICAL HISTORY")]


@pytest.mark.parametrize("text", ["We discussed the plan: rest and fluids.", "the history of the present illness",
                                  "Plan was discussed.", ""])
def test_sections_lower_case_words_inside_sentences_are_not_headings(text):
    assert find_sections(text) == []


def test_sections_radiology_report_headings():
    text = "INDICATION: cough\nCOMPARISON: none\nFINDINGS: The lungs are clear.\nIMPRESSION: Normal chest."
    assert [s.category for s in find_sections(text)] == ["indication", "imaging", "findings", "impression"]


def test_sections_section_at_finds_the_enclosing_section():
    text = "Intro.\nPLAN: rest.\nALLERGIES: none."
    sections = find_sections(text)
    assert section_at(sections, 0) is None
    assert section_at(sections, text.index("rest")).category == "plan"
    assert section_at(sections, len(text) - 1).category == "allergies"


def test_sections_names_and_aliases_resolve():
    assert "family_history" in section_names()
    assert resolve_sections(["fh", "PSH"]) == {"family_history", "past_surgical_history"}
    with pytest.raises(ValueError, match="unknown section 'vibes'"):
        resolve_sections(["vibes"])


def test_sections_many_headings_stay_linear():
    text = "PLAN: x.\n" * 20_000
    assert len(find_sections(text)) == 20_000
