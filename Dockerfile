# syntax=docker/dockerfile:1
# The API: uvicorn serving app.main:create_app as a non-root user, with the runtime
# dependencies of pyproject.toml at the versions and hashes of requirements.lock.
# Build: docker build -t cruddur-messaging .   (see deploy/README.md for running it)
# docker compose builds the `dev` target: the same plus scripts/, running scripts.run_local.

# Same Python as the Lambda functions (Runtime: python3.12 in deploy/template.yaml).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1
# The uv the Makefile uses: it verifies the lock's hashes, also when they come as constraints.
RUN python -m pip install "uv==0.13.9"
WORKDIR /src
COPY pyproject.toml requirements.lock ./
# Only [project].dependencies (no dev extra), each pinned and hash-checked by the lock.
RUN python -m venv /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes --compile-bytecode \
        --constraint requirements.lock --requirements pyproject.toml

# What both images share: the locked dependencies and the application, for uid 10001.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 cruddur \
    && useradd --system --uid 10001 --gid cruddur --no-create-home --shell /usr/sbin/nologin cruddur
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
COPY app ./app
RUN python -m compileall -q app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1
EXPOSE 4567

# Development (docker compose, `--target dev`): scripts.run_local creates the schema, loads the
# demo data and runs the stream worker beside the API, against CRUDDUR_DDB_ENDPOINT_URL.
FROM runtime AS dev
COPY scripts ./scripts
RUN python -m compileall -q scripts
USER 10001:10001
CMD ["python", "-m", "scripts.run_local", "--host", "0.0.0.0"]

# Production: the default target (the last stage). Only app/, no development scripts.
FROM runtime AS production
# FORWARDED_ALLOW_IPS: the proxies whose X-Forwarded-* headers uvicorn believes (with
# --proxy-headers); set it to the load balancer's subnets when deploying.
# Keep-alive above the ALB's 60 s idle timeout, so the service never closes a connection the
# balancer is about to reuse (a 502 for that request otherwise).
ENV CRUDDUR_AUTH_MODE=cognito \
    CRUDDUR_HTTP_KEEP_ALIVE_SECONDS=75 \
    FORWARDED_ALLOW_IPS=127.0.0.1
# Numeric, so orchestrators can verify the image does not run as root.
USER 10001:10001
# Liveness only (the process answers); the load balancer's target check should use /readyz.
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4567/livez', timeout=2)"]
# One process per container: run one task per vCPU (bench/results/workers-20261128). On
# SIGTERM, app.serve answers /readyz 503 for CRUDDUR_SHUTDOWN_DRAIN_SECONDS (5) while still
# serving, then finishes in-flight requests within 20 s: below ECS's 30 s stop timeout.
CMD ["python", "-m", "app.serve", "--host", "0.0.0.0", "--port", "4567", \
     "--proxy-headers", "--graceful-timeout", "20"]
