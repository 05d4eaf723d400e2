"""Model cards: every loaded classifier's task, labels, dev metrics, training data hash and version, its card
(``README.md``, rendered without any HTML of its own), and its evaluation pictures where they exist.

Pictures are the PNG files ``clinnlp evaluate`` writes (a confusion matrix for single-label models, per-label
bars for multi-label ones): those in the model's own folder, and ``<model name>-*.png`` in the evaluation folder
(``CLINNLP_EVALUATION_DIR``, default ``out/evaluate``, where ``clinnlp evaluate`` writes them). They are addressed
by number, never by a name from the request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import render_template, send_file
from markupsafe import Markup

from service.errors import ApiError
from service.web.blueprint import bp, state


def _model(name: str):
    registry = state().registry
    if name not in registry.classifiers:
        raise ApiError(404, "no such model is loaded", {"models": sorted(registry.classifiers)})
    return registry.classifiers[name]


def plots(model) -> list[dict]:
    """The model's evaluation pictures, each with what it was scored on (from the JSON report beside it). In the
    evaluation folder a picture is this model's when its report names the model (``ohsumed-tfidf-*.png`` alone
    would also match a model called ``ohsumed``)."""
    pictures = [_picture(path, _report(path)) for path in sorted(Path(model.path).glob("*.png")) if path.is_file()]
    folder = state().settings.evaluation_dir
    if folder and Path(folder).is_dir():
        for path in sorted(Path(folder).glob(f"{model.name}-*.png")):
            report = _report(path)
            if path.is_file() and report.get("model") == model.name:
                pictures.append(_picture(path, report))
    return pictures


def _report(picture: Path) -> dict:
    try:
        report = json.loads(picture.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _picture(path: Path, report: dict) -> dict:
    return {"path": path, "name": path.name, "scored_on": report.get("scored_on"),
            "documents": report.get("documents"), "accuracy": report.get("accuracy"),
            "macro_f1": report.get("macro_f1")}


@lru_cache(maxsize=64)
def _card_html(path: str, modified: float) -> Markup:
    from markdown_it import MarkdownIt

    # CommonMark with raw HTML off: a card's own tags are shown as text; links keep markdown-it's URL check
    # (no javascript: links).
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = renderer.parse(Path(path).read_text(encoding="utf-8"))
    for token in tokens:  # the page has its own h1: the card's headings go one level down
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 1)}"
    return Markup(renderer.renderer.render(tokens, renderer.options, {}))


def card_html(model) -> Markup | None:
    card = Path(model.path) / "README.md"
    if not card.is_file():
        return None
    return _card_html(str(card), card.stat().st_mtime)


@bp.get("/models")
def models():
    """Every loaded classifier with its version, task, labels and dev metrics; the summarization methods."""
    registry = state().registry
    cards = [registry.describe(model) for _, model in sorted(registry.classifiers.items())]
    return render_template("models.html", models=cards, summarizers=sorted(registry.summarizers))


@bp.get("/models/<name>")
def model(name: str):
    """One model's card."""
    loaded = _model(name)
    meta = loaded.meta
    return render_template("model.html", model=state().registry.describe(loaded), meta=meta,
                           per_class=meta.get("dev_metrics", {}).get("per_class", {}),
                           names=loaded.label_names, card=card_html(loaded), plots=plots(loaded))


@bp.get("/models/<name>/plots/<int:number>.png")
def model_plot(name: str, number: int):
    pictures = plots(_model(name))
    if not 0 <= number < len(pictures):
        raise ApiError(404, "no such picture")
    return send_file(pictures[number]["path"], mimetype="image/png")
