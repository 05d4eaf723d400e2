"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary folder, ``pg_ctl`` on a loopback port.

Debian's ``postgresql`` package provides the server (``make test`` installs it through
``deploy/test-tools.sh``); the driver is the pinned ``psycopg`` extra. As root, the server runs as the
``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


class Unavailable(Exception):
    """PostgreSQL cannot run here (the reason says what is missing)."""


def server_bin_dir() -> Path:
    """The folder with ``initdb`` and ``pg_ctl`` (on PATH, else Debian's newest version folder)."""
    on_path = shutil.which("pg_ctl")
    candidates = ([Path(on_path).resolve().parent] if on_path else []) + [
        Path(folder) for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                          key=lambda f: int(Path(f).parent.name), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise Unavailable("PostgreSQL's server is not installed (Debian: apt-get install postgresql; "
                      "`make test` does it through deploy/test-tools.sh as root)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """One PostgreSQL cluster: start it, make databases in it, stop it and delete its files."""

    def __init__(self):
        self.bin = server_bin_dir()
        try:
            import psycopg  # noqa: F401
        except ImportError as error:
            raise Unavailable("the psycopg driver is missing (requirements-dev.txt pins it)") from error
        self.run_as = []
        if os.getuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as error:
                raise Unavailable("running as root and there is no 'postgres' user to run the server") from error
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="clinnlp-pg-"))
        if self.run_as:
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.data = self.folder / "data"
        self.port = _free_port()

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")

    def start(self) -> "Cluster":
        # Trust on loopback only, no fsync: a throwaway cluster for tests, never a way to run a real one.
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(statement)

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
