"""``clinnlp serve``: the app under gunicorn, threads per worker, models loaded once in each worker."""

from __future__ import annotations


def serve(host: str, port: int, workers: int, threads: int, config: dict | None = None, timeout: int = 300,
          certfile: str | None = None, keyfile: str | None = None, max_requests: int = 0) -> None:
    """Run the service.

    Args:
        certfile: PEM certificate (chain) to serve HTTPS directly; with ``keyfile``. Without them the service
            speaks plain HTTP and belongs behind a TLS-terminating proxy (or on loopback only).
        max_requests: Restart a worker after this many requests (with jitter), a safety net; 0: never.
    """
    import os

    from gunicorn.app.base import BaseApplication

    os.environ["CLINNLP_WORKERS"] = str(workers)  # each worker shares the CPUs out among the workers (torch threads)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", timeout)
            self.cfg.set("graceful_timeout", 30)
            self.cfg.set("accesslog", None)  # the audit log records requests, without their content
            self.cfg.set("preload_app", False)  # each worker loads its own models at start
            if certfile:
                self.cfg.set("certfile", certfile)
                self.cfg.set("keyfile", keyfile)
            if max_requests:
                self.cfg.set("max_requests", max_requests)
                self.cfg.set("max_requests_jitter", max(1, max_requests // 10))

        def load(self):
            from service.app import create_app

            return create_app(config)

    Server().run()
