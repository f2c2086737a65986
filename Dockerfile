# syntax=docker/dockerfile:1
# Accord's API and worker image: `accord serve` by default; the Helm chart runs the same
# image as `accord migrate`, `accord sync scheduler --once`, `accord audits flag-overdue`
# and `accord incidents deliver`.
#
# Two stages: the build stage makes Accord's wheel and installs it with every dependency
# (binary wheels only) into a virtual environment without pip; the runtime stage is the
# same slim Python image plus that environment: no compiler, no pip in the environment,
# no source tree, a non-root user.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY accord ./accord
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/accord \
 && python -m pip --python /opt/accord/bin/python install --only-binary=:all: /wheels/accord-*.whl \
 && /opt/accord/bin/python -m compileall -q /opt/accord/lib

FROM ${PYTHON_IMAGE} AS runtime
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 accord \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/accord \
      --shell /usr/sbin/nologin accord \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/accord
COPY --from=build /opt/accord /opt/accord
ENV PATH=/opt/accord/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ACCORD_ENV=prod \
    ACCORD_HOST=0.0.0.0 \
    ACCORD_PORT=8000 \
    ACCORD_DATA_DIR=/var/lib/accord
WORKDIR /var/lib/accord
USER 10001:10001
EXPOSE 8000
# Liveness only (the process answers); store reachability is /readyz, for the orchestrator.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["accord"]
CMD ["serve"]
