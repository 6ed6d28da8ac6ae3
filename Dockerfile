# loadgen: the CLI, the simulator, the sidecar and the Locust user classes in one image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY loadgen ./loadgen
RUN pip install .

COPY locustfiles ./locustfiles

RUN useradd --create-home --uid 10001 loadgen && mkdir -p /app/results && chown loadgen /app/results
USER loadgen

EXPOSE 8000 8089 5557
CMD ["loadgen", "--help"]
