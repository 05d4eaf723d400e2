"""The models a service process holds: loaded once at start, shared by every request."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from nlp.batch import ClassificationWriter
from nlp.model_store import Model, list_models, load_model
from nlp.summarizers import get_summarizer

log = logging.getLogger(__name__)


@dataclass
class Registry:
    """Loaded classifiers (by name) and summarizers (by method)."""

    classifiers: dict[str, Model] = field(default_factory=dict)
    summarizers: dict[str, object] = field(default_factory=dict)
    analyzer: object | None = None  # the clinical analyzer (sections, concepts, assertions)

    @classmethod
    def load(cls, classifiers: tuple[str, ...], summarizers: tuple[str, ...], analyzer: bool = True) -> "Registry":
        registry = cls()
        if analyzer:
            from nlp.clinical.analyze import ClinicalAnalyzer

            registry.analyzer = ClinicalAnalyzer.shared()  # the findings model shares it
            registry.analyzer.analyze(["Warm-up: no fever."])
            log.info("loaded clinical analysis")
        # Every document classifier in the models folder that is served by default (not helper models such as
        # sentence roles, nor the slow ones trained --not-served-by-default).
        names = classifiers or tuple(meta["name"] for meta in list_models()
                                     if meta.get("task") in ("single_label", "multi_label")
                                     and meta.get("served_by_default", True))
        for name in names:
            model = load_model(name)
            model.estimator.predict_proba(["Warm-up text."])  # loads lazy parts (a transformer's encoder) now
            registry.classifiers[model.name] = model
            log.info("loaded classifier %s %s", model.name, model.version)
        for method in summarizers:
            summarizer = get_summarizer(method)
            summarizer.summarize(["Warm-up sentence one. Warm-up sentence two."], max_sentences=1)
            registry.summarizers[method] = summarizer
            log.info("loaded summarizer %s", method)
        from nlp.privacy import Deidentifier

        Deidentifier().deidentify(["Warm-up note for Dr. Smith, 03/04/2021."])  # loads spaCy's NER once, now
        log.info("loaded de-identification")
        return registry

    def describe(self, model: Model) -> dict:
        meta = model.meta
        return {"name": model.name, "version": model.version, "task": meta["task"],
                "model_type": meta.get("model_type"), "labels": meta["labels"],
                "dev_metrics": {k: meta.get("dev_metrics", {}).get(k) for k in ("accuracy", "micro_f1", "macro_f1")},
                "training": {k: meta.get("training", {}).get(k) for k in ("corpus", "file", "documents", "data_sha256")}}

    def classify(self, name: str, documents, explain: bool) -> list[dict]:
        writer = ClassificationWriter(self.classifiers[name], explain=explain)
        return writer(documents)
