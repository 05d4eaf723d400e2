"""Build the packaged concept lexicon ``nlp/clinical/data/concepts.jsonl`` (``make lexicon``).

Sources, merged in this order (a synonym already claimed by an earlier concept is not taken again):

1. ``lexicon_sources/seed.txt``: common problems, findings, procedures and anatomy with their synonyms and
   case-sensitive abbreviations, written from clinical knowledge.
2. The ``Problems`` vocabulary of the Indiana chest X-ray reports (MeSH-style names such as "Hernia, Hiatal",
   turned into "hiatal hernia"), as findings, when ``../shared/corpora`` is there.
3. Medications: the generic names that have a MedlinePlus page in the ``drug-named-entity-recognition``
   package's dictionary (DrugBank open data, MedlinePlus, MIT-licensed code), with their brand names and
   variants. A brand name that is also a common word of clinical notes (it occurs in lower case in the
   MTSamples transcriptions more often than ``COMMON_WORD_COUNT`` times, as "today" or "sleep" would) is left
   out: it would match far more often as a word than as a drug.

The output is deterministic (sorted), so rebuilding it gives the same file.
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

LEXICON_VERSION = "2"
COMMON_WORD_COUNT = 20
MAX_DRUG_WORDS = 3
# Indiana "Problems" entries that are anatomy, devices or indexing notes rather than findings.
NOT_FINDINGS = {"normal", "no indexing", "lung", "thoracic vertebrae", "spine", "aorta", "diaphragm", "markings",
                "aorta, thoracic", "costophrenic angle", "cardiac shadow", "mediastinum", "shoulder", "pulmonary artery",
                "lumbar vertebrae", "heart", "ribs", "bone and bones", "humerus", "abdomen", "lymph nodes",
                "cervical vertebrae", "trachea", "pleura", "thoracic vertebrae", "thorax", "heart atria",
                "heart ventricles", "blood vessels", "adipose tissue", "technical quality of image unsatisfactory",
                "contrast media", "sulcus", "shift", "thickening", "sclerosis", "deformity", "lucency", "blister",
                "epicardial fat", "nipple shadow"}
_WORD = re.compile(r"[a-z]+")


def read_seed(path: Path) -> list[dict]:
    concepts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        category, name, synonyms, abbreviations = (part.strip() for part in (line + " | ").split("|")[:4])
        concepts.append({"concept": name, "category": category,
                         "synonyms": [s.strip() for s in synonyms.split(";") if s.strip()],
                         "abbreviations": [a.strip() for a in abbreviations.split(";") if a.strip()]})
    return concepts


def mesh_to_phrase(name: str) -> str:
    """ "Hernia, Hiatal" -> "hiatal hernia"; "Pulmonary Atelectasis" -> "pulmonary atelectasis"."""
    parts = [p.strip() for p in name.split(",")]
    return " ".join(reversed(parts)).lower() if len(parts) == 2 else name.lower()


def indiana_findings(data_dir: Path) -> list[dict]:
    import csv

    path = data_dir / "indiana_cxr_reports" / "indiana_reports.csv"
    if not path.is_file():
        print(f"skipping the Indiana vocabulary: {path} not found", file=sys.stderr)
        return []
    names = Counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            for problem in row["Problems"].split(";"):
                if problem.strip() and problem.strip().lower() not in NOT_FINDINGS:
                    names[" ".join(problem.split())] += 1
    return [{"concept": mesh_to_phrase(name), "category": "finding", "synonyms": [], "abbreviations": []}
            for name in sorted(names)]


def common_words(data_dir: Path) -> Counter:
    """Lower-case words of the MTSamples transcriptions and their counts (empty without the corpus)."""
    import csv

    path = data_dir / "mtsamples" / "mtsamples.csv"
    counts: Counter = Counter()
    if path.is_file():
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                counts.update(_WORD.findall(row["transcription"]))  # case-sensitive: only words written lower case
    return counts


def medications(words: Counter) -> list[dict]:
    import pickle  # the package's own dictionary, installed from the package index

    try:
        package = resources.files("drug_named_entity_recognition")
    except ModuleNotFoundError:
        print("skipping medications: drug-named-entity-recognition is not installed", file=sys.stderr)
        return []
    with bz2.open(package.joinpath("drug_ner_dictionary.pkl.bz2").open("rb")) as handle:
        data = pickle.load(handle)
    canonical = {name for name, info in data["drug_canonical_to_data"].items() if "medline_plus_id" in info}
    variants: dict[str, set[str]] = {name: {name} for name in canonical}
    for variant, names in data["drug_variant_to_canonical"].items():
        for name in names:
            if name in canonical:
                variants[name].add(variant)
    concepts = []
    for name in sorted(canonical):
        if not _usable(name) or len(name.split()) > MAX_DRUG_WORDS:
            continue
        synonyms = sorted(v for v in variants[name] - {name}
                          if _usable(v) and len(v.split()) <= MAX_DRUG_WORDS and words[v] <= COMMON_WORD_COUNT)
        concepts.append({"concept": name, "category": "medication", "synonyms": synonyms, "abbreviations": []})
    return concepts


def _usable(term: str) -> bool:
    return term.isascii() and len(term) >= 4 and term[0].isalpha() and not any(c in term for c in "&;={}[]<>\"'")


def merge(*groups: list[dict]) -> list[dict]:
    claimed: set[str] = set()
    merged = []
    for group in groups:
        for concept in group:
            names = [concept["concept"], *concept["synonyms"]]
            fresh = [n for n in dict.fromkeys(n.lower() for n in names) if n not in claimed]
            if concept["concept"].lower() in claimed or not fresh:
                continue
            claimed.update(fresh)
            merged.append({"concept": concept["concept"].lower(), "category": concept["category"],
                           "synonyms": [n for n in fresh if n != concept["concept"].lower()],
                           "abbreviations": concept["abbreviations"]})
    return merged


def build(data_dir: Path, out: Path) -> dict:
    seed = read_seed(Path(__file__).with_name("lexicon_sources") / "seed.txt")
    concepts = merge(seed, indiana_findings(data_dir), medications(common_words(data_dir)))
    with out.open("w", encoding="utf-8") as handle:
        for concept in concepts:
            handle.write(json.dumps(concept, ensure_ascii=False, sort_keys=True) + "\n")
    counts = Counter(c["category"] for c in concepts)
    return {"version": LEXICON_VERSION, "concepts": len(concepts), "by_category": dict(sorted(counts.items())),
            "terms": sum(1 + len(c["synonyms"]) + len(c["abbreviations"]) for c in concepts)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="corpora folder (default: ../shared/corpora)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("data") / "concepts.jsonl")
    args = parser.parse_args(argv)
    from corpora import resolve_data_dir

    summary = build(resolve_data_dir(args.data_dir), args.out)
    manifest = args.out.with_name("lexicon.json")
    manifest.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
