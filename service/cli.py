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
    serve.add_argument("--reports-dir", default=os.environ.get("CLINNLP_REPORTS_DIR"),
                       help="show the literature-mining reports in this folder (clinnlp mine output folders) on the "
                            "web pages, read-only ($CLINNLP_REPORTS_DIR)")
    serve.add_argument("--certfile", default=os.environ.get("CLINNLP_CERTFILE"),
                       help="serve HTTPS with this PEM certificate ($CLINNLP_CERTFILE; with --keyfile)")
    serve.add_argument("--keyfile", default=os.environ.get("CLINNLP_KEYFILE"),
                       help="the certificate's private key ($CLINNLP_KEYFILE)")
    serve.add_argument("--max-requests", type=int, default=int(os.environ.get("CLINNLP_MAX_REQUESTS", "0")),
                       help="restart a worker after this many requests, with jitter (a safety net; default 0: never)")

    keys = commands.add_parser("keys", help="manage API keys (stored only as hashes)")
    keys.add_argument("--state-dir", help="where the key database lives (default: var/)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="make a key; it is shown once")
    create.add_argument("name", help="who or what the key is for")
    create.add_argument("--scope", default="*", help="what it may do, comma-separated: operations (classify, "
                                                     "summarize, ...), jobs, admin; default * = every operation and jobs")
    create.add_argument("--expires", help="stop working after this long (90d, 12h); default: never")
    key_commands.add_parser("list", help="list keys (ids, names, scopes, expiry, last use; never the keys)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    rotate = key_commands.add_parser("rotate", help="make a new key with the same name and scopes; the old one "
                                                    "keeps working for --grace, then stops")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", default="24h", help="how long the old key keeps working (default 24h)")

    jobs = commands.add_parser("jobs", help="job data at rest: purge old job files, rotate the data key")
    jobs.add_argument("--state-dir", help="where the database and job files live (default: var/)")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    purge = job_commands.add_parser("purge", help="delete the files of finished jobs older than the retention "
                                                  "period (their records stay)")
    purge.add_argument("--older-than", help="instead of $CLINNLP_JOB_RETENTION (7d): e.g. 30d, 12h, 0 for all")
    job_commands.add_parser("new-key", help="print a new data key (base64) for CLINNLP_DATA_KEY")
    job_commands.add_parser("rekey", help="re-encrypt every job file with the current data key (the first in "
                                          "CLINNLP_DATA_KEY), after adding a new key in front of the old one")

    audit = commands.add_parser("audit", help="the audit trail")
    audit.add_argument("--state-dir", help="where the audit log lives (default: var/)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_commands.add_parser("verify", help="check the hash chain of the audit log and its rotated files")
    return {"serve": cmd_serve, "keys": cmd_keys, "jobs": cmd_jobs, "audit": cmd_audit}


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
    if args.reports_dir:
        config["reports_dir"] = args.reports_dir
    if args.no_auth:
        config["auth"] = False
    settings = Settings.load(config)
    _run_on_the_configured_allocator(settings.allocator)
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
    if bool(args.certfile) != bool(args.keyfile):
        raise ValueError("--certfile and --keyfile go together")
    scheme = "https" if args.certfile else "http"
    if not args.certfile and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"WARNING: serving plain HTTP on {args.host}: patient text would cross the network unencrypted. "
              "Serve HTTPS (--certfile/--keyfile) or put a TLS-terminating proxy in front.", file=sys.stderr)
    print(f"serving on {scheme}://{args.host}:{args.port} (auth {'on' if settings.auth else 'OFF'}); "
          f"state in {settings.state_dir}/", file=sys.stderr)
    serve(args.host, args.port, args.workers, args.threads, config, certfile=args.certfile, keyfile=args.keyfile,
          max_requests=args.max_requests)
    return 0


def _run_on_the_configured_allocator(allocator: str) -> None:
    """Start this command again with mimalloc preloaded (once; the process keeps its id), so that gunicorn and
    every worker it forks allocate with it; with ``system``, or where mimalloc is not installed or does not
    load, carry on."""
    from nlp.memory import MimallocUnavailable, mimalloc_loaded, preloading_mimalloc

    preloaded = os.environ.pop("_CLINNLP_PRELOADED", None)
    if preloaded is not None:
        # Started again: what this process loaded stays loaded (and forked workers inherit it), but programs it
        # may start later get the environment the user gave it.
        os.environ["LD_PRELOAD"] = os.environ.pop("_CLINNLP_LD_PRELOAD", "")
        if not os.environ["LD_PRELOAD"]:
            del os.environ["LD_PRELOAD"]
    if allocator != "mimalloc" or mimalloc_loaded():
        return
    if preloaded is not None:  # preloading did not take: never loop
        print("WARNING: mimalloc could not be preloaded; serving on the system allocator", file=sys.stderr)
        return
    try:
        environ = preloading_mimalloc(dict(os.environ))
    except MimallocUnavailable as reason:
        print(f"WARNING: {reason}; serving on the system allocator, whose memory grows slowly under load",
              file=sys.stderr)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],
              {**environ, "_CLINNLP_PRELOADED": "1", "_CLINNLP_LD_PRELOAD": os.environ.get("LD_PRELOAD", "")})


def cmd_keys(args) -> int:
    from service.config import Settings, parse_duration
    from service.keys import KeyStore, parse_scopes
    from service.options import OPERATIONS
    from service.security import scopes_known

    store = KeyStore(Settings.load(_config(args)).database_url)
    if args.keys_command == "create":
        scopes = parse_scopes(args.scope, scopes_known(OPERATIONS))
        expires = parse_duration(args.expires, "--expires") if args.expires else None
        key_id, key = store.create(args.name, scopes, expires)
        print(f"key id: {key_id}\nkey:    {key}\nscopes: {scopes}"
              + (f"\nexpires in {args.expires}" if expires else "")
              + "\n(shown once: store it now; send it as 'Authorization: Bearer <key>')")
    elif args.keys_command == "list":
        for key in store.list():
            state = "revoked" if key["revoked"] else ("active" if key["active"] else "expired")
            print(f"{key['id']}  {state:8} scopes {key['scopes']:24} expires {key['expires'] or 'never':26} "
                  f"last used {key['last_used'] or 'never':26} {key['name']}")
    elif args.keys_command == "rotate":
        key_id, key = store.rotate(args.key_id, parse_duration(args.grace, "--grace"))
        print(f"new key id: {key_id}\nnew key:    {key}\n(shown once) {args.key_id} keeps working for "
              f"{args.grace}, then stops: switch your clients over before then")
    elif not store.revoke(args.key_id):
        raise ValueError(f"no key with id {args.key_id!r}")
    else:
        print(f"revoked {args.key_id}")
    return 0


def cmd_jobs(args) -> int:
    from service.config import Settings, parse_duration
    from service.encryption import new_key
    from service.jobs import JobManager
    from service.registry import Registry
    from service.storage import job_files

    if args.jobs_command == "new-key":
        print(new_key())
        return 0
    settings = Settings.load(_config(args))
    os.umask(0o077)
    files = job_files(settings)
    if args.jobs_command == "rekey":
        count = sum(files.rekey(job_id) for job_id in files.job_ids())
        print(f"re-encrypted {count} files of {len(files.job_ids())} jobs with the current data key")
        return 0
    manager = JobManager(settings.database_url, files, Registry(), threads=0,
                         retention_seconds=settings.job_retention_seconds)
    try:
        age = parse_duration(args.older_than, "--older-than") if args.older_than is not None else None
        purged = manager.purge(age)
    finally:
        manager.stop()
    print(f"deleted the files of {purged} finished job(s); their records stay")
    return 0


def cmd_audit(args) -> int:
    from service.config import Settings
    from service.observability import verify_audit

    result = verify_audit(Settings.load(_config(args)).audit_path)
    if not result["ok"]:
        print(f"audit log BROKEN after {result['entries']} good entries: {result['problem']}")
        return 1
    note = " (the oldest kept file continues a chain whose earlier files were deleted by retention)" \
        if result.get("starts_after_deleted_files") else ""
    print(f"audit log intact: {result['entries']} entries in {result['files']} file(s){note}")
    return 0
