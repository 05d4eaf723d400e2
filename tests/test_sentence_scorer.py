import json

import numpy as np
import pytest

from nlp.embeddings import SentenceEncoder
from nlp.segmentation import Segmenter
from nlp.summarizers.extractive import KEY_SECTIONS
from nlp.summarizers.sentence_scorer import EXTRA_FEATURES, SentenceScorer, train_scorer


def test_sentence_scorer_packaged_weights_load():
    scorer = SentenceScorer.load()
    assert scorer.weights.shape == (384 + len(EXTRA_FEATURES),)
    assert scorer.meta["sentences"] > 1000 and set(scorer.meta["sets"]) >= {"cochrane", "aci_bench"}


def test_sentence_scorer_learns_which_sentences_references_keep(tmp_path):
    texts, references = [], []
    for i in range(12):
        texts.append(f"The weather was mild on day {i}. Metformin lowered the glucose level in trial {i}. "
                     f"Parking at the hospital was hard.")
        references.append(f"Metformin lowered the glucose level in trial {i} overall.")
    encoder, segmenter = SentenceEncoder(), Segmenter()
    scorer = train_scorer({"synthetic": (texts, references)}, encoder, segmenter, KEY_SECTIONS, C=1.0)
    path = scorer.save(tmp_path / "scorer.json")
    reloaded = SentenceScorer.load(path)
    assert json.loads(path.read_text())["meta"]["sets"] == {"synthetic": 12}
    from nlp.summarizers.sentence_scorer import sentence_features

    sentences = segmenter.segment(["It rained all week. Metformin lowered the glucose level in trial 99. "
                                   "Parking was hard."])[0].sentences
    scores = reloaded.predict(sentence_features(sentences, encoder.encode([s.text for s in sentences]), KEY_SECTIONS))
    assert int(np.argmax(scores)) == 1


@pytest.mark.slow
def test_sentence_scorer_is_reproducible_by_the_training_command(tmp_path):
    from corpora import CorpusError, resolve_data_dir
    from nlp.cli import main

    try:
        resolve_data_dir()
    except CorpusError:
        pytest.skip("the shared corpora are not here (set CLINNLP_DATA_DIR)")
    out = tmp_path / "scorer.json"
    assert main(["train-summarizer", "--out", str(out)]) == 0
    packaged, retrained = SentenceScorer.load(), SentenceScorer.load(out)
    assert retrained.meta["data_sha256"] == packaged.meta["data_sha256"]
    np.testing.assert_allclose(retrained.weights, packaged.weights, atol=1e-3)
