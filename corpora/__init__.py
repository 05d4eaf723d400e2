"""Loaders for the public corpora (``load_corpus``) and for the user's own labelled files (``load_files``).

Every loader returns a :class:`datasets.DatasetDict` with standard columns: ``id`` and ``text``, then
``label`` (single-label), ``labels`` (a list, multi-label) or ``summary`` (summarization). Extra
columns (``group``, ``section_header``, ...) carry what a corpus needs for grouped splits.
"""

from corpora.registry import CORPORA, CorpusError, CorpusInfo, get_corpus, load_corpus, resolve_data_dir


def __getattr__(name: str):
    # `datasets` takes most of a second to import: commands that only classify never pay for it.
    if name == "load_files":
        from corpora.custom import load_files

        return load_files
    raise AttributeError(f"module 'corpora' has no attribute {name!r}")

__all__ = [
    "CORPORA",
    "CorpusError",
    "CorpusInfo",
    "get_corpus",
    "load_corpus",
    "load_files",
    "resolve_data_dir",
]
