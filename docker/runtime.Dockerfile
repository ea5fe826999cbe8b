# syntax=docker/dockerfile:1
# The kaito runtime image: what the operator runs in pods -- kaito-serve, kaito-tune, kaito fetch-data,
# kaito pull and kaito push.
# Build from the repository root:
#   docker build -f docker/runtime.Dockerfile -t ghcr.io/kaito-py/runtime:0.1.0 .
#   docker build -f docker/runtime.Dockerfile --build-arg WITH_VLLM=true -t ghcr.io/kaito-py/runtime:0.1.0-vllm .
#
# CUDA: torch is installed first from TORCH_INDEX_URL (default: the CUDA 12.8 wheels), pinned to the same
# version as constraints.txt, so the extras below reuse it instead of resolving a different build. For a
# CPU-only image pass --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu. The NVIDIA driver
# comes from the node (device plugin); the wheels carry the CUDA runtime libraries.
# vLLM is optional (WITH_VLLM=true) because it is large and pins its own torch; without it the image serves
# with `--engine transformers` and tunes. Ray comes with it: multi-node inference runs `ray start` in every
# pod (the StatefulSet's command), with pod 0 as the head.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG WITH_VLLM=false
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
RUN python -m venv /opt/kaito \
 && /opt/kaito/bin/pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && /opt/kaito/bin/pip install -c constraints.txt "torch==${TORCH_VERSION}" ".[serve,tune]" \
 && if [ "${WITH_VLLM}" = "true" ]; then /opt/kaito/bin/pip install ".[vllm]" "ray[default]>=2.40"; fi

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/kaito/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HOME=/workspace/weights
COPY --from=build /opt/kaito /opt/kaito
# Models whose kernels vLLM compiles at start-up (DeepGEMM, FlashInfer MoE) get the CUDA toolkit from
# the node through the cuda-toolkit-provisioner init container running this script; nvcc needs g++.
COPY --chmod=0755 docker/cuda-provision.sh /workspace/cuda-provision.sh
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
# The pod layout of reference §4.1: weights cache, configs, adapters, data, results.
# Chat templates at upstream's path (/workspace/chat_templates/*.jinja), where presets' flags and
# users' inference ConfigMaps point: a link to the files kaito ships as package data.
RUN groupadd --gid 1000 kaito && useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh kaito \
 && mkdir -p /workspace/weights /mnt/config /mnt/adapter /mnt/data /mnt/results \
 && ln -s "$(python -c 'import kaito.presets, pathlib; print(pathlib.Path(kaito.presets.__file__).parent / "data" / "chat_templates")')" /workspace/chat_templates \
 && chown -R 1000:1000 /workspace /mnt
USER 1000:1000
WORKDIR /workspace
EXPOSE 5000
ENTRYPOINT []
CMD ["kaito-serve", "--help"]
