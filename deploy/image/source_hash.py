"""A hash of what the image is built from, so a test can tell an image built from this tree from an older one.

The build script stores it as the image label ``org.clinnlp.source``; ``tests/test_image.py`` compares it.
Usage: ``python deploy/image/source_hash.py`` prints it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the Dockerfile copies (see .dockerignore) and what changes the image's behaviour: the packages, the
# models and the files pip reads (README.md is copied only as the package's long description).
INPUTS = ("Dockerfile", "pyproject.toml", "requirements.txt", "requirements-deploy.txt", "nlp", "corpora",
          "service", "models")


def source_hash(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc" or ".egg-info" in str(file):
                continue
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    print(source_hash(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
