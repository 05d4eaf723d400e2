"""Chest X-ray findings labeler: which of the 14 ChestX-ray14 findings (and "normal") a report affirms.

Built on clinical analysis (:mod:`nlp.clinical.analyze`): every finding mention gets its ConText assertion
("no pneumothorax" is negated, "possible pneumonia" uncertain). Three methods, compared by 5-fold
cross-validation in ``benchmarks/findings_cv.py`` (figures in ``docs/benchmarks.md``):

- ``rules``: a finding is present when a mention of its concepts (:data:`FINDING_CONCEPTS`) is affirmed: not
  negated, hypothetical or a relative's (``uncertain_present`` and ``historical_present`` say whether
  uncertain and historical mentions count). "normal" when no finding or problem is affirmed, uncertain or
  historical.
- ``tfidf``: the project's TF-IDF + linear SVM on the report's words (today's classifier; its stop words drop
  "no" and "not", so it cannot see negation).
- ``hybrid``: the same TF-IDF model on the words plus one token per concept mention and assertion
  (``affirmed_pleural_effusion``, ``negated_pneumothorax``, ``uncertain_pneumonia``), so a negated mention is
  evidence against its finding rather than for it. Labels with fewer than ``min_positives`` training
  positives (Hernia has none in the shared labels) fall back to the rules.

Explanations point at text: a word's spans, or for an assertion token the mention's spans and its assertion.
"""

from __future__ import annotations

import re

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from nlp.classifiers.base import DecisionMixin
from nlp.classifiers.registry import ClassifierType, register

LABELS = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
          "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia", "normal")
# Lexicon concepts (nlp/clinical/data/concepts.jsonl) that name each finding, from radiology usage.
FINDING_CONCEPTS = {
    "Atelectasis": ("atelectasis", "pulmonary atelectasis"),
    "Cardiomegaly": ("cardiomegaly",),
    "Effusion": ("pleural effusion",),
    "Infiltration": ("infiltrate",),
    "Mass": ("mass",),
    "Nodule": ("nodule",),
    "Pneumonia": ("pneumonia",),
    "Pneumothorax": ("pneumothorax", "hydropneumothorax"),
    "Consolidation": ("consolidation",),
    "Edema": ("pulmonary edema", "edema"),
    "Emphysema": ("emphysema", "pulmonary emphysema", "bullous emphysema"),
    "Fibrosis": ("fibrosis", "pulmonary fibrosis"),
    "Pleural_Thickening": ("pleural thickening",),
    "Hernia": ("hernia", "hiatal hernia", "diaphragmatic hernia"),
}
ABNORMAL_CATEGORIES = frozenset({"problem", "finding"})
_NON_WORD = re.compile(r"\W+")


def assertion_state(concept) -> str:
    """``negated``, ``hypothetical``, ``family``, ``uncertain``, ``historical`` or ``affirmed`` (first that holds)."""
    a = concept.assertion
    for name in ("negated", "hypothetical", "family", "uncertain", "historical"):
        if getattr(a, name):
            return name
    return "affirmed"


def assertion_token(concept) -> str:
    return f"{assertion_state(concept)}_{_NON_WORD.sub('_', concept.concept).strip('_')}"


class FindingsClassifier(DecisionMixin, ClassifierMixin, BaseEstimator):
    # It reads every report through the process's one shared clinical analyzer (spaCy and medspaCy objects),
    # so a service runs it on that analyzer's thread (service.batching), never beside it.
    uses_shared_analyzer = True
    # Multi-label: a report may have no finding the model knows (and not be normal); decide() allows none.
    allows_no_label_ = True

    """Multi-label chest X-ray findings from concepts and assertions (see the module docstring).

    Args:
        method: ``hybrid``, ``rules`` or ``tfidf``.
        C: SVM regularization of the learned methods.
        threshold: Decision threshold on probabilities (chosen by cross-validation: the registry grid).
        min_positives: A finding needs this many training positives to be learned (else rules).
        uncertain_present: Rules count uncertain mentions ("possible effusion") as present.
        historical_present: Rules count historical mentions ("old granuloma") as present.
        findings_rules: Multi-label: the 14 findings and "normal" are always among the classes, those the
            training data hardly shows decided by the rules. ``False``: only the labels of the training data
            (the type then works on any labels, like the TF-IDF classifier with assertion tokens).
        min_df: Ignore terms in fewer documents than this.
        max_df: Ignore terms in more than this fraction of documents.
        multi_label: Multi-label (the findings task) or single-label.
        n_jobs: Parallel jobs for the per-label models.
    """

    def __init__(self, *, method="hybrid", C=1.0, threshold=0.5, min_positives=5, uncertain_present=True,
                 historical_present=True, findings_rules=True, min_df=2, max_df=0.9, multi_label=True, n_jobs=None):
        self.method = method
        self.C = C
        self.findings_rules = findings_rules
        self.min_df = min_df
        self.max_df = max_df
        self.threshold = threshold
        self.min_positives = min_positives
        self.uncertain_present = uncertain_present
        self.historical_present = historical_present
        self.multi_label = multi_label
        self.n_jobs = n_jobs

    # -- analysis -------------------------------------------------------------------------------------
    def _analyzer(self):
        if getattr(self, "_analyzer_cache", None) is None:
            from nlp.clinical.analyze import ClinicalAnalyzer

            self._analyzer_cache = ClinicalAnalyzer.shared()
        return self._analyzer_cache

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_analyzer_cache", None)  # rebuilt on first use; never pickled
        return state

    def _present(self, concept) -> bool:
        state = assertion_state(concept)
        return state == "affirmed" or (state == "uncertain" and self.uncertain_present) or \
            (state == "historical" and self.historical_present)

    def rule_decisions(self, analyses) -> np.ndarray:
        """0/1 per finding from the rules, shape ``(n, len(LABELS))`` in the order of :data:`LABELS`."""
        lookup = {concept: label for label, concepts in FINDING_CONCEPTS.items() for concept in concepts}
        out = np.zeros((len(analyses), len(LABELS)))
        normal = LABELS.index("normal")
        for row, analysis in enumerate(analyses):
            abnormal = False
            for concept in analysis.concepts:
                if concept.category not in ABNORMAL_CATEGORIES:
                    continue
                # Not normal when something is or may be there, even if the rules do not count it present.
                abnormal = abnormal or assertion_state(concept) in ("affirmed", "uncertain", "historical")
                label = lookup.get(concept.concept)
                if label is not None and self._present(concept):
                    out[row, LABELS.index(label)] = 1.0
            out[row, normal] = 0.0 if abnormal else 1.0
        return out

    @staticmethod
    def augmented(text: str, analysis) -> str:
        """The text followed by one token per concept mention and its assertion."""
        tokens = [assertion_token(c) for c in analysis.concepts if c.category in ABNORMAL_CATEGORIES]
        return text + "\n" + " ".join(tokens) if tokens else text

    # -- scikit-learn contract --------------------------------------------------------------------------
    def fit(self, texts, y):
        """Fit on texts and a label per text, or (multi-label) the list of labels present in each."""
        from nlp.classifiers.tfidf import TfidfClassifier

        if self.method not in ("hybrid", "rules", "tfidf"):
            raise ValueError(f"method must be hybrid, rules or tfidf, not {self.method!r}")
        if self.method == "rules" and not (self.multi_label and self.findings_rules):
            raise ValueError("method 'rules' needs multi_label=True and findings_rules=True")
        texts = list(texts)
        if len(texts) != len(y):
            raise ValueError(f"got {len(texts)} texts and {len(y)} labels")
        self.rule_labels_ = []
        if self.multi_label:
            rule_labels = list(LABELS) if self.findings_rules else []
            seen = sorted({str(label) for labels in y for label in labels} - set(rule_labels))
            self.classes_ = np.array(rule_labels + seen)
            counts = {label: sum(label in labels for labels in y) for label in self.classes_}
            # A finding the data hardly shows is left to the rules; any other label is learned.
            learnable = [label for label in rule_labels
                         if self.method != "rules" and self.min_positives <= counts[label] <= len(y) - 2]
            self.rule_labels_ = [label for label in rule_labels if label not in learnable]
            learned = set(learnable) | set(seen)
            targets = [[str(label) for label in labels if str(label) in learned] for labels in y]
        else:
            targets = [str(label) for label in y]
        self.model_ = None
        if self.method != "rules" and (not self.multi_label or set(self.classes_) - set(self.rule_labels_)):
            inputs = texts if self.method == "tfidf" else [
                self.augmented(t, a) for t, a in zip(texts, self._analyzer().analyze(texts))]
            self.model_ = TfidfClassifier(multi_label=self.multi_label, C=self.C, n_jobs=self.n_jobs,
                                          min_df=self.min_df, max_df=self.max_df)
            self.model_.fit(inputs, targets)
            if not self.multi_label:
                self.classes_ = self.model_.classes_
        return self

    def transform(self, texts, explain: bool = False) -> dict:
        """What prediction and explanation need: the analyses, and the learned model's features."""
        texts = list(texts)
        needs_analysis = self.method != "tfidf" or bool(self.rule_labels_)
        analyses = self._analyzer().analyze(texts) if needs_analysis else [None] * len(texts)
        features = None
        if self.model_ is not None:
            inputs = texts if self.method == "tfidf" else [self.augmented(t, a) for t, a in zip(texts, analyses)]
            features = self.model_.transform(inputs)
        return {"analyses": analyses, "features": features, "texts": texts}

    def predict_proba_features(self, X: dict) -> np.ndarray:
        column = {str(label): j for j, label in enumerate(self.classes_)}
        proba = np.zeros((len(X["texts"]), len(self.classes_)))
        if self.rule_labels_:
            rules = self.rule_decisions(X["analyses"])
            for label in self.rule_labels_:
                proba[:, column[label]] = rules[:, LABELS.index(label)]
        if self.model_ is not None:
            learned = self.model_.predict_proba_features(X["features"])
            for index, label in enumerate(self.model_.classes_):
                proba[:, column[str(label)]] = learned[:, index]
        return proba

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities, shape ``(n_texts, len(classes_))``."""
        return self.predict_proba_features(self.transform(texts))

    def decide(self, proba: np.ndarray) -> list[list[int]]:
        """Single-label: the most probable class. Multi-label: the labels at or above the threshold, most
        probable first; a report may have none (no finding the model knows, and not normal)."""
        if not self.multi_label:
            return [[int(i)] for i in proba.argmax(axis=1)]
        return [sorted(np.flatnonzero(row >= self.threshold).tolist(), key=lambda i, p=row: -p[i]) for row in proba]

    def explain(self, texts: list[str], X: dict, picks: list[list[int]], top_k: int = 10) -> list[list[dict]]:
        """Per text, for each predicted label: the mentions behind a rule's decision, or the strongest terms of
        the learned model, with character spans. An assertion token is reported as the mention it stands for
        (``term`` its text, ``concept``, ``assertion``, ``feature`` the token)."""
        labels = [str(c) for c in self.classes_]
        learned = None
        if self.model_ is not None:
            model_index = {str(c): i for i, c in enumerate(self.model_.classes_)}
            inputs = texts if self.method == "tfidf" else [self.augmented(t, a) for t, a in zip(texts, X["analyses"])]
            model_picks = [[model_index[labels[i]] for i in p if labels[i] in model_index] for p in picks]
            learned = self.model_.explain(inputs, X["features"], model_picks, top_k)
        explanations = []
        for row, (text, chosen) in enumerate(zip(texts, picks)):
            analysis = X["analyses"][row]
            by_token = {}
            if analysis is not None:
                for concept in analysis.concepts:
                    by_token.setdefault(assertion_token(concept), []).append(concept)
            items = []
            for index in chosen:
                if labels[index] in self.rule_labels_ and analysis is not None:
                    items.extend(self._rule_explanation(labels[index], analysis))
            for item in (learned[row] if learned is not None else []):
                parts = [part for part in item["term"].split(" ") if part in by_token]
                if not parts:
                    items.append({**item, "spans": [list(s) for s in item["spans"] if s[1] <= len(text)]})
                    continue
                # An assertion token (or an n-gram with one) points at the mentions it stands for.
                mentions = by_token[parts[0]]
                items.append({**item, "term": mentions[0].text.lower(), "feature": item["term"],
                              "concept": mentions[0].concept, "assertion": assertion_state(mentions[0]),
                              "spans": [[c.start, c.end] for c in mentions]})
            explanations.append(items)
        return explanations

    def _rule_explanation(self, label: str, analysis) -> list[dict]:
        if label == "normal":
            return [{"label": label, "term": "no affirmed finding", "weight": 1.0, "spans": []}]
        concepts = FINDING_CONCEPTS.get(label, ())
        return [{"label": label, "term": c.text.lower(), "concept": c.concept, "assertion": assertion_state(c),
                 "weight": 1.0, "spans": [[c.start, c.end]]}
                for c in analysis.concepts if c.concept in concepts and self._present(c)]


def _card_section(meta: dict) -> list[str]:
    return ["## Choice of method",
            "5-fold cross-validation on the same reports (`benchmarks/findings_cv.py`, figures pooled over the test "
            "folds, 0.5 threshold): hybrid micro-F1 0.8800, macro-F1 0.7444 (14 labels with positives); TF-IDF "
            "alone 0.8510 / 0.6258; rules alone 0.7659 / 0.6768. The threshold, 0.4, was chosen the same way "
            "(hybrid at 0.4: 0.8792 / 0.7526), not on the dev split. Per finding, with positive counts: "
            "docs/benchmarks.md. Hernia has no positive in NegBio's labels here: it is predicted by the rules only, "
            "and Mass (10 positives), Fibrosis (11) and Pneumothorax (13) are weak.", ""]


FINDINGS = register(ClassifierType(
    "findings.v1", FindingsClassifier, aliases=("findings",),
    description="chest X-ray findings from clinical analysis: each finding mention's ConText assertion (negated, "
                "uncertain, ...) becomes a token beside the report's words for a TF-IDF + linear SVM per finding; "
                "findings with too few training examples fall back to rules on affirmed mentions. Explanations "
                "point at the mention and its assertion.",
    # The method, C and the threshold were chosen by 5-fold cross-validation (benchmarks/findings_cv.py, the
    # mean of micro- and macro-F1 over thresholds 0.2-0.6: 0.4 best at 0.8159, 0.3-0.45 within 0.002). A dev split of
    # 366 reports, where several findings have no or one positive, chose anything from 0.2 to 0.35.
    grid={"multi_label": {"threshold": [0.4]}}, refit=True,
    libraries=("scikit-learn", "numpy", "scipy", "joblib", "spacy", "medspacy"),
    card_section=_card_section))
