"""Names of the files a mining run keeps in its output folder (shared by the run and the collection step)."""

MANIFEST = "manifest.json"
ERRORS = "errors.jsonl"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"
