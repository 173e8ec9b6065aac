# dialogue-monitor: the daemon (`monitor run`) in a slim image.
#
#   docker build -t dialogue-monitor .
#   docker run -d --name monitor -v monitor-data:/app/data \
#     -v "$PWD/config.yaml:/app/config.yaml:ro" -e SMTP_PASSWORD -p 9180:9180 dialogue-monitor
#
# The configuration is mounted (read-only is fine); secrets come from the environment through
# ${NAME} in the secret keys of config.yaml; SQLite lives on the /app/data volume unless
# database.url points to PostgreSQL. Several containers on one PostgreSQL share the sources.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --quiet '.[postgres]' \
 && useradd --create-home --uid 10001 monitor \
 && mkdir -p /app/data && chown monitor:monitor /app/data

COPY config.yaml ./config.yaml
USER monitor
VOLUME ["/app/data"]
EXPOSE 9180

HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["monitor", "--config", "/app/config.yaml", "health", "--url", "http://127.0.0.1:9180/healthz"]

# SIGTERM (docker stop) shuts down gracefully: give it daemon.shutdown_grace_seconds,
# e.g. `docker stop -t 40`, or stop_grace_period in compose.
ENTRYPOINT ["monitor", "--config", "/app/config.yaml"]
CMD ["run", "--listen", "0.0.0.0:9180"]
