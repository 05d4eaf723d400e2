"""Offline by default: environment settings that keep the libraries this project uses from reaching for a
network (model hubs, dataset hubs, telemetry). Applied when ``nlp`` is imported, before any of them is.

Set ``CLINNLP_ALLOW_DOWNLOADS=1`` to let Hugging Face libraries fetch a model by hub id (for example
``clinnlp summarize --method abstractive --model google/flan-t5-base`` on a machine with a network). A value
the user has set for any of these variables is never overridden.
"""

from __future__ import annotations

import os

ALLOW_DOWNLOADS = "CLINNLP_ALLOW_DOWNLOADS"

# Hub and dataset downloads: local files only (an id that is not cached fails at once, with a message).
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# Telemetry and update checks of libraries in the dependency tree.
NO_TELEMETRY = {"HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "RAY_USAGE_STATS_ENABLED": "0",
                "HF_HUB_DISABLE_UPDATE_CHECK": "1", "TOKENIZERS_PARALLELISM": "false"}


def downloads_allowed() -> bool:
    return os.environ.get(ALLOW_DOWNLOADS, "").strip().lower() in ("1", "true", "yes", "on")


def apply_offline_defaults() -> None:
    """Set the offline and no-telemetry variables that the user has not set."""
    for name, value in {**({} if downloads_allowed() else OFFLINE), **NO_TELEMETRY}.items():
        os.environ.setdefault(name, value)
