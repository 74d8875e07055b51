# One container: API + dashboard + claimers. Point DATABASE_URL at PostgreSQL and OLLAMA_HOST at
# Ollama (see compose.yaml); without DATABASE_URL it runs the embedded PostgreSQL in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TRIAGE_HOST=0.0.0.0 TRIAGE_PORT=8080 TRIAGE_DATA_DIR=/data

WORKDIR /src
COPY pyproject.toml README.md schema.sql ./
COPY triage_hub ./triage_hub
RUN pip install . && rm -rf /src \
    && useradd --system --create-home --uid 10001 triage \
    && mkdir -p /data && chown triage /data

USER triage
WORKDIR /home/triage
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health')"
CMD ["triage-hub", "serve"]
