"""The service's commands, ``clinnlp serve`` and ``clinnlp keys``.

They join the one ``clinnlp`` command through the ``clinnlp.commands`` entry point (see ``pyproject.toml``), so
the library's command module never imports the service.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

FIRST_KEY_FILE = "first-api-key"


def register(commands) -> dict:
    """Add ``serve`` and ``keys`` to the ``clinnlp`` sub-command parsers; returns their handlers by name."""
    serve = commands.add_parser("serve", help="run the HTTP API (gunicorn)")
    serve.add_argument("--host", default=os.environ.get("CLINNLP_HOST", "127.0.0.1"),
                       help="address to bind (default: $CLINNLP_HOST or 127.0.0.1; bind other addresses only "
                            "behind a TLS proxy or with --certfile/--keyfile)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("CLINNLP_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("CLINNLP_WORKERS", "1")),
                       help="processes, each with its own copy of the models (default 1)")
    serve.add_argument("--threads", type=int, default=int(os.environ.get("CLINNLP_THREADS", "4")))
    serve.add_argument("--no-auth", action="store_true",
                       help="DEVELOPMENT ONLY: accept requests without an API key")
    serve.add_argument("--state-dir", help="where the key database, jobs and audit log live (default: var/)")

    keys = commands.add_parser("keys", help="manage API keys (stored only as hashes)")
    keys.add_argument("--state-dir", help="where the key database lives (default: var/)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="make a key; it is shown once")
    create.add_argument("name", help="who or what the key is for")
    key_commands.add_parser("list", help="list keys (ids and names, never the keys)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    return {"serve": cmd_serve, "keys": cmd_keys}


def _config(args: argparse.Namespace) -> dict:
    return {"state_dir": args.state_dir} if args.state_dir else {}


def write_first_key(state_dir: Path, key: str) -> Path:
    """The first key, written once to a file only its owner can read (never to a log a container keeps)."""
    path = Path(state_dir) / FIRST_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return path


def cmd_serve(args) -> int:
    from service.config import Settings
    from service.keys import KeyStore
    from service.server import serve

    config = _config(args)
    if args.no_auth:
        config["auth"] = False
    settings = Settings.load(config)
    if settings.auth:
        store = KeyStore(settings.database_url)
        if not store.list():
            key_id, key = store.create("first key (made by clinnlp serve)")
            path = write_first_key(Path(settings.state_dir), key)
            relative = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
            banner = "=" * 78
            print(f"\n{banner}\nNo API key existed, so one was made (id {key_id}). It is in {relative}\n"
                  f"(readable only by you). Use it from a shell with:\n\n"
                  f"    export KEY=$(cat {relative})\n\n"
                  f"and send it as 'Authorization: Bearer $KEY'. Store it elsewhere, then delete the file.\n"
                  f"More keys: clinnlp keys create NAME\n{banner}\n", file=sys.stderr)
    print(f"serving on http://{args.host}:{args.port} (auth {'on' if settings.auth else 'OFF'}); "
          f"state in {settings.state_dir}/", file=sys.stderr)
    serve(args.host, args.port, args.workers, args.threads, config)
    return 0


def cmd_keys(args) -> int:
    from service.config import Settings
    from service.keys import KeyStore

    store = KeyStore(Settings.load(_config(args)).database_url)
    if args.keys_command == "create":
        key_id, key = store.create(args.name)
        print(f"key id: {key_id}\nkey:    {key}\n(shown once: store it now; send it as 'Authorization: Bearer <key>')")
    elif args.keys_command == "list":
        for key in store.list():
            print(f"{key['id']}  {key['created']}  {'revoked' if key['revoked'] else 'active ':8} {key['name']}")
    elif not store.revoke(args.key_id):
        raise ValueError(f"no key with id {args.key_id!r}")
    else:
        print(f"revoked {args.key_id}")
    return 0
