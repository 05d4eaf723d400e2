"""Two service processes, as two replicas on two machines, that share nothing but one PostgreSQL database.

Each has its own state folder, keeps job files in the database (``CLINNLP_JOB_STORAGE=database``) and runs
in its own UTS namespace with its own host name (as pods do), so a replica cannot see whether the other's
process is alive and must go by the job heartbeats, as on a cluster. Keys made through one work on the other;
a job sent to one can be run by the other and its results read from either; every job runs exactly once, and
the job of a replica killed mid-job is finished by the other.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_DATA_KEY
from tests.test_service_live import CLINNLP, free_port, get, post, wait_ready

pytestmark = pytest.mark.slow


def _own_host_name_prefix(host: str) -> list[str]:
    """Run a command under its own host name when this is root (``unshare --uts``), else as it is."""
    if os.getuid() == 0 and shutil.which("unshare") and subprocess.run(
            ["unshare", "--uts", "true"], capture_output=True).returncode == 0:
        return ["unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh"]
    return []


class Replica:
    def __init__(self, host: str, env: dict, state):
        self.host, self.port, self.state = host, free_port(), state
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [*_own_host_name_prefix(host), *CLINNLP, "serve", "--port", str(self.port), "--state-dir", str(state),
             "--threads", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True)
        wait_ready(f"{self.base}/readyz", self.process)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture
def replicas(tmp_path, postgres_url):
    env = {**os.environ, "CLINNLP_DATABASE": postgres_url, "CLINNLP_JOB_STORAGE": "database",
           "CLINNLP_DATA_KEY": TEST_DATA_KEY,
           "CLINNLP_CLASSIFIERS": "ohsumed-tfidf", "CLINNLP_SUMMARIZERS": "lead"}
    started = []
    try:
        for host in ("replica-a", "replica-b"):
            started.append(Replica(host, env, tmp_path / host))
        yield started, env, tmp_path / "keys-cli"
    finally:
        for replica in started:
            replica.stop()


def keys(env: dict, state, *args: str) -> str:
    return subprocess.run([*CLINNLP, "keys", "--state-dir", str(state), *args], capture_output=True, text=True,
                          check=True, env=env).stdout


def test_replicas_share_keys_through_the_database(replicas):
    (a, b), env, state = replicas
    made = keys(env, state, "create", "shared")
    key, key_id = made.split("key:")[1].split()[0], made.split("key id:")[1].split()[0]
    body = {"model": "ohsumed-tfidf", "documents": [{"text": "Asthma and inhaled steroids."}]}
    assert post(f"{a.base}/v1/classify", body, key)[0] == 200
    assert post(f"{b.base}/v1/classify", body, key)[0] == 200
    keys(env, state, "revoke", key_id)
    assert post(f"{a.base}/v1/classify", body, key)[0] == 401
    assert post(f"{b.base}/v1/classify", body, key)[0] == 401


def test_replicas_run_each_job_once_and_finish_the_jobs_of_a_killed_one(replicas, postgres_url):
    (a, b), env, state = replicas
    key = keys(env, state, "create", "jobs").split("key:")[1].split()[0]
    text = "Coronary angioplasty after myocardial infarction in patients with chest pain. " * 20
    sizes = [6000, 6000, 300, 300, 300, 300]
    jobs = []
    for number, size in enumerate(sizes):
        documents = [{"id": f"j{number}-{i}", "text": text} for i in range(size)]
        status, job = post(f"{(a, b)[number % 2].base}/v1/jobs", {"operation": "classify", "model": "ohsumed-tfidf",
                                                                  "explain": False, "documents": documents}, key)
        assert status == 202
        jobs.append(job["id"])

    engine = sa.create_engine(postgres_url)
    deadline = time.time() + 120
    while True:  # kill replica a while it is part-way through a job
        with engine.connect() as connection:
            running = connection.execute(sa.text(
                "SELECT id FROM jobs WHERE status = 'RUNNING' AND owner LIKE 'replica-a:%' AND processed > 0")).all()
        if running:
            break
        assert time.time() < deadline, "replica a never ran a job"
        time.sleep(0.1)
    interrupted = running[0][0]
    a.kill()

    deadline = time.time() + 240
    while (states := [json.loads(get(f"{b.base}/v1/jobs/{job_id}", key)) for job_id in jobs]) and any(
            s["status"] in ("QUEUED", "RUNNING") for s in states):
        assert time.time() < deadline, states
        time.sleep(0.5)
    assert [s["status"] for s in states] == ["COMPLETED"] * len(jobs)
    attempts = {job_id: s["attempts"] for job_id, s in zip(jobs, states)}
    assert attempts.pop(interrupted) == 2 and set(attempts.values()) == {1}  # no other job ran twice
    for number, (job_id, size) in enumerate(zip(jobs, sizes)):
        ids = [json.loads(line)["id"] for line in get(f"{b.base}/v1/jobs/{job_id}/results", key).splitlines()]
        assert ids == [f"j{number}-{i}" for i in range(size)]
        assert get(f"{b.base}/v1/jobs/{job_id}/errors", key) == b""
    assert not list((a.state / "jobs").rglob("*.jsonl")) and not list((b.state / "jobs").rglob("*.jsonl"))
    with engine.connect() as connection:
        owners = dict(connection.execute(sa.text("SELECT id, owner FROM jobs")).all())
    assert owners[interrupted].startswith("replica-b:")
    engine.dispose()
