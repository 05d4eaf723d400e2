"""Document classifiers, registered by versioned name (see :mod:`nlp.classifiers.registry` for the contract)."""

from nlp.classifiers.registry import (Classifier, ClassifierType, classifier_types, get_classifier_type, register,
                                      type_of)
from nlp.classifiers.tfidf import TFIDF, TfidfClassifier
from nlp.classifiers.transformer import TRANSFORMER, TransformerClassifier
from nlp.classifiers.ensemble import ENSEMBLE, EnsembleClassifier  # noqa: E402 (its members come first)
from nlp.classifiers.findings import FINDINGS, FindingsClassifier
from nlp.classifiers.sentences import SENTENCES, SentenceTfidfClassifier

for _entry in (TFIDF, TRANSFORMER, ENSEMBLE, FINDINGS, SENTENCES):
    register(_entry)

__all__ = ["Classifier", "ClassifierType", "EnsembleClassifier", "FindingsClassifier", "SentenceTfidfClassifier",
           "TfidfClassifier", "TransformerClassifier", "classifier_types", "get_classifier_type", "register", "type_of"]
