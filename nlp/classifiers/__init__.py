"""Document classifiers, registered by versioned name (see :mod:`nlp.classifiers.registry` for the contract)."""

from nlp.classifiers.registry import (Classifier, ClassifierType, classifier_types, get_classifier_type, register,
                                      type_of)
from nlp.classifiers.tfidf import TFIDF, TfidfClassifier
from nlp.classifiers.transformer import TRANSFORMER, TransformerClassifier
from nlp.classifiers.ensemble import ENSEMBLE, EnsembleClassifier  # noqa: E402 (its members come first)

for _entry in (TFIDF, TRANSFORMER, ENSEMBLE):
    register(_entry)

__all__ = ["Classifier", "ClassifierType", "EnsembleClassifier", "TfidfClassifier", "TransformerClassifier",
           "classifier_types", "get_classifier_type", "register", "type_of"]
