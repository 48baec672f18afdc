#!/usr/bin/env bash
# Installs everything r1serve needs to build and test, idempotently:
#   - Debian packages (skipped when already installed; needs root or sudo to install),
#   - a Python venv in .venv with the pinned test tools of requirements/test.txt,
#   - when nvcc is present, FlashInfer's C++ headers (the pinned flashinfer-python wheel, unpacked
#     without its Python dependencies into .deps/flashinfer-python/, which git ignores) for the
#     side-by-side MLA decode kernel (kernels/mla_decode/). R1_FLASHINFER=0 skips it.
# Nothing else is downloaded. The CUDA toolkit (nvcc, NCCL, cuBLAS) is used when present and is
# not installed here.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  clang clang-format libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libgloo-dev
  libgtest-dev libgmock-dev libboost-dev nlohmann-json3-dev
  libopenblas-dev libspdlog-dev libre2-dev libpcre2-dev libicu-dev
  python3 python3-venv curl
  prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: Debian packages present"
fi

# Python test tools, pinned. Re-installed only when the requirements file changes.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements-stamp
want=$(sha256sum requirements/test.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements/test.txt
  echo "$want" > "$stamp"
fi
# FlashInfer: only its header-only CUDA sources (flashinfer/data/: include, cutlass, cccl) are
# used, from C++; its metadata pulls torch and tvm-ffi, which nothing here needs, hence --no-deps.
# The version is pinned because the C++ side calls internal APIs (the MLA plan layout) that change
# between releases. Skipped without nvcc (nothing could compile it) and when the pinned version is
# already unpacked, so a second run costs nothing.
FLASHINFER_VERSION=0.7.4  # keep equal to R1_FLASHINFER_VERSION in cmake/R1FlashInfer.cmake
fi_dir=.deps/flashinfer-python
fi_stamp=$fi_dir/.version-stamp
nvcc_bin=$(command -v nvcc || true)
[ -n "$nvcc_bin" ] || [ ! -x /usr/local/cuda/bin/nvcc ] || nvcc_bin=/usr/local/cuda/bin/nvcc
if [ "${R1_FLASHINFER:-1}" = 0 ] || [ -z "$nvcc_bin" ]; then
  echo "install-deps: FlashInfer skipped (no nvcc, or R1_FLASHINFER=0)"
elif [ "$(cat "$fi_stamp" 2>/dev/null)" = "$FLASHINFER_VERSION" ]; then
  echo "install-deps: FlashInfer $FLASHINFER_VERSION present"
else
  echo "install-deps: installing flashinfer-python==$FLASHINFER_VERSION (headers only) into $fi_dir"
  rm -rf "$fi_dir"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-compile \
    --target "$fi_dir" "flashinfer-python==$FLASHINFER_VERSION"
  test -f "$fi_dir/flashinfer/data/include/flashinfer/attention/mla_hopper.cuh"
  # Keep only what the C++ build reads (~60 MB of the ~720 MB unpacked): the headers, their
  # CUTLASS and CCCL, and the version file CMake checks.
  find "$fi_dir/flashinfer" -mindepth 1 -maxdepth 1 ! -name data ! -name _build_meta.py \
    -exec rm -rf {} +
  find "$fi_dir/flashinfer/data" -mindepth 1 -maxdepth 1 ! -name include ! -name cutlass \
    ! -name cccl -exec rm -rf {} +
  find "$fi_dir" -mindepth 1 -maxdepth 1 ! -name flashinfer ! -name '*.dist-info' -exec rm -rf {} +
  echo "$FLASHINFER_VERSION" > "$fi_stamp"
fi
echo "install-deps: done"
