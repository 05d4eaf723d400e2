"""Shared fixtures: small synthetic notes written by the tests themselves (no corpora, no network)."""

from __future__ import annotations

import ipaddress
import json
import random
import socket

import pytest

class NetworkAccessError(ConnectionRefusedError):
    """A test reached for the network: everything here must work offline (``make test`` also cuts the network)."""


def _loopback(address) -> bool:
    if not isinstance(address, tuple):  # a Unix socket path
        return True
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """Refuse every connection and name lookup that leaves the machine, naming what was tried (an OSError, so
    libraries that fall back when offline still do). Loopback servers (gunicorn, PostgreSQL, Ray) still work."""
    real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def refuse(address):
        raise NetworkAccessError(f"a test tried to reach {address!r} over the network; tests run offline "
                                 "(the project must work from its installed packages alone)")

    def connect(self, address):
        return real_connect(self, address) if _loopback(address) else refuse(address)

    def connect_ex(self, address):
        return real_connect_ex(self, address) if _loopback(address) else refuse(address)

    def getaddrinfo(host, *args, **kwargs):
        if host is None or _loopback((host,)) or (isinstance(host, str) and host.endswith(".localhost")):
            return real_getaddrinfo(host, *args, **kwargs)
        try:
            ipaddress.ip_address(str(host).split("%")[0])
            return real_getaddrinfo(host, *args, **kwargs)  # a literal address: connect() decides
        except ValueError:
            return refuse((host, args[0] if args else None))

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    yield
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = real_connect, real_connect_ex, real_getaddrinfo


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Derived encoders (merged adapters, ONNX exports) go to a folder of this run, not the user's
    ``~/.cache/clinnlp`` (servers and commands the tests start inherit it)."""
    import os

    previous = os.environ.get("CLINNLP_CACHE_DIR")
    os.environ["CLINNLP_CACHE_DIR"] = str(tmp_path_factory.mktemp("clinnlp-cache"))
    yield
    if previous is None:
        os.environ.pop("CLINNLP_CACHE_DIR", None)
    else:
        os.environ["CLINNLP_CACHE_DIR"] = previous


@pytest.fixture
def app(tmp_path, registry):
    """The service with default settings on the test module's ``registry`` fixture (each module loads the models
    it needs once), its state in a temporary folder. Modules that need other settings define their own."""
    from service.app import create_app

    app = create_app({"state_dir": str(tmp_path / "state")}, registry=registry)
    yield app
    app.extensions["clinnlp"].jobs.stop()


@pytest.fixture
def client(app):
    """A test client of ``app`` that sends a fresh API key."""
    from tests.test_service_jobs import client_for

    return client_for(app)


# Three specialties, each with its own vocabulary, and words every note shares.
VOCABULARY = {
    "cardiology": ["chest pain", "troponin", "angina", "echocardiogram", "atrial fibrillation", "stent",
                   "coronary artery", "ejection fraction", "murmur", "palpitations"],
    "orthopedics": ["fracture", "knee", "meniscus", "cast", "femur", "arthroscopy", "ligament",
                    "shoulder dislocation", "tibia", "splint"],
    "gastroenterology": ["colonoscopy", "polyp", "gastritis", "endoscopy", "bowel", "liver enzymes",
                         "cholecystectomy", "reflux", "pancreatitis", "hepatitis"],
}
SHARED = ["patient", "history", "examination", "plan", "follow up", "reports", "denies", "today"]


def make_note(specialties: list[str], rng: random.Random) -> str:
    words = [w for s in specialties for w in rng.sample(VOCABULARY[s], 5)] + rng.sample(SHARED, 4)
    rng.shuffle(words)
    return "The " + ", ".join(words) + "."


@pytest.fixture
def single_label_data():
    rng = random.Random(7)
    texts, labels = [], []
    for label in VOCABULARY:
        for _ in range(12):
            texts.append(make_note([label], rng))
            labels.append(label)
    return texts, labels


@pytest.fixture
def multi_label_data():
    rng = random.Random(11)
    combos = [["cardiology"], ["orthopedics"], ["gastroenterology"], ["cardiology", "gastroenterology"],
              ["orthopedics", "cardiology"]]
    texts, labels = [], []
    for combo in combos:
        for _ in range(10):
            texts.append(make_note(combo, rng))
            labels.append(sorted(combo))
    return texts, labels


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


@pytest.fixture
def labelled_csv(tmp_path, single_label_data):
    import csv

    texts, labels = single_label_data
    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["note_id", "note", "specialty"])
        for i, (text, label) in enumerate(zip(texts, labels)):
            writer.writerow([f"n{i}", text, label])
    return path


@pytest.fixture
def tiny_params():
    # Synthetic notes are few and short: keep every term.
    return {"min_df": 1, "max_df": 1.0}


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A 2-layer, 64-wide BERT with MiniLM's tokenizer, saved as a local model folder (no network, seconds)."""
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, BertConfig, BertModel

    from nlp.embeddings import default_model_path

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=128)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


# A data key for tests that keep job files in the database (32 bytes, URL-safe base64); never use it for real.
TEST_DATA_KEY = "dGVzdHMtb25seS1kYXRhLWtleS0zMi1ieXRlcyEhISE="


def unavailable(reason: str):
    """Skip a test whose system tool is missing, loudly; in CI (``CI=true``) fail instead: CI must run it."""
    import os

    message = f"NOT TESTED: {reason}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL server for the session (tests get their own database in it)."""
    from tests.postgres import Cluster, Unavailable

    try:
        cluster = Cluster().start()
    except Unavailable as error:
        unavailable(f"PostgreSQL: {error}")
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster):
    """A new empty PostgreSQL database, dropped after the test."""
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The service database on each supported engine: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return request.getfixturevalue("postgres_url")
