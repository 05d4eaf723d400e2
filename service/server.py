"""``clinnlp serve``: the app under gunicorn, threads per worker, models loaded once in each worker."""

from __future__ import annotations


def serve(host: str, port: int, workers: int, threads: int, config: dict | None = None, timeout: int = 300) -> None:
    from gunicorn.app.base import BaseApplication

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

        def load(self):
            from service.app import create_app

            return create_app(config)

    Server().run()
