"""Classifiers, by registered name. Each follows scikit-learn's estimator contract and adds
``analyze``/``transform``/``decide``/``explain`` for the batch path and explanations."""

from nlp.classifiers.tfidf import TfidfClassifier
from nlp.classifiers.transformer import TransformerClassifier
from nlp.classifiers.ensemble import EnsembleClassifier  # noqa: E402 (needs the two above)
from nlp.classifiers.findings import FindingsClassifier

CLASSIFIERS = {"tfidf": TfidfClassifier, "transformer": TransformerClassifier, "ensemble": EnsembleClassifier,
               "findings": FindingsClassifier}


def get_classifier(name: str):
    """Return the classifier class registered as ``name``; the error lists the known names."""
    try:
        return CLASSIFIERS[name]
    except KeyError:
        raise ValueError(f"unknown model type {name!r}; known: {', '.join(sorted(CLASSIFIERS))}") from None
