"""Every data file the packages read is declared as package data, so an installed (non-editable) copy, such as
the container image, has it too: the image once failed to start because nlp/privacy/data/lexicon.json was not."""

import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nlp", "service", "corpora")


def _tracked_data_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [Path(line) for line in listed.stdout.splitlines() if not line.endswith(".py")]


def test_every_data_file_in_the_packages_is_package_data():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = _tracked_data_files()
    assert files, "no data files found: the check would pass for nothing"
    missing = []
    for path in files:
        package, relative = path.parts[0], Path(*path.parts[1:])
        if not any(relative.match(pattern) and len(relative.parts) == len(Path(pattern).parts)
                   for pattern in declared.get(package, [])):
            missing.append(str(path))
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
