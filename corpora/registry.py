"""The registry of public corpora and where their files are found (the data directory)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import import_module, resources
from pathlib import Path
from typing import TYPE_CHECKING

from corpora.labels import OHSUMED_CATEGORIES

if TYPE_CHECKING:
    from datasets import DatasetDict

DATA_DIR_ENV = "CLINNLP_DATA_DIR"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class CorpusError(ValueError):
    """A corpus cannot be found or read; the message names the file (and line) and what to do."""


@dataclass(frozen=True)
class CorpusInfo:
    """What a corpus is and how to load it.

    Attributes:
        name: The name used on the command line (``--corpus NAME``).
        task: ``single_label``, ``multi_label`` or ``summarization``.
        folder: Its folder inside the data directory.
        description: One line for listings.
        loader: ``module:function`` that reads the folder into a ``DatasetDict`` (imported when a corpus is
            loaded, so listing corpora imports no loader and no ``datasets``).
        label_names: Readable names for label ids (``C04`` -> ``Neoplasms``), where the ids are codes.
        grouped_by: The column that keeps related records in the same split, if any.
        card: The dataset card's name in ``corpora/cards`` (default: the corpus name).
    """

    name: str
    task: str
    folder: str
    description: str
    loader: str
    label_names: dict[str, str] = field(default_factory=dict)
    grouped_by: str | None = None
    card: str | None = None

    def load(self, folder: Path) -> "DatasetDict":
        """Read the corpus folder into a ``DatasetDict``."""
        module, _, function = self.loader.partition(":")
        return getattr(import_module(module), function)(folder)

    def card_text(self) -> str:
        """The dataset card (source, licence, size, caveats) in Markdown."""
        return resources.files("corpora").joinpath("cards", f"{self.card or self.name}.md").read_text(encoding="utf-8")


CORPORA: dict[str, CorpusInfo] = {}


def register(info: CorpusInfo) -> CorpusInfo:
    CORPORA[info.name] = info
    return info


def get_corpus(name: str) -> CorpusInfo:
    """Return a registered corpus, or raise :class:`CorpusError` listing the known names."""
    try:
        return CORPORA[name]
    except KeyError:
        raise CorpusError(f"unknown corpus {name!r}; known corpora: {', '.join(sorted(CORPORA))}") from None


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Find the data directory: ``data_dir``, else ``$CLINNLP_DATA_DIR``, else ``../shared/corpora``.

    ``../shared/corpora`` is looked for beside the project folder and beside the working directory.

    Raises:
        CorpusError: No data directory was given and none of the defaults exists.
    """
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            raise CorpusError(f"data directory {path} does not exist")
        return path
    candidates = [_PROJECT_ROOT.parent / "shared" / "corpora", Path.cwd().parent / "shared" / "corpora"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise CorpusError(
        f"no data directory: pass --data-dir or set {DATA_DIR_ENV} "
        f"(looked for {', '.join(str(c) for c in dict.fromkeys(candidates))})"
    )


def load_corpus(name: str, data_dir: str | Path | None = None) -> "DatasetDict":
    """Load a public corpus by name from the data directory (see :func:`resolve_data_dir`)."""
    info = get_corpus(name)
    folder = resolve_data_dir(data_dir) / info.folder
    if not folder.is_dir():
        raise CorpusError(f"corpus {name!r}: folder {folder} not found in the data directory")
    return info.load(folder)


LITERATURE, CLINICAL = "corpora.literature", "corpora.clinical"
for _info in (
    CorpusInfo("ohsumed", "single_label", "ohsumed_23", "MEDLINE abstracts -> 23 MeSH disease categories (TextGCN split)",
               f"{LITERATURE}:load_ohsumed", label_names=OHSUMED_CATEGORIES),
    CorpusInfo("medical_abstracts", "single_label", "medical_abstracts_tc",
               "abstracts -> 5 disease classes (Schopf et al. 2022)", f"{LITERATURE}:load_medical_abstracts",
               grouped_by="group"),
    CorpusInfo("hallmarks", "multi_label", "hallmarks_of_cancer", "cancer abstracts -> the 10 hallmarks of cancer",
               f"{LITERATURE}:load_hallmarks"),
    CorpusInfo("nicta_piboso", "single_label", "nicta_piboso",
               "abstract sentences -> role (population, intervention, outcome, ...)", f"{LITERATURE}:load_nicta_piboso",
               grouped_by="group"),
    CorpusInfo("cochrane", "summarization", "cochrane_pls", "Cochrane technical abstracts -> plain-language summaries",
               f"{LITERATURE}:load_cochrane"),
    CorpusInfo("mtsamples", "multi_label", "mtsamples",
               "transcribed clinical notes -> medical specialties (multi-label, one record per note)",
               f"{CLINICAL}:load_mtsamples"),
    CorpusInfo("indiana_cxr", "summarization", "indiana_cxr_reports", "chest X-ray report findings -> impression",
               f"{CLINICAL}:load_indiana"),
    CorpusInfo("mts_dialog", "summarization", "mts_dialog", "doctor-patient dialogue -> note section text",
               f"{CLINICAL}:load_mts_dialog"),
    CorpusInfo("mts_dialog_headers", "single_label", "mts_dialog",
               "doctor-patient dialogue -> note section header (20 classes)", f"{CLINICAL}:load_mts_dialog_headers",
               card="mts_dialog"),
    CorpusInfo("aci_bench", "summarization", "aci_bench", "visit dialogue -> full clinical note",
               f"{CLINICAL}:load_aci_bench"),
    CorpusInfo("meqsum", "summarization", "meqsum", "consumer health question -> short question",
               f"{CLINICAL}:load_meqsum"),
):
    register(_info)
