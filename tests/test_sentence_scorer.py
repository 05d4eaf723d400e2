import json

import numpy as np
import pytest

from nlp.embeddings import SentenceEncoder
from nlp.segmentation import Segmenter
from nlp.summarizers.extractive import KEY_SECTIONS
from nlp.summarizers.scorer_training import train_scorer
from nlp.summarizers.sentence_scorer import EXTRA_FEATURES, SentenceScorer


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
    """Retraining gives a scorer that picks the same summaries, on another CPU too.

    Weights are not compared to the last digit: the embeddings they are fitted on differ slightly between CPUs
    (oneDNN picks other kernels on AVX2 than on AVX-512/AMX), which moves some weights by a few thousandths. What
    matters is what the summarizer does with them: the sentences it picks on records neither was fitted on.
    """
    from corpora import CorpusError, resolve_data_dir
    from nlp.cli import main
    from nlp.summarizers.extractive import ExtractiveSummarizer
    from nlp.summarizers.scorer_training import load_pairs

    try:
        resolve_data_dir()
    except CorpusError:
        pytest.skip("the shared corpora are not here (set CLINNLP_DATA_DIR)")
    out = tmp_path / "scorer.json"
    assert main(["train-summarizer", "--out", str(out)]) == 0
    packaged, retrained = SentenceScorer.load(), SentenceScorer.load(out)
    assert retrained.meta["data_sha256"] == packaged.meta["data_sha256"]
    assert np.corrcoef(retrained.weights, packaged.weights)[0, 1] > 0.99

    texts = [text for name in ("cochrane", "indiana_cxr") for text in load_pairs(name, "eval")[0][:40]]
    first = ExtractiveSummarizer()
    second = ExtractiveSummarizer(scorer=str(out), encoder=first.encoder)
    picks = [[[(s.start, s.end) for s in summary.sentences] for summary in summarizer.summarize(texts, max_words=60)]
             for summarizer in (first, second)]
    same = sum(a == b for a, b in zip(*picks)) / len(texts)
    assert same >= 0.9, f"only {same:.0%} of the summaries are the same"
