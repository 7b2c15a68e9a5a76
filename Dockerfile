# Rocket.Chat ⇄ Matrix privacy bridge.
#   docker build -t rc-privacy-bridge .
#   docker run -v ./data:/data rc-privacy-bridge            # expects /data/config.yaml
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/bridge
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install . \
 && useradd --system --uid 1337 --home-dir /data bridge \
 && mkdir -p /data && chown bridge /data

USER bridge
WORKDIR /data
VOLUME ["/data"]
EXPOSE 29330

# The live endpoint answers as soon as the HTTP server is up; readiness is separate.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:29330/_bridge/health/live', timeout=4).status != 200)"

ENTRYPOINT ["bridge"]
CMD ["run", "-c", "/data/config.yaml"]
