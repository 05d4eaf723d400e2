"""TextRank and LexRank baselines, from the ``sumy`` library, on this project's sentences.

sumy's own sentence and word tokenizers need NLTK data downloaded at run time, so the document is
built from :mod:`nlp.segmentation`'s sentences and a regular-expression word tokenizer; the ranking
itself (graph construction, power iteration) is sumy's.
"""

from __future__ import annotations

import re

from nlp.segmentation import Sentence
from nlp.summarizers.base import ExtractiveBase

_WORDS = re.compile(r"\w+")


class _WordTokenizer:
    language = "english"

    @staticmethod
    def to_words(text: str) -> list[str]:
        return _WORDS.findall(text)


MAX_SENTENCES = 3000


class GraphSummarizer(ExtractiveBase):
    """Ranks sentences with a sumy graph summarizer (``textrank`` or ``lexrank``).

    sumy builds the full sentence-by-sentence graph in Python, so a text with more than
    :data:`MAX_SENTENCES` candidate sentences is refused with a ``ValueError`` (the default extractive
    method handles any length)."""

    def __init__(self, algorithm: str):
        super().__init__()
        from sumy.nlp.stemmers import Stemmer
        from sumy.summarizers.lex_rank import LexRankSummarizer
        from sumy.summarizers.text_rank import TextRankSummarizer
        from sumy.utils import get_stop_words

        classes = {"textrank": TextRankSummarizer, "lexrank": LexRankSummarizer}
        self.algorithm = algorithm
        self.summarizer = classes[algorithm](Stemmer("english"))
        self.summarizer.stop_words = get_stop_words("english")

    def rank(self, sentences: list[Sentence]) -> tuple[list[int], list[float]]:
        if len(sentences) > MAX_SENTENCES:
            raise ValueError(f"{self.algorithm} handles at most {MAX_SENTENCES} sentences per text (this one has "
                             f"{len(sentences)}); use the extractive method for long texts")
        from sumy.models.dom import ObjectDocumentModel, Paragraph
        from sumy.models.dom import Sentence as SumySentence

        tokenizer = _WordTokenizer()
        document = ObjectDocumentModel([Paragraph([SumySentence(s.text, tokenizer) for s in sentences])])
        ranked = []

        def keep_all(infos):  # sumy passes every sentence, best first, to a callable count
            ranked.extend(infos)
            return infos

        self.summarizer(document, keep_all)
        scores = [0.0] * len(sentences)
        for info in ranked:
            scores[info.order] = float(info.rating)
        return [info.order for info in ranked], scores
