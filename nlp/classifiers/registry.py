"""The contract every document classifier keeps, and the registry of classifier types by versioned name.

A classifier type is registered once, with everything the rest of the project needs to know about it: its
class, its versioned name (``tfidf.v1``, as spaCy names its components; the bare old name still resolves), what
training tunes and whether it refits on all the data afterwards, its description and model-card section, and the
libraries whose versions its saved models depend on. Training, the model store, the CLI and the contract tests
read those facts from here, so a new type is one class and one :func:`register` call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Classifier(Protocol):
    """What the batch path, training, the service and the explanations need of a document classifier.

    scikit-learn's estimator contract (``__init__`` stores keyword arguments only; ``fit`` returns ``self``;
    fitted attributes end in ``_``), plus the split of prediction into features and probabilities so that
    explanations reuse the features, and the decision rule.
    """

    multi_label: bool
    classes_: np.ndarray

    def fit(self, texts: Sequence[str], y) -> "Classifier":
        """Fit on texts and a label per text (a list of labels per text when multi-label)."""

    def transform(self, texts: Sequence[str], explain: bool = False) -> Any:
        """Features of ``texts``, whatever :meth:`predict_proba_features` and :meth:`explain` take; with
        ``explain`` they also hold what :meth:`explain` needs from the same pass (types that need nothing more
        ignore it)."""

    def predict_proba_features(self, features) -> np.ndarray:
        """Probabilities ``(n, len(classes_))`` from features."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(n, len(classes_))``: a list in, an array out, whatever the input's length."""

    def decide(self, proba: np.ndarray) -> list[list[int]]:
        """Predicted class indices per row, most probable first."""

    def explain(self, texts: Sequence[str], features, picks: list[list[int]], top_k: int = 10) -> list[list[dict]]:
        """Per text, ``{"label", "term", "weight", "spans"}`` items for each predicted label."""

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments (scikit-learn)."""


@dataclass(frozen=True)
class ClassifierType:
    """A registered classifier type.

    Attributes:
        name: Versioned name, ``<type>.v<n>``; a new version is registered when saved models of the old one
            would no longer load or mean the same.
        cls: The estimator class.
        description: One sentence for model cards.
        grid: Settings tried on the dev split, by task (``single_label``, ``multi_label``).
        refit: Whether the chosen setting is refitted on all the data after tuning.
        libraries: Packages whose versions a saved model depends on (recorded at save, checked at load).
        card_section: Extra Markdown lines for the model card, from the model's metadata.
        aliases: Older names that still load (``tfidf`` for ``tfidf.v1``).
        runtime_options: Settings a saved model takes at prediction time through ``set_runtime(**options)``
            (``runtime``, ``precision`` for transformer models), which change speed, not what was learned.
    """

    name: str
    cls: type
    description: str
    grid: dict[str, dict[str, list]] = field(default_factory=dict)
    refit: bool = True
    libraries: tuple[str, ...] = ("scikit-learn", "numpy", "scipy", "joblib")
    card_section: Callable[[dict], list[str]] | None = None
    aliases: tuple[str, ...] = ()
    runtime_options: tuple[str, ...] = ()

    def param_grid(self, multi_label: bool) -> dict[str, list]:
        return self.grid.get("multi_label" if multi_label else "single_label", {})


_TYPES: dict[str, ClassifierType] = {}

# The built-in types: ``<module>.v<n>`` is registered by ``nlp.classifiers.<module>`` when it is imported, and a
# lookup imports only the module it needs, so predicting with a transformer model never imports the TF-IDF
# types' scikit-learn (about 1.5 s of a process's start).
BUILT_IN_MODULES = ("tfidf", "transformer", "ensemble", "findings", "sentences")


def _import_built_in(module: str) -> None:
    if module in BUILT_IN_MODULES:
        importlib.import_module(f"nlp.classifiers.{module}")


def register(entry: ClassifierType) -> ClassifierType:
    """Add a classifier type under its versioned name and its aliases."""
    for name in (entry.name, *entry.aliases):
        if name in _TYPES and _TYPES[name] is not entry:
            raise ValueError(f"classifier type {name!r} is registered already")
        _TYPES[name] = entry
    return entry


def classifier_types() -> list[ClassifierType]:
    """Every registered type once, by versioned name (the built-in ones imported first)."""
    for module in BUILT_IN_MODULES:
        _import_built_in(module)
    return sorted({id(entry): entry for entry in list(_TYPES.values())}.values(), key=lambda entry: entry.name)


def get_classifier_type(name: str) -> ClassifierType:
    """The type registered as ``name`` (versioned or an alias); an unknown name lists the known ones."""
    if name not in _TYPES:
        _import_built_in(name.split(".")[0])
    if name not in _TYPES:
        classifier_types()  # a name that is not its module's (an alias, a type of another package) after all
    try:
        return _TYPES[name]
    except KeyError:
        known = ", ".join(entry.name for entry in classifier_types())
        raise ValueError(f"unknown model type {name!r}; known: {known}") from None


def type_of(estimator) -> ClassifierType:
    """The registered type of a fitted or unfitted estimator."""
    for entries in (lambda: list(_TYPES.values()), classifier_types):  # the built-in modules only when needed
        for entry in entries():
            if type(estimator) is entry.cls:
                return entry
    raise ValueError(f"{type(estimator).__name__} is not a registered classifier type")
