# Triage Hub in one image: API + dashboard + claimers (`triage-hub serve`), or any other
# triage-hub command. compose.yaml runs it with PostgreSQL, Ollama and a proxy; alone,
#   docker run -p 8080:8080 -e DATABASE_URL=postgresql://... triage-hub
# or without DATABASE_URL an embedded PostgreSQL in /data (mount a volume there).
# Not built on the machines this is developed on (no Docker there): tests/test_compose.py
# builds the wheel from exactly what this file copies.

FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md schema.sql ./
COPY triage_hub ./triage_hub
# triage_hub/engines/builtin/*.jsonl are symlinks to these (the built-in engine's training
# data): the wheel carries the files themselves.
COPY evals/dev.jsonl evals/heldout.jsonl evals/train2.jsonl evals/train3.jsonl ./evals/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRIAGE_HOST=0.0.0.0 TRIAGE_PORT=8080 TRIAGE_DATA_DIR=/data
COPY --from=wheel /wheels /wheels
# Every dependency has a manylinux wheel for Python 3.11 (numpy, scipy, scikit-learn, lingua,
# asyncpg, uvloop, argon2): no compiler needed. pip compiles the bytecode now, so a read-only
# root filesystem costs nothing at start.
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && groupadd --system --gid 10001 triage \
    && useradd --system --create-home --uid 10001 --gid 10001 triage \
    && mkdir -p /data && chown 10001:10001 /data

# Numeric, so that a runtime can check it is not root without reading /etc/passwd.
USER 10001:10001
WORKDIR /home/triage
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
CMD ["triage-hub", "serve"]
