# dialogue-monitor: first image. The daemon (`monitor run`) becomes the default command
# with the scheduling work; for now the container polls once and exits.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install --quiet '.[postgres]' \
 && useradd --create-home --uid 10001 monitor \
 && mkdir -p /app/data && chown monitor:monitor /app/data

COPY config.yaml ./config.yaml
USER monitor
VOLUME ["/app/data"]

ENTRYPOINT ["monitor", "--config", "/app/config.yaml"]
CMD ["poll", "--once"]
