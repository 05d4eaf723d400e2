"""Literature mining: readers for every input format, the per-article analysis, resumable shards, the
collection outputs and report, and the same results from the local and Ray engines."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from nlp.documents import DocumentError
from nlp.mining.articles import Article, read_articles
from nlp.mining.collection import association_rules, default_topics, topic_names
from nlp.mining.roles import SentenceRoleClassifier

DATA = Path(__file__).parent / "data" / "mining"
MODELS = Path(__file__).resolve().parent.parent / "models"

TOPICS = {
    "cardiology": ["myocardial infarction", "metoprolol", "angina", "coronary stenting", "troponin levels",
                   "heart failure", "atrial fibrillation", "blood pressure"],
    "infection": ["pneumonia", "amoxicillin", "bacteremia", "sepsis", "blood cultures", "antibiotic therapy",
                  "meningitis", "staphylococcus aureus"],
    "oncology": ["breast cancer", "chemotherapy", "tumour size", "metastases", "lymph nodes", "radiotherapy",
                 "mastectomy", "survival rates"],
}


def synthetic_abstract(topic: str, rng: random.Random) -> dict:
    terms = rng.sample(TOPICS[topic], 6)
    abstract = (f"The role of {terms[0]} in {terms[1]} is unclear. "
                f"We enrolled {rng.randint(40, 900)} adult patients with {terms[2]}. "
                f"Patients received {terms[3]} or placebo for twelve weeks. "
                f"The primary outcome was {terms[4]}, which improved with {terms[3]}. "
                f"These findings support {terms[5]} in practice.")
    return {"title": f"{terms[0].capitalize()} and {terms[1]} in a randomized trial", "abstract": abstract,
            "year": rng.choice([2015, 2016, 2017]), "mesh": [topic.capitalize()]}


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """60 synthetic abstracts in three topics, with one malformed line and one without text."""
    rng = random.Random(5)
    path = tmp_path_factory.mktemp("mining") / "abstracts.jsonl"
    lines = []
    for i in range(60):
        lines.append(json.dumps({"id": f"a{i}", **synthetic_abstract(list(TOPICS)[i % 3], rng)}))
    lines.insert(10, '{"id": "broken", "title": "Zebrafish marker 4417 and')
    lines.insert(20, json.dumps({"id": "empty", "title": "Quokka marker 9981", "abstract": "  "}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pubmed_xml_gives_pmid_title_sections_mesh_journal_year():
    items = list(read_articles(DATA / "pubmed.xml"))
    first, second, third = items
    assert isinstance(first, Article) and first.id == "90000001" and first.year == 2019
    assert first.abstract.startswith("BACKGROUND: The benefit") and "\nRESULTS: Mortality" in first.abstract
    assert first.mesh == ["Myocardial Infarction", "Metoprolol"]
    assert first.journal == "Journal of Synthetic Cardiology"
    assert second.year == 2021  # from MedlineDate "2021 Jan-Feb"
    assert isinstance(third, DocumentError) and third.reason == "no abstract text" and third.id == "90000003"


def test_broken_xml_keeps_what_came_before_the_break():
    items = list(read_articles(DATA / "broken.xml"))
    assert isinstance(items[0], Article) and items[0].id == "90000001"
    assert isinstance(items[-1], DocumentError) and "broken XML after 1 articles" in items[-1].reason


def test_ris_and_csv_and_folder_inputs(tmp_path):
    ris = list(read_articles(DATA / "references.ris"))
    assert [a.id for a in ris[:2]] == ["ris-1", "ris-2"] and ris[0].year == 2018
    assert ris[0].mesh == ["Diabetes Mellitus, Type 2", "Metformin"] and isinstance(ris[2], DocumentError)
    table = tmp_path / "in.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pmid", "title", "text", "year", "mesh"])
        writer.writerow(["1", "A title", "An abstract.", "1999", "Asthma; Child"])
        writer.writerow(["2", "Only a title", "", "", ""])
    rows = list(read_articles(table))
    assert rows[0].id == "1" and rows[0].mesh == ["Asthma", "Child"] and rows[0].year == 1999
    assert isinstance(rows[1], DocumentError) and rows[1].reason == "no abstract text"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.ris").write_text((DATA / "references.ris").read_text())
    (folder / "b.xml").write_text((DATA / "pubmed.xml").read_text())
    assert len(list(read_articles(folder))) == 6


def test_sentence_roles_learn_position_and_words():
    abstracts = [["Background about disease.", "We enrolled adults with asthma.", "Outcome improved a lot."]] * 20
    roles = [["background", "population", "outcome"]] * 20
    model = SentenceRoleClassifier().fit(abstracts, roles)
    assert model.predict([["Background about disease.", "We enrolled children.", "Outcome improved."]]) == \
        [["background", "population", "outcome"]]
    assert model.predict([[]]) == [[]]


def test_sentence_roles_sequence_stage_reads_roles_beyond_the_next_sentence():
    # The last "Details follow." has the same words, neighbours and position in both kinds of abstract; only the
    # first sentence, three away, says which role the run of details continues.
    filler = ["Details follow.", "Details follow.", "Details follow."]
    abstracts = [["Adults with asthma were enrolled."] + filler, ["Mortality fell sharply."] + filler] * 15
    roles = [["population"] * 4, ["outcome"] * 4] * 15
    test = [["Adults with asthma were enrolled."] + filler, ["Mortality fell sharply."] + filler]
    sequence = SentenceRoleClassifier(sequence_width=3).fit(abstracts, roles)
    assert [roles[-1] for roles in sequence.predict(test)] == ["population", "outcome"]
    plain = SentenceRoleClassifier(sequence_width=0).fit(abstracts, roles)
    last = [roles[-1] for roles in plain.predict(test)]
    assert last[0] == last[1]  # without the sequence stage it cannot tell them apart


def test_sentence_roles_fit_with_a_rare_role_and_refuse_a_role_seen_once():
    abstracts = [["Adults with asthma were enrolled.", "Mortality fell sharply."]] * 40
    roles = [["population", "outcome"]] * 40
    rare = [list(r) for r in roles]
    for i in (0, 1, 2):  # a role in 3 abstracts: some folds' training parts hold fewer than 2 of it
        rare[i][1] = "other"
    model = SentenceRoleClassifier().fit(abstracts, rare)
    assert set(model.classes_) == {"population", "outcome", "other"}
    assert model.predict([abstracts[0]])[0][0] == "population"
    # Two abstracts: each fold trains on one, too few for calibration, so the sequence stage is left out.
    assert SentenceRoleClassifier().fit(abstracts[:2], roles[:2]).sequence_ is None
    once = [list(r) for r in roles]
    once[0][1] = "other"
    with pytest.raises(ValueError, match="at least 2 sentences"):
        SentenceRoleClassifier().fit(abstracts, once)


def test_topic_names_prefer_distinctive_terms():
    from collections import Counter

    names = topic_names({0: Counter({"patients": 10, "tumour": 8}), 1: Counter({"patients": 10, "sepsis": 9})})
    assert names[0][0] == "tumour" and names[1][0] == "sepsis"
    assert default_topics(60) == 5 and default_topics(3) == 2 and default_topics(10**6) == 30


def test_association_rules_have_support_confidence_lift():
    columns = ["category: C01", "mesh: Sepsis", "term: rash"]
    transactions = [[0, 1]] * 30 + [[2]] * 30 + [[0]] * 10
    rules = association_rules(transactions, columns, len(transactions))
    rule = next(r for r in rules if r["if"] == "mesh: Sepsis" and r["then"] == "category: C01")
    assert rule["confidence"] == 1.0 and rule["support"] == round(30 / 70, 4)
    assert rule["lift"] == round(1.0 / (40 / 70), 3) and rule["documents"] == 30


@pytest.mark.skipif(not (MODELS / "hoc-tfidf").is_dir(), reason="needs the committed default models")
def test_mine_with_a_category_model_that_may_predict_no_label(collection, tmp_path):
    """hoc-tfidf predicts no hallmark for most of these abstracts: they are mined with category "none", not
    dropped as errors."""
    import pyarrow.parquet as pq

    from nlp.cli import main

    out = tmp_path / "out"
    assert main(["mine", str(collection), "-o", str(out), "--model", "hoc-tfidf", "--summarizer", "lead",
                 "--no-progress"]) == 1  # the collection's two bad records
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert {e["reason"].split(":")[0] for e in errors} == {"malformed JSON", "no abstract text"}
    documents = pq.read_table(out / "documents.parquet").to_pylist()
    assert len(documents) == 60
    unlabelled = [d for d in documents if d["category"] == "none"]
    assert unlabelled and all(d["categories"] == [] and d["category_score"] is None for d in unlabelled)
    categories = {row["category"] for row in csv.DictReader((out / "categories.csv").open())}
    assert "none" in categories


@pytest.mark.skipif(not (MODELS / "piboso-roles").is_dir(), reason="needs the committed default models")
def test_mine_writes_every_output_and_resumes(collection, tmp_path):
    import pyarrow.parquet as pq

    from nlp.cli import main

    out = tmp_path / "out"
    args = [str(collection), "-o", str(out), "--shard-size", "16", "--summarizer", "lead", "--no-progress"]
    assert main(["mine", *args]) == 1  # two bad records: non-zero exit, the rest processed
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert {e["reason"].split(":")[0] for e in errors} == {"malformed JSON", "no abstract text"}
    manifest = (out / "errors.jsonl").read_text()
    assert "4417" not in manifest and "9981" not in manifest  # a failed record's text never reaches the errors
    documents = pq.read_table(out / "documents.parquet").to_pylist()
    assert len(documents) == 60 and len({d["id"] for d in documents}) == 60
    first = documents[0]
    assert first["category"] and first["summary"] and first["key_terms"] and first["topic_name"]
    assert all(any(c.isalpha() for c in term) for d in documents for term in d["key_terms"])  # no "412"
    roles = {s["role"] for d in documents for s in d["sentences"]}
    assert "population" in roles or "intervention" in roles
    for document in documents[:5]:
        text = f"{document['title']}\n{document['abstract']}"
        for sentence in document["sentences"]:
            assert text[sentence["start"]:sentence["end"]] == sentence["text"]
    for name in ("categories", "years", "topics", "terms", "rules"):
        assert (out / f"{name}.csv").stat().st_size > 0, name
    years = {row["year"]: int(row["documents"]) for row in csv.DictReader((out / "years.csv").open())}
    assert sum(years.values()) == 60
    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 3 and "<script" not in report and "http" not in report.split("<svg")[0]

    # Interrupted run: two shards lose their markers; a re-run redoes only those and gets the same output.
    before = (out / "documents.jsonl").read_text()
    (out / "shards" / "shard-00001.done").unlink()
    (out / "shards" / "shard-00003.done").unlink()
    from nlp.mining.analyze import MiningSettings
    from nlp.mining.run import mine

    result = mine(collection, out, MiningSettings(summarizer="lead"), shard_size=16, progress=False)
    assert result.shards == 4 and result.shards_analyzed == 2
    assert (out / "documents.jsonl").read_text() == before


@pytest.mark.skipif(not (MODELS / "piboso-roles").is_dir(), reason="needs the committed default models")
@pytest.mark.slow
def test_local_and_ray_engines_give_the_same_results(collection, tmp_path):
    pytest.importorskip("ray")
    from nlp.mining.analyze import MiningSettings
    from nlp.mining.run import mine

    settings = MiningSettings(summarizer="lead")
    local = mine(collection, tmp_path / "local", settings, engine="local", workers=2, shard_size=16, progress=False)
    ray = mine(collection, tmp_path / "ray", settings, engine="ray", workers=2, shard_size=16, progress=False)
    assert local.documents == ray.documents == 60

    def rows(folder):
        return [{k: v for k, v in json.loads(line).items() if k != "source"}
                for line in (folder / "documents.jsonl").read_text().splitlines()]

    for a, b in zip(rows(tmp_path / "local"), rows(tmp_path / "ray")):
        assert a.keys() == b.keys()
        for key in a:
            if key != "category_score":
                assert a[key] == b[key], key
        assert abs(a["category_score"] - b["category_score"]) < 1e-3
    for name in ("categories", "topics", "rules"):
        assert (tmp_path / "local" / f"{name}.csv").read_text() == (tmp_path / "ray" / f"{name}.csv").read_text()


def test_mine_refuses_bad_arguments(collection, tmp_path):
    from nlp.mining.run import mine

    with pytest.raises(ValueError, match="engine"):
        mine(collection, tmp_path / "x", engine="spark")
    with pytest.raises(ValueError, match="inside"):
        mine(collection.parent, collection.parent / "out")


def test_mine_with_no_usable_record_writes_empty_outputs_and_fails(tmp_path):
    from nlp.cli import main

    source = tmp_path / "bad.jsonl"
    source.write_text('{"id": 1, "title": "t"}\nnot json\n')
    out = tmp_path / "out"
    assert main(["mine", str(source), "-o", str(out), "--no-progress"]) == 1
    reasons = [json.loads(line)["reason"] for line in (out / "errors.jsonl").read_text().splitlines()]
    assert len(reasons) == 2 and reasons[0].startswith("missing field")
    assert (out / "report.html").read_text().count("0 documents analyzed") == 1
    assert (out / "documents.jsonl").read_text() == ""
    import pyarrow.parquet as pq

    assert pq.read_table(out / "documents.parquet").num_rows == 0
