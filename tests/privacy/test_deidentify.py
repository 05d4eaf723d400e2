"""De-identification on inline synthetic notes: what is found, what is kept, and the two operators."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from nlp.privacy import PHI_TYPES, Deidentifier
from nlp.privacy.deidentify import CHUNK_CHARACTERS, break_long_runs, chunks

# Every identifier here is made up; each line holds one kind.
IDENTIFIERS = {
    "NAME": ["Dr. Rosalind Okafor", "PATIENT NAME: DOE, JOHNATHAN", "Electronically signed by: MARIA L GARZA, MD",
             "His daughter Evelyn Marsh called.", "Seen with Mrs. Whitcombe today."],
    "DATE": ["Admitted 03/04/2021.", "Seen 3-4-21.", "Surgery on March 4th.", "Follow-up 4 Mar 2021.",
             "She improved on the 4th.", "Discharged 2021-03-09.", "Visit on March 4, 2021.", "Plan made in June 2019."],
    "AGE": ["A 92-year-old man.", "She is 97 yo.", "Age: 101"],
    "PHONE": ["Call (617) 555-0142.", "Fax: 617-555-0199", "Cell 617.555.0123"],
    "EMAIL": ["Write to rosalind.okafor@example.org."],
    "ADDRESS": ["Lives at 42 Wallaby Way Apt. 3."],
    "CITY": ["Moved to Springfield, IL last year."],
    "ZIP": ["Springfield, IL 62704"],
    "HOSPITAL": ["Transferred from Mercy General Hospital."],
    "WARD": ["Admitted to Ward 7B."],
    "MRN": ["MRN: 00482913"],
    "ACCOUNT": ["Account #: 77120034"],
    "HEALTH_PLAN": ["Member ID: XJK482913770"],
    "LICENSE": ["DEA number AB1234563"],
    "SSN": ["SSN 123-45-6789"],
    "VEHICLE": ["VIN 1HGCM82633A004352"],
    "DEVICE": ["Pacemaker serial number PJN482913"],
    "URL": ["Portal: https://portal.example.org/patients/4821"],
    "IP": ["Login from 192.168.14.20."],
}
# None of these is a Safe Harbor identifier: de-identification must leave them as they are.
KEEP = ["History of Parkinson disease and Crohn's disease.", "Hodgkin lymphoma in remission.",
        "A Foley catheter was placed.", "Down syndrome.", "Apgar scores 8 and 9.", "Glasgow Coma Scale 15.",
        "She enjoys Mr. Rogers' Neighborhood.", "Takes Coumadin and Lasix.", "A 45-year-old man.",
        "She is 89 years old.", "Diagnosed with diabetes in 2015.", "Blood pressure 120/80.",
        "Take 1/2 tablet at bedtime.", "Strength 5/5 in all extremities.", "Babinski sign absent."]


@pytest.fixture(scope="module")
def redactor():
    return Deidentifier()


@pytest.mark.parametrize("kind", sorted(IDENTIFIERS))
def test_deidentify_finds_every_identifier_type(redactor, kind):
    texts = IDENTIFIERS[kind]
    for text, result in zip(texts, redactor.deidentify(texts)):
        assert f"[{kind}]" in result.text or any(p["type"] != "ID" for p in result.phi), (kind, result.phi)
        assert result.phi, f"nothing found in a {kind} example"


def test_deidentify_keeps_eponyms_drugs_young_ages_years_and_noise(redactor):
    for text, result in zip(KEEP, redactor.deidentify(KEEP)):
        assert result.text == text and result.phi == []


def test_deidentify_redacts_with_typed_placeholders_and_offsets_in_both_texts(redactor):
    note = ("PATIENT: DOE, JOHNATHAN  MRN: 00482913\nSeen 03/04/2021 by Dr. Okafor for Parkinson disease.\n"
            "Mr. Doe, a 92-year-old, lives in Springfield, IL 62704. Call (617) 555-0142.")
    [result] = redactor.deidentify([note])
    for secret in ("JOHNATHAN", "DOE", "Doe", "00482913", "03/04/2021", "Okafor", "92", "Springfield", "62704",
                   "555-0142"):
        assert secret not in result.text
    assert "Parkinson disease" in result.text and "IL" in result.text  # states stay under Safe Harbor
    shift = 0
    for item in result.phi:
        assert item["type"] in PHI_TYPES
        assert result.text[item["replacement_start"]:item["replacement_end"]] == f"[{item['type']}]"
        assert item["replacement_start"] == item["start"] + shift
        shift += (item["replacement_end"] - item["replacement_start"]) - (item["end"] - item["start"])
    assert {p["type"] for p in result.phi} >= {"NAME", "MRN", "DATE", "AGE", "CITY", "ZIP", "PHONE"}


def test_deidentify_finds_a_name_everywhere_once_it_is_known(redactor):
    [result] = redactor.deidentify(["PATIENT NAME: QUILLFEATHER, ARABELLA\nQuillfeather reports less pain today."])
    assert "Quillfeather" not in result.text and "QUILLFEATHER" not in result.text


def test_deidentify_types_limit_what_is_replaced():
    [result] = Deidentifier(types=["date"]).deidentify(["Dr. Okafor saw her on 03/04/2021."])
    assert result.text == "Dr. Okafor saw her on [DATE]."


def test_deidentify_refuses_unknown_operators_and_types():
    with pytest.raises(ValueError, match="operator"):
        Deidentifier(operator="shred")
    with pytest.raises(ValueError, match="COLOUR"):
        Deidentifier(types=["colour"])


def test_surrogates_are_consistent_within_a_note_and_keep_formats():
    note = ("Patient: John Hargreave\nMr. Hargreave was admitted 03/04/2021 (a Thursday) and discharged "
            "03/11/2021. JOHN HARGREAVE signed on March 4th. MRN: 00482913. Call 617-555-0142.")
    [result] = Deidentifier(operator="surrogate", seed=7).deidentify([note])
    assert "Hargreave" not in result.text and "HARGREAVE" not in result.text and "00482913" not in result.text
    names = [result.text[p["replacement_start"]:p["replacement_end"]] for p in result.phi if p["type"] == "NAME"]
    surname = names[0].split()[-1]
    assert names[1] == surname and names[2] == names[0].upper()  # "Mr. X", "JOHN X": the same fake person
    dates = [result.text[p["replacement_start"]:p["replacement_end"]] for p in result.phi if p["type"] == "DATE"]
    admitted, discharged = (dt.datetime.strptime(d, "%m/%d/%Y").date() for d in dates[:2])
    assert (discharged - admitted).days == 7 and admitted.weekday() == dt.date(2021, 3, 4).weekday()
    assert admitted != dt.date(2021, 3, 4)
    assert re.fullmatch(r"[A-Z][a-z]+ \d{1,2}(st|nd|rd|th)", dates[2])
    others = {p["type"]: result.text[p["replacement_start"]:p["replacement_end"]] for p in result.phi}
    assert re.fullmatch(r"\d{8}", others["MRN"]) and re.fullmatch(r"\d{3}-\d{3}-\d{4}", others["PHONE"])


def test_surrogates_differ_between_notes_without_a_seed():
    note = "Seen by Dr. Okafor on 03/04/2021."
    first, second = Deidentifier(operator="surrogate").deidentify([note, note])
    assert first.text != note and second.text != note
    assert first.text != second.text  # each note draws its own fakes and date shift


def test_long_runs_are_broken_without_moving_offsets_and_urls_stay_whole():
    url = "https://portal.example.org/patients/4821?visit=" + "7" * 60
    text = "Dr. Okafor " + "(" * 10_000 + " seen 03/04/2021 " + url
    guarded = break_long_runs(text)
    assert len(guarded) == len(text) and guarded[:11] == text[:11] and guarded.endswith(" seen 03/04/2021 " + url)
    assert "(" * 257 not in guarded


@pytest.mark.parametrize("run", ["(", "a.", "a", "=", "1-", "@"])
def test_deidentify_stays_fast_on_hostile_runs(redactor, run):
    import time

    hostile = run * (100_000 // len(run)) + " Dr. Okafor " + run * 1000
    started = time.process_time()
    [result] = redactor.deidentify([hostile])
    assert "Okafor" not in result.text
    # Quadratic work on 100,000 characters would take minutes; linear work takes about a second.
    assert time.process_time() - started < 60


def test_deidentify_survives_hostile_punctuation_and_long_notes(redactor):
    hostile = "(" * 20_000 + " Dr. Okafor " + ")" * 20_000
    long_note = ("Routine follow-up. " * 1500 + "Seen by Dr. Okafor on 03/04/2021. ") * 2
    assert len(chunks(long_note)) > 1 and len(long_note) > CHUNK_CHARACTERS
    hostile_result, long_result = redactor.deidentify([hostile, long_note])
    assert "Okafor" not in hostile_result.text and len(hostile_result.phi) == 1
    assert long_result.text.count("[NAME]") == 2 and long_result.text.count("[DATE]") == 2
    for item in long_result.phi:
        assert long_note[item["start"]:item["end"]] in ("Okafor", "03/04/2021")


def test_chunks_cover_the_text_exactly():
    text = "".join(f"line {i} with some words\n" for i in range(5000))
    pieces = chunks(text, 1000)
    assert "".join(piece for _, piece in pieces) == text
    assert all(text[offset:offset + len(piece)] == piece for offset, piece in pieces)
