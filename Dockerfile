# Slim, non-root image with the default models; it runs the HTTP API on port 8000.
#   docker build -t clinnlp .
#   docker run -p 8000:8000 -v clinnlp-state:/app/var clinnlp          # prints a first API key on first start
#   docker run --rm -v "$PWD:/data" clinnlp classify --model ohsumed-tfidf /data/in.jsonl -o /data/out.jsonl
# Without a registry (the project's machines): `make image` builds it with podman on a local Debian base and
# the host's pip settings (deploy/image/build.sh).

# The base must have Python 3.11 with venv: python:3.11-slim, or Debian bookworm with python3-venv.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# PIP_CONFIG_FILE: a pip.conf mounted for the build only (how a machine without PyPI reaches its index); it is
# read in this stage and never copied into the image. TORCH_INDEX_URL: where the CPU build of torch comes
# from (from PyPI alone, torch on x86_64 is the several-GB CUDA build); empty when PIP_CONFIG_FILE has one.
ARG PIP_CONFIG_FILE=""
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.txt requirements-deploy.txt ./
# One virtualenv, copied whole into the final stage; torch must be the CPU build (no CUDA libraries).
RUN python3 -m venv /opt/clinnlp \
    && /opt/clinnlp/bin/pip install --quiet ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
        -r requirements.txt -r requirements-deploy.txt \
    && /opt/clinnlp/bin/python -c "import sys, torch; sys.exit(torch.version.cuda is not None)"
COPY pyproject.toml README.md ./
COPY nlp ./nlp
COPY corpora ./corpora
COPY service ./service
# Test suites and C++ headers of the installed packages are never imported at run time (about 300 MB).
RUN /opt/clinnlp/bin/pip install --quiet --no-deps . \
    && find /opt/clinnlp/lib/python3.11/site-packages -mindepth 2 -maxdepth 2 -type d -name tests \
        -exec rm -rf {} + \
    && rm -rf /opt/clinnlp/lib/python3.11/site-packages/torch/test \
        /opt/clinnlp/lib/python3.11/site-packages/torch/include

FROM ${BASE_IMAGE}
# Offline by default (nothing is fetched at run time); HOME and caches on /tmp, so the root filesystem can be
# read-only with /tmp and the state folder writable.
ENV PATH=/opt/clinnlp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    CLINNLP_CACHE_DIR=/tmp/clinnlp \
    CLINNLP_MODELS_DIR=/app/models \
    CLINNLP_STATE_DIR=/app/var \
    CLINNLP_HOST=0.0.0.0 \
    CLINNLP_PORT=8000
# libatomic1: mimalloc (the service's allocator, from the cmeel-mimalloc wheel) links it; slim bases lack it.
# Not pinned (DL3008): the version is the base's Debian release's, security updates included.
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libatomic1 >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
RUN useradd --uid 10001 --gid 0 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin clinnlp \
    && mkdir -p /app/var && chown 10001:0 /app/var && chmod 0770 /app/var
COPY --from=build /opt/clinnlp /opt/clinnlp
COPY models /app/models
WORKDIR /app
USER 10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["clinnlp"]
CMD ["serve"]
