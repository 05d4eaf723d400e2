"""What mining computes for each article: category, summary, sentence roles, key terms, an embedding.

:class:`ArticleAnalyzer` holds the models (loaded once per worker process or Ray actor) and turns a list
of :class:`~nlp.mining.articles.Article` into one flat dict per article, ready for Parquet and JSONL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlp.mining.articles import Article
from nlp.mining.roles import DEFAULT_ROLES_MODEL
from nlp.summarizers.base import candidates

DEFAULT_CATEGORY_MODEL = "ohsumed-tfidf"
# Key terms come from this TF-IDF model's vocabulary and IDF (fitted on OHSUMED abstracts).
TERMS_MODEL = "ohsumed-tfidf"
ROLE_FIELDS = ("population", "intervention", "outcome")
NO_CATEGORY = "none"  # the category of an article for which the category model predicted no label


def document_schema(with_embedding: bool):
    """The Arrow schema of per-document results (shards carry the embedding; the final files a topic)."""
    import pyarrow as pa

    strings = pa.list_(pa.string())
    sentence = pa.struct([("text", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                          ("role", pa.string()), ("score", pa.float64())])
    fields = [("id", pa.string()), ("title", pa.string()), ("abstract", pa.string()), ("year", pa.int64()), ("journal", pa.string()),
              ("mesh", strings), ("source", pa.string()), ("category", pa.string()), ("category_name", pa.string()),
              ("category_score", pa.float64()), ("categories", strings), ("summary", pa.string()),
              ("key_terms", strings), ("sentences", pa.list_(sentence)),
              *[(name, strings) for name in ROLE_FIELDS]]
    fields += [("embedding", pa.list_(pa.float32()))] if with_embedding else \
        [("topic", pa.int64()), ("topic_name", pa.string())]
    return pa.schema(fields)


@dataclass
class MiningSettings:
    """Which models mining uses and how much it writes per article (travels to every worker)."""

    model: str = DEFAULT_CATEGORY_MODEL
    summarizer: str = "extractive"
    roles_model: str = DEFAULT_ROLES_MODEL
    summary_words: int = 60
    key_terms: int = 8
    embedding_tokens: int = 128
    trusted: bool = False  # load model directories from outside the models folder (their weights are pickles)
    deidentify: bool = False  # titles and abstracts are de-identified (redacted) when staged, before anything is stored


class ArticleAnalyzer:
    """Runs every per-article step; build one per process, then call :meth:`analyze` on batches."""

    def __init__(self, settings: MiningSettings):
        from nlp.embeddings import SentenceEncoder
        from nlp.model_store import load_model
        from nlp.segmentation import Segmenter
        from nlp.summarizers import get_summarizer

        self.settings = settings
        self.category_model = load_model(settings.model, trusted=settings.trusted)
        terms = self.category_model if settings.model == TERMS_MODEL else load_model(TERMS_MODEL)
        self.terms = terms.estimator
        self.term_names = self.terms._feature_names()
        self.roles = load_model(settings.roles_model, trusted=settings.trusted).estimator
        self.summarizer = get_summarizer(settings.summarizer) if settings.summarizer != "none" else None
        self.segmenter = Segmenter()
        self.encoder = SentenceEncoder(max_tokens=settings.embedding_tokens, batch_size=32)

    def analyze(self, articles: list[Article]) -> list[dict]:
        """One result dict per article, in order."""
        from nlp.summarizers import Budget

        if not articles:
            return []
        texts = [a.text for a in articles]
        categories = self._categories(texts)
        key_terms = self._key_terms(texts)
        # Abstracts are cut into sentences once: the role model and the summarizer share them.
        pools = [candidates(seg) for seg in self.segmenter.segment([a.abstract for a in articles])]
        roles = self._roles(articles, pools)
        summaries = (self.summarizer.summarize_sentences(pools, Budget(max_words=self.settings.summary_words))
                     if self.summarizer else [None] * len(articles))
        embeddings = self._embed(texts)
        results = []
        for i, article in enumerate(articles):
            row = {"id": article.id, "title": article.title, "abstract": article.abstract, "year": article.year, "journal": article.journal,
                   "mesh": list(article.mesh), "source": article.source, **categories[i],
                   "summary": summaries[i].text if summaries[i] is not None else None,
                   "key_terms": key_terms[i], "sentences": roles[i],
                   "embedding": embeddings[i].tolist()}
            for field in ROLE_FIELDS:
                row[field] = [s["text"] for s in roles[i] if s["role"] == field]
            results.append(row)
        return results

    def _categories(self, texts: list[str]) -> list[dict]:
        estimator = self.category_model.estimator
        proba = estimator.predict_proba(texts)
        picks = estimator.decide(proba)
        names = self.category_model.label_names
        out = []
        for row, chosen in zip(proba, picks):
            labels = [str(estimator.classes_[i]) for i in chosen]
            if not labels:  # a multi-label model that may predict no label (e.g. hoc-tfidf) found none
                out.append({"category": NO_CATEGORY, "category_name": "no label reached the model's threshold",
                            "category_score": None, "categories": []})
                continue
            out.append({"category": labels[0], "category_name": names.get(labels[0], labels[0]),
                        "category_score": round(float(row[chosen[0]]), 4), "categories": labels})
        return out

    def _key_terms(self, texts: list[str]) -> list[list[str]]:
        X = self.terms.transform(texts).tocsr()
        out = []
        for row in range(X.shape[0]):
            start, end = X.indptr[row], X.indptr[row + 1]
            values, indices = X.data[start:end], X.indices[start:end]
            chosen: list[str] = []
            for i in np.lexsort((indices, -values)):  # ties broken by index: stable
                term = str(self.term_names[indices[i]])
                if not any(character.isalpha() for character in term):
                    continue  # "412" (a sample size) is not a key term
                words = set(term.split())
                # "breast cancer" and "breast" say one thing twice: keep the first, stronger one.
                if not any(words <= set(other.split()) or set(other.split()) <= words for other in chosen):
                    chosen.append(term)
                if len(chosen) == self.settings.key_terms:
                    break
            out.append(chosen)
        return out

    def _roles(self, articles: list[Article], sentences: list[list]) -> list[list[dict]]:
        if not any(sentences):
            return [[] for _ in articles]
        proba = self.roles.predict_proba([[s.text for s in pool] for pool in sentences])
        classes = [str(c) for c in self.roles.classes_]
        out, row = [], 0
        for article, pool in zip(articles, sentences):
            shift = len(article.title) + 1 if article.title else 0  # offsets into article.text
            items = []
            for sentence in pool:
                best = int(proba[row].argmax())
                items.append({"text": sentence.text, "start": sentence.start + shift,
                              "end": sentence.end + shift, "role": classes[best],
                              "score": round(float(proba[row, best]), 4)})
                row += 1
            out.append(items)
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        from nlp.classifiers.transformer import bf16_supported

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_supported()):
            return np.round(self.encoder.encode(texts), 5)
