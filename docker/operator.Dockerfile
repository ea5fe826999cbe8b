# syntax=docker/dockerfile:1
# The kaito operator image: `kaito operator` (Kopf) and nothing of the ML stack.
# Build from the repository root:  docker build -f docker/operator.Dockerfile -t ghcr.io/kaito-py/operator:0.1.0 .
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
# Only the operator extra: kopf, the Kubernetes client, settings, metrics. No torch, transformers, vllm.
RUN python -m venv /opt/kaito \
 && /opt/kaito/bin/pip install -c constraints.txt ".[operator]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/kaito/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /opt/kaito /opt/kaito
RUN groupadd --gid 10001 kaito && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin kaito
# Numeric, so Kubernetes can verify runAsNonRoot without resolving the name.
USER 10001:10001
EXPOSE 8080 8081 9443
ENTRYPOINT ["kaito"]
CMD ["operator"]
