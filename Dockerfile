# Slim, non-root image with the default models; it runs the HTTP API on port 8000.
#   docker build -t clinnlp .
#   docker run -p 8000:8000 -v clinnlp-state:/app/var clinnlp          # prints a first API key on first start
#   docker run --rm -v "$PWD:/data" clinnlp classify --model ohsumed-tfidf /data/in.jsonl -o /data/out.jsonl
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1

WORKDIR /app
COPY requirements.txt ./
# For a slim image, point this at PyTorch's CPU wheel index (--build-arg PIP_EXTRA_INDEX_URL=...): from PyPI
# alone, torch==2.13.0 on x86_64 is the several-GB CUDA build.
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install -r requirements.txt

COPY pyproject.toml README.md ./
COPY nlp ./nlp
COPY corpora ./corpora
COPY service ./service
COPY models ./models
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 clinnlp \
    && mkdir -p /app/var && chown clinnlp /app/var

ENV CLINNLP_MODELS_DIR=/app/models \
    CLINNLP_STATE_DIR=/app/var \
    CLINNLP_HOST=0.0.0.0 \
    CLINNLP_PORT=8000
USER 10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["clinnlp"]
CMD ["serve"]
