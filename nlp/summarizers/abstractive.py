"""Abstractive summarization with any Hugging Face sequence-to-sequence checkpoint, map-reduce for long texts.

No pretrained summarizer's weights install offline, so there is no default model: pass a local folder
(``save_pretrained`` output: T5, FLAN-T5, BART, Pegasus, LED, or an ``EncoderDecoderModel``) or, on a machine
with a network, a hub id such as ``google/flan-t5-base`` (with ``prompt="summarize: "``) or
``facebook/bart-large-cnn``.

A text longer than the model's input limit is never cut: it is split on sentence boundaries into chunks
that fit, each chunk is summarized (map), and the joined partial summaries are summarized again until
one pass fits (reduce).
"""

from __future__ import annotations

from functools import cached_property

from nlp.segmentation import Segmenter, resolve_sections
from nlp.summarizers.base import Budget, Summary, candidates, truncate

MAX_REDUCE_ROUNDS = 8


class AbstractiveSummarizer:
    """Summaries written by a seq2seq model.

    Args:
        model: A local checkpoint folder or a hub id (required).
        prompt: Text put before every input (``"summarize: "`` for T5-family models).
        max_input_tokens: Tokens per model input; default: the tokenizer's limit, else 512.
        max_summary_tokens: Tokens generated per summary when no word budget is given.
        num_beams: Beam search width.
        batch_size: Inputs per generation call.
    """

    def __init__(self, model: str | None = None, prompt: str = "", max_input_tokens: int | None = None,
                 max_summary_tokens: int = 128, num_beams: int = 2, batch_size: int = 4):
        if not model:
            raise ValueError("abstractive summarization needs a model: a local seq2seq checkpoint folder or a "
                             "hub id such as google/flan-t5-base (none ships offline)")
        self.model_name = model
        self.prompt = prompt
        self.max_input_tokens = max_input_tokens
        self.max_summary_tokens = max_summary_tokens
        self.num_beams = num_beams
        self.batch_size = batch_size
        self.segmenter = Segmenter()

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_name)

    @cached_property
    def model(self):
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM.from_pretrained(self.model_name).eval()

    @property
    def input_limit(self) -> int:
        if self.max_input_tokens:
            return self.max_input_tokens
        limit = self.tokenizer.model_max_length
        return limit if isinstance(limit, int) and 0 < limit <= 100_000 else 512

    def summarize(self, texts: list[str], max_words: int | None = None, max_sentences: int | None = None,
                  sections: list[str] | None = None) -> list[Summary]:
        """One summary per text (``sentences`` stay empty: the words are the model's, not the source's)."""
        budget = Budget(max_words, max_sentences)
        wanted = resolve_sections(sections) if sections else None
        summaries = []
        for segmented in self.segmenter.segment(list(texts)):
            sentences = [s.text for s in candidates(segmented, wanted)]
            summaries.append(Summary(self._fit(self._map_reduce(sentences, budget), budget)) if sentences
                             else Summary(""))
        return summaries

    def _map_reduce(self, sentences: list[str], budget: Budget) -> str:
        for _ in range(MAX_REDUCE_ROUNDS):
            chunks = self._chunks(sentences)
            partials = self._generate(chunks, budget)
            if len(chunks) == 1:
                return partials[0]
            sentences = [s.text for p in self.segmenter.segment(partials) for s in p.sentences] or partials
        return " ".join(partials)

    def _chunks(self, sentences: list[str]) -> list[str]:
        """Sentence-aligned chunks of at most ``input_limit`` tokens (a longer sentence is cut into pieces)."""
        limit = self.input_limit - len(self.tokenizer(self.prompt)["input_ids"]) - 2
        lengths = [len(ids) for ids in self.tokenizer(sentences, add_special_tokens=False)["input_ids"]]
        pieces = []
        for sentence, length in zip(sentences, lengths):
            if length <= limit:
                pieces.append((sentence, length))
                continue
            words = sentence.split()
            step = max(1, len(words) * limit // (length + 1))
            pieces.extend((" ".join(words[i:i + step]), limit) for i in range(0, len(words), step))
        chunks, current, size = [], [], 0
        for piece, length in pieces:
            if current and size + length > limit:
                chunks.append(" ".join(current))
                current, size = [], 0
            current.append(piece)
            size += length
        if current:
            chunks.append(" ".join(current))
        return chunks

    def _generate(self, chunks: list[str], budget: Budget) -> list[str]:
        import torch

        new_tokens = int(budget.max_words * 1.5) + 8 if budget.max_words else self.max_summary_tokens
        outputs = []
        for start in range(0, len(chunks), self.batch_size):
            batch = [self.prompt + chunk for chunk in chunks[start:start + self.batch_size]]
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                     max_length=self.input_limit)
            encoded.pop("token_type_ids", None)
            with torch.inference_mode():
                generated = self.model.generate(**encoded, max_new_tokens=new_tokens, num_beams=self.num_beams)
            outputs.extend(text.strip() for text in self.tokenizer.batch_decode(generated, skip_special_tokens=True))
        return outputs

    def _fit(self, text: str, budget: Budget) -> str:
        """Apply the sentence and word limits to generated text."""
        sentences = self.segmenter.segment([text])[0].sentences
        if budget.max_sentences is not None:
            sentences = sentences[:budget.max_sentences]
        if budget.max_words is not None:
            kept, words = [], 0
            for sentence in sentences:
                if words + sentence.words > budget.max_words:
                    if not kept:
                        kept.append(truncate(sentence, budget.max_words))
                    break
                kept.append(sentence)
                words += sentence.words
            sentences = kept
        return " ".join(s.text for s in sentences)
