# Slim, non-root image with the default models. Until the Flask API lands, its command is the batch
# CLI: mount a folder and run, e.g.
#   docker run --rm -v "$PWD/data:/data" clinnlp classify --model ohsumed-tfidf /data/in.jsonl -o /data/out.jsonl
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY pyproject.toml README.md ./
COPY nlp ./nlp
COPY corpora ./corpora
COPY service ./service
COPY models ./models
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 clinnlp

# Installed as a package, so tell it where the committed models are.
ENV CLINNLP_MODELS_DIR=/app/models
USER clinnlp

HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["clinnlp", "models"]
ENTRYPOINT ["clinnlp"]
CMD ["models"]
