import json

import pytest

from nlp.clinical.lexicon import (CATEGORIES, MAX_RECORD_TERMS, Term, context_rule_dicts, lexicon_manifest,
                                  packaged_terms, read_terms_file, record_terms)


def test_lexicon_packaged_concepts_cover_every_category_and_match_the_manifest():
    terms = packaged_terms()
    assert len(terms) == lexicon_manifest()["concepts"]
    assert {t.category for t in terms} == {"problem", "finding", "medication", "procedure", "anatomy"}
    by_name = {t.concept: t for t in terms}
    assert "MI" in by_name["myocardial infarction"].abbreviations
    assert "tylenol" in by_name["acetaminophen"].synonyms
    assert all(t.category in CATEGORIES for t in terms)


def test_lexicon_distinct_conditions_are_not_each_others_synonyms():
    # A synonym is reported under its concept's name: "weight gain" must never read "weight loss", nor a pericardial
    # effusion "pericarditis" (the lexicon groups variants of one condition, not related conditions).
    concept_of = {name.lower(): t.concept for t in packaged_terms() for name in (t.concept, *t.synonyms)}
    for name in ("weight gain", "pericardial effusion", "diverticulosis", "osteopenia", "cholelithiasis",
                 "hemoptysis", "hematemesis", "atrial flutter"):
        assert concept_of[name] == name
    assert "blood clot" not in concept_of  # anywhere in the body, not only a deep vein


def test_lexicon_context_rules_load_into_medspacy():
    from medspacy.context import ConTextRule

    from nlp.clinical.context import _rule

    rules = [_rule(ConTextRule, r) for r in context_rule_dicts()]
    categories = {r.category for r in rules}
    assert {"NEGATED_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "FAMILY", "POSSIBLE_EXISTENCE", "PSEUDO",
            "TERMINATE"} <= categories


def test_lexicon_terms_file_formats(tmp_path):
    (tmp_path / "t.txt").write_text("# my terms\nedema\n\nleg swelling\n")
    (tmp_path / "t.jsonl").write_text('"edema"\n{"concept": "leg swelling", "category": "finding", '
                                      '"synonyms": ["swollen legs"]}\n')
    (tmp_path / "t.json").write_text(json.dumps(["edema", {"concept": "CHF", "abbreviations": ["HF"]}]))
    assert [t.concept for t in read_terms_file(tmp_path / "t.txt")] == ["edema", "leg swelling"]
    second = read_terms_file(tmp_path / "t.jsonl")[1]
    assert second == Term("leg swelling", "finding", ("swollen legs",), ())
    assert read_terms_file(tmp_path / "t.json")[1].abbreviations == ("HF",)


@pytest.mark.parametrize("content, message", [
    ('{"concept": "x", "colour": "red"}\n', "unknown term field"),
    ('{"concept": ""}\n', "non-empty strings"),
    ('{"concept": "x", "category": "gossip"}\n', "category must be one of"),
    ("{not json\n", "not a JSON value"),
])
def test_lexicon_bad_terms_file_names_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('"fine"\n' + content)
    with pytest.raises(ValueError, match=message) as error:
        read_terms_file(path)
    assert "bad.jsonl:2" in str(error.value)


def test_lexicon_record_terms_are_bounded():
    assert record_terms(None) == ()
    with pytest.raises(ValueError, match="at most"):
        record_terms(["x"] * (MAX_RECORD_TERMS + 1))
    with pytest.raises(ValueError, match="longer than"):
        record_terms(["x" * 1000])
    with pytest.raises(ValueError, match="must be a list"):
        record_terms("edema")
