# Rocket.Chat ⇄ Matrix privacy bridge (docs/operations.md, "Container").
#   docker build -t rc-privacy-bridge .
#   docker run --rm -v ./data:/data rc-privacy-bridge generate-registration   # needs /data/config.yaml
#   docker run -d -v ./data:/data -p 29330:29330 rc-privacy-bridge
# tests/ops/test_entrypoint.py runs ENTRYPOINT + CMD as stated here, as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/bridge
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY scripts/docker-entrypoint.sh /usr/local/bin/bridge-entrypoint
RUN pip install . \
 && chmod 0755 /usr/local/bin/bridge-entrypoint \
 && useradd --system --uid 1337 --home-dir /data bridge \
 && mkdir -p /data && chown bridge /data

USER bridge
WORKDIR /data
VOLUME ["/data"]
EXPOSE 29330

# Readiness, not liveness: healthy only while the database answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:29330/_bridge/health/ready', timeout=4).status != 200)"]

# No arguments: upgrade the schema, then run. Other arguments: a `bridge` command.
ENTRYPOINT ["bridge-entrypoint"]
CMD ["run"]
