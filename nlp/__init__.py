"""clinnlp: classify and summarize clinical notes and medical literature, offline, on a CPU."""

from nlp.offline import apply_offline_defaults

__version__ = "0.1.0"

apply_offline_defaults()  # before any library that reads these variables at import time is imported
