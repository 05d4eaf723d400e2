"""The HTTP service: a Flask app (``create_app``) over the library in ``nlp/``, served by gunicorn
(``clinnlp serve``), with API keys, durable batch jobs, an audit log and metrics. It imports ``nlp``; ``nlp``
never imports it."""
