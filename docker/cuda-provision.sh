#!/bin/sh
# Put the CUDA 12.9 compiler toolchain into a folder (the node hostPath a pod uses as CUDA_HOME).
#
# Run by the cuda-toolkit-provisioner init container of models whose kernels vLLM compiles at
# start-up (DeepGEMM FP8 GEMMs, FlashInfer MoE); the runtime image carries no nvcc. The folder
# outlives the pod, so only the first pod on a node pays for the download; a second run finds
# nvcc and returns at once. Needs root (apt) and network access to NVIDIA's Debian 12 repository.
#
# Usage: cuda-provision.sh TARGET_DIR
set -eu

target="${1:?usage: cuda-provision.sh TARGET_DIR}"
series=12-9
installed=/usr/local/cuda-12.9

if [ -x "$target/bin/nvcc" ]; then
    echo "cuda-provision: $target/bin/nvcc is there already"
    exit 0
fi

case "$(uname -m)" in
    x86_64) repo_arch=x86_64 ;;
    aarch64) repo_arch=sbsa ;;
    *) echo "cuda-provision: no CUDA repository for $(uname -m)" >&2; exit 1 ;;
esac

export DEBIAN_FRONTEND=noninteractive
apt-get update -y
apt-get install -y --no-install-recommends ca-certificates curl
keyring=$(mktemp)
curl -fsSL -o "$keyring" \
    "https://developer.download.nvidia.com/compute/cuda/repos/debian12/$repo_arch/cuda-keyring_1.1-1_all.deb"
dpkg -i "$keyring"
rm -f "$keyring"
apt-get update -y
# What a JIT build needs: the compiler, runtime and NVRTC headers, CCCL, cuBLAS and cuRAND headers.
apt-get install -y --no-install-recommends \
    "cuda-nvcc-$series" "cuda-cudart-dev-$series" "cuda-nvrtc-dev-$series" \
    "cuda-cccl-$series" "libcublas-dev-$series" "libcurand-dev-$series"

[ -d "$installed" ] || { echo "cuda-provision: $installed missing after install" >&2; exit 1; }
# Copy into a sibling folder first and move it into place, so a pod never sees half a toolkit.
staging="$target/.staging"
rm -rf "$staging"
mkdir -p "$staging"
cp -a "$installed/." "$staging/"
find "$staging" -mindepth 1 -maxdepth 1 -exec mv {} "$target/" \;
rmdir "$staging"
"$target/bin/nvcc" --version
