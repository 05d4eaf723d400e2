"""Document classifiers, registered by versioned name (see :mod:`nlp.classifiers.registry` for the contract).

Each type's module is imported when first named (``from nlp.classifiers import TfidfClassifier``, or a saved model
of its type): a process that predicts with a transformer model never imports the TF-IDF types' scikit-learn.
"""

import importlib

from nlp.classifiers.registry import (Classifier, ClassifierType, classifier_types, get_classifier_type, register,
                                      type_of)

_LAZY = {"TFIDF": "tfidf", "TfidfClassifier": "tfidf", "TRANSFORMER": "transformer",
         "TransformerClassifier": "transformer", "ENSEMBLE": "ensemble", "EnsembleClassifier": "ensemble",
         "FINDINGS": "findings", "FindingsClassifier": "findings", "SENTENCES": "sentences",
         "SentenceTfidfClassifier": "sentences"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"nlp.classifiers.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'nlp.classifiers' has no attribute {name!r}")


__all__ = ["Classifier", "ClassifierType", "EnsembleClassifier", "FindingsClassifier", "SentenceTfidfClassifier",
           "TfidfClassifier", "TransformerClassifier", "classifier_types", "get_classifier_type", "register", "type_of"]
