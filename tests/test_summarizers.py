import pytest

from nlp.summarizers import get_summarizer, summarizer_names
from tests.test_segmentation import NOTE

EXTRACTIVE = [name for name in summarizer_names() if name != "abstractive"]
ABSTRACT = (
    "Heart failure is a common cause of admission. We randomly assigned 400 patients with heart failure to a "
    "nurse-led clinic or usual care. The nurse-led clinic reduced readmissions for heart failure by a third. "
    "Mortality did not differ between the groups. Quality of life improved in the nurse-led clinic group. "
    "Costs were similar. We conclude that nurse-led clinics reduce readmissions for heart failure."
)


@pytest.fixture(scope="module", params=EXTRACTIVE)
def summarizer(request):
    return get_summarizer(request.param)


@pytest.mark.parametrize("max_words", [5, 12, 30, 60])
def test_summarizer_word_budget_is_hard(summarizer, max_words):
    for summary in summarizer.summarize([ABSTRACT, NOTE], max_words=max_words):
        assert 0 < len(summary.text.split()) <= max_words


@pytest.mark.parametrize("max_sentences", [1, 2, 4])
def test_summarizer_sentence_budget(summarizer, max_sentences):
    for summary in summarizer.summarize([ABSTRACT, NOTE], max_sentences=max_sentences):
        assert len(summary.sentences) == max_sentences


def test_summarizer_sentences_point_at_the_source(summarizer):
    for text, summary in zip([ABSTRACT, NOTE], summarizer.summarize([ABSTRACT, NOTE], max_words=40)):
        assert summary.sentences
        for sentence in summary.sentences:
            assert text[sentence.start:sentence.end] == sentence.text
        assert [s.start for s in summary.sentences] == sorted(s.start for s in summary.sentences)
        assert summary.text == " ".join(s.text for s in summary.sentences)


def test_summarizer_empty_and_one_sentence_inputs(summarizer):
    empty, single, long_single = summarizer.summarize(
        ["", "Aspirin was started.", "one two three four five six seven eight nine ten"], max_words=4)
    assert (empty.text, empty.sentences) == ("", [])
    assert single.text == "Aspirin was started."
    assert long_single.text == "one two three four"
    assert (long_single.sentences[0].start, long_single.sentences[0].end) == (0, len("one two three four"))


def test_summarizer_sections_restrict_the_source(summarizer):
    [summary] = summarizer.summarize([NOTE], max_sentences=5, sections=["assessment", "plan"])
    assert summary.sentences
    assert all(NOTE.index("ASSESSMENT") <= s.start for s in summary.sentences)
    assert "ASSESSMENT" not in summary.text  # headings are never summary sentences
    [nothing] = summarizer.summarize([ABSTRACT], sections=["medications"])
    assert nothing.text == ""


def test_summarizer_extractive_avoids_repeating_itself():
    text = ("Warfarin was started for atrial fibrillation. Warfarin was started for atrial fibrillation. "
            "The patient lives alone and walks daily. Renal function was normal on admission. "
            "Warfarin was started for atrial fibrillation.")
    [summary] = get_summarizer("extractive").summarize([text], max_sentences=2)
    assert len({s.text for s in summary.sentences}) == 2


def test_summarizer_registry_lists_known_methods():
    with pytest.raises(ValueError, match="known: extractive, lead, textrank, lexrank, abstractive"):
        get_summarizer("gpt")
    with pytest.raises(ValueError, match="needs a model"):
        get_summarizer("abstractive")


def test_summarizer_rejects_bad_budgets():
    with pytest.raises(ValueError, match="max_words must be a whole number"):
        get_summarizer("lead").summarize([ABSTRACT], max_words=0)


@pytest.fixture(scope="module")
def tiny_seq2seq(tmp_path_factory):
    """A two-layer encoder-decoder built from a config, with the packaged MiniLM tokenizer (no download)."""
    from transformers import AutoTokenizer, BertConfig, EncoderDecoderConfig, EncoderDecoderModel

    from nlp.embeddings import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()))
    shape = dict(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=128)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**shape), BertConfig(**shape, is_decoder=True, add_cross_attention=True))
    config.decoder_start_token_id = tokenizer.cls_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.sep_token_id
    folder = tmp_path_factory.mktemp("tiny-seq2seq")
    EncoderDecoderModel(config=config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_summarizer_abstractive_runs_on_a_local_model_and_chunks_long_text(tiny_seq2seq):
    summarizer = get_summarizer("abstractive", model=tiny_seq2seq, max_input_tokens=48, num_beams=1)
    long_text = " ".join([ABSTRACT] * 6)
    sentences = [s.text for s in summarizer.segmenter.segment([long_text])[0].sentences]
    chunks = summarizer._chunks(sentences)
    assert len(chunks) > 1
    assert all(len(summarizer.tokenizer(c, add_special_tokens=False)["input_ids"]) <= 46 for c in chunks)
    assert " ".join(chunks).split() == long_text.split()  # every word goes to the model, none is cut
    summaries = summarizer.summarize([long_text, "Short note.", ""], max_words=12)
    assert [s.sentences for s in summaries] == [[], [], []]
    assert all(len(s.text.split()) <= 12 for s in summaries)
    assert summaries[0].text and summaries[2].text == ""


def test_summarizer_lexical_centrality_is_the_mean_pairwise_cosine():
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlp.summarizers.sentence_scorer import lexical_centrality

    texts = ["chest pain and troponin", "troponin was normal", "the patient went home", "chest x-ray normal"]
    tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    pairwise = (tfidf @ tfidf.T).toarray()
    np.fill_diagonal(pairwise, 0.0)
    np.testing.assert_allclose(lexical_centrality(texts), pairwise.sum(axis=1) / 3, atol=1e-9)


def test_summarizer_graph_methods_refuse_texts_too_long_for_them():
    from nlp.summarizers.graph import MAX_SENTENCES

    text = " ".join(f"Sentence {i} is here." for i in range(MAX_SENTENCES + 1))
    with pytest.raises(ValueError, match="use the extractive method"):
        get_summarizer("textrank").summarize([text], max_words=20)


STEMI = ("CHIEF COMPLAINT: Chest pain.\nHISTORY OF PRESENT ILLNESS: 58-year-old man with crushing substernal chest pain "
         "radiating to the left arm for 2 hours, diaphoresis and nausea. He smokes.\nPHYSICAL EXAMINATION: Blood "
         "pressure 150/90. Heart regular, no murmur. Lungs clear. No edema.\nEKG: ST elevation in II, III and aVF.\n"
         "ASSESSMENT: Acute inferior ST-elevation myocardial infarction.\nPLAN: Emergent cardiac catheterization, "
         "aspirin, heparin.")


@pytest.fixture(scope="module")
def extractive():
    return get_summarizer("extractive")


def test_summary_of_a_note_keeps_what_a_clinician_reads_first(extractive):
    """A 40-word summary of a STEMI note keeps the assessment and the presenting complaint, not normal findings."""
    [summary] = extractive.summarize([STEMI], max_words=40)
    assert "Acute inferior ST-elevation myocardial infarction" in summary.text
    assert "crushing substernal chest pain" in summary.text
    assert "no murmur" not in summary.text and "Lungs clear" not in summary.text


def test_summary_of_a_soap_note_starts_with_the_presenting_problem_not_a_negative(extractive):
    import json
    from pathlib import Path

    notes = {json.loads(line)["id"]: json.loads(line)["text"]
             for line in (Path(__file__).parent.parent / "examples" / "notes.jsonl").read_text().splitlines()}
    [summary] = extractive.summarize([notes["ex-n4"]])
    assert "sore throat" in summary.sentences[0].text and not summary.text.startswith("No cough")
    assert "Streptococcal pharyngitis" in summary.text


def test_normal_and_negative_findings_are_recognized():
    from nlp.summarizers.extractive import normal_or_negative

    for sentence in ("Heart regular, no murmur.", "Lungs clear.", "No edema.", "No cough.", "Denies chest pain.",
                     "Abdomen soft, non-tender.", "Neurologic exam within normal limits."):
        assert normal_or_negative(sentence), sentence
    for sentence in ("Rapid strep test positive.", "ST elevation in II, III and aVF.", "Tonsils enlarged with exudate.",
                     "Crushing chest pain for two hours, no relief with rest."):
        assert not normal_or_negative(sentence), sentence


def test_lead_starts_at_the_first_sentence_even_when_it_is_over_the_budget():
    [summary] = get_summarizer("lead").summarize([STEMI.split("\n", 1)[1]], max_words=15)
    first = summary.sentences[0]
    assert first.start == 0 and len(summary.text.split()) == 15
    assert summary.text.startswith("HISTORY OF PRESENT ILLNESS: 58-year-old man")
    [two] = get_summarizer("lead").summarize(["One short sentence here. A second sentence that is much longer than the "
                                              "budget allows for sure. Third."], max_words=8)
    assert two.text == "One short sentence here."  # never skips the second to fit the third
