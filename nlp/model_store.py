"""Models on disk: a directory with the weights, ``model.json`` and a model card (``README.md``).

``model.json`` records what the model is (name, version, task, labels with readable names), what it
was trained on (corpus, a hash of the training data), how well it did on its dev split, the library
versions it was saved with, and the sha256 of every artifact. Loading checks the hashes (a changed or
corrupted file is an error) and warns when library versions differ from the saved ones.

Weights are joblib pickles, and a pickle can run code when it is loaded: so weights load only from the
configured models folder (``$CLINNLP_MODELS_DIR``, else the project's ``models/``), whose contents are this
project's own or trained by you; a model directory anywhere else loads only when the caller says it is trusted
(``trusted=True``; ``--trust`` in the CLI). The sha256 in ``model.json`` catches corruption, not tampering:
whoever can write a folder can write both, which is why the folder is what is trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import joblib

import nlp

MODELS_DIR_ENV = "CLINNLP_MODELS_DIR"
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.joblib"
CARD_FILE = "README.md"
FORMAT_VERSION = 1
# Recorded for every model; each classifier type adds the libraries its weights depend on (torch, transformers, ...).
BASE_LIBRARIES = ("clinnlp", "scikit-learn", "numpy", "scipy", "joblib")


class ModelError(ValueError):
    """A model cannot be found or loaded; the message says which file and why."""


@dataclass
class Model:
    """A loaded model: the estimator, its metadata and where it came from."""

    estimator: object
    meta: dict
    path: Path

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def version(self) -> str:
        return self.meta["version"]

    @property
    def multi_label(self) -> bool:
        return self.meta["task"] == "multi_label"

    @property
    def label_names(self) -> dict[str, str]:
        return {label["id"]: label["name"] for label in self.meta["labels"]}


def default_models_dir() -> Path:
    """``$CLINNLP_MODELS_DIR``, else the project's ``models/`` folder."""
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(nlp.__file__).resolve().parent.parent / "models"


def library_versions(libraries: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the base libraries and ``libraries`` (``"not installed"`` for a missing one)."""
    versions = {"python": platform.python_version()}
    for name in dict.fromkeys(BASE_LIBRARIES + tuple(libraries)):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(estimator, directory: str | Path, meta: dict, card: str, libraries: tuple[str, ...] = ()) -> Path:
    """Write ``estimator`` and its metadata to ``directory`` (created if needed).

    Args:
        estimator: A fitted classifier.
        directory: Where to write; existing files of the same names are replaced.
        meta: Name, version, task, labels, training and metrics; artifacts, library versions, the
            format version and the creation time are added here.
        card: The model card in Markdown.
        libraries: Packages the weights depend on beyond the base ones (their versions are recorded and
            compared at every load).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    joblib.dump(estimator, weights, compress=("zlib", 3))
    (directory / CARD_FILE).write_text(card, encoding="utf-8")
    full = {
        "format_version": FORMAT_VERSION,
        **meta,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "libraries": library_versions(libraries),
        "artifacts": {WEIGHTS_FILE: sha256_file(weights)},
    }
    (directory / METADATA_FILE).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return directory


def resolve_model_path(name_or_path: str | Path, models_dir: str | Path | None = None) -> Path:
    """A model directory from a path, or from a name in the models folder."""
    candidate = Path(name_or_path).expanduser()
    if (candidate / METADATA_FILE).is_file():
        return candidate
    store = Path(models_dir) if models_dir else default_models_dir()
    named = store / str(name_or_path)
    if (named / METADATA_FILE).is_file():
        return named
    known = sorted(p.parent.name for p in store.glob(f"*/{METADATA_FILE}")) if store.is_dir() else []
    raise ModelError(
        f"no model {str(name_or_path)!r}: not a model directory, and not a name in {store} "
        f"(known: {', '.join(known) or 'none'})"
    )


def read_metadata(path: Path) -> dict:
    metadata = path / METADATA_FILE
    try:
        meta = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{metadata}: unreadable model metadata ({error})") from None
    for key in ("name", "version", "task", "labels", "artifacts"):
        if key not in meta:
            raise ModelError(f"{metadata}: missing {key!r}")
    return meta


def verify_artifacts(path: Path, meta: dict) -> None:
    for name, expected in meta["artifacts"].items():
        artifact = path / name
        if not artifact.is_file():
            raise ModelError(f"{artifact}: missing model file listed in {METADATA_FILE}")
        actual = sha256_file(artifact)
        if actual != expected:
            raise ModelError(
                f"{artifact}: sha256 {actual} does not match {expected} in {METADATA_FILE}; "
                "the file was changed or corrupted after training (retrain it or restore it)"
            )


def warn_on_version_drift(path: Path, meta: dict) -> None:
    saved = meta.get("libraries", {})
    current = library_versions(tuple(name for name in saved if name != "python"))
    drift = {name: (saved[name], current[name]) for name in saved
             if name in current and name != "python" and saved[name] != current[name]}
    if drift:
        listed = ", ".join(f"{name} {was} -> {now}" for name, (was, now) in sorted(drift.items()))
        warnings.warn(f"model {path} was saved with other library versions ({listed}); "
                      "predictions may differ: retrain it to be sure", stacklevel=3)


def is_trusted(path: Path) -> bool:
    """Whether ``path`` lies in the configured models folder (whose pickles this installation trusts)."""
    try:
        Path(path).resolve().relative_to(default_models_dir().resolve())
        return True
    except ValueError:
        return False


def load_model(name_or_path: str | Path, models_dir: str | Path | None = None, trusted: bool = False) -> Model:
    """Load a model directory (or a name in the models folder), checking every artifact's sha256.

    Args:
        name_or_path: A model name in the models folder, or a model directory.
        models_dir: Another models folder to look names up in (trusted like the configured one).
        trusted: Load pickled weights from outside the models folders: only for directories you made.

    Raises:
        ModelError: Not found, outside the models folder and not trusted, unreadable metadata, or an artifact
            that does not match its hash.
    """
    path = resolve_model_path(name_or_path, models_dir)
    inside = is_trusted(path) or (models_dir is not None and path.resolve().is_relative_to(Path(models_dir).resolve()))
    if not (trusted or inside):
        raise ModelError(f"{path}: not in the models folder ({default_models_dir()}). Model weights are pickles, "
                         "which can run code when loaded: load a model from elsewhere only if you made it or trust "
                         f"who did (--trust), or move it into the models folder (or set {MODELS_DIR_ENV})")
    meta = read_metadata(path)
    verify_artifacts(path, meta)
    warn_on_version_drift(path, meta)
    try:
        estimator = joblib.load(path / WEIGHTS_FILE)
    except Exception as error:  # a corrupt pickle can raise almost anything
        raise ModelError(f"{path / WEIGHTS_FILE}: cannot load weights ({type(error).__name__})") from None
    return Model(estimator, meta, path)


def list_models(models_dir: str | Path | None = None) -> list[dict]:
    """Metadata of every model in the models folder (without loading weights)."""
    store = Path(models_dir) if models_dir else default_models_dir()
    return [read_metadata(p.parent) | {"path": str(p.parent)} for p in sorted(store.glob(f"*/{METADATA_FILE}"))]
