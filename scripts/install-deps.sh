#!/usr/bin/env bash
# Installs everything r1serve needs to build and test, idempotently:
#   - Debian packages (skipped when already installed; needs root or sudo to install),
#   - a Python venv in .venv with the pinned test tools of requirements/test.txt,
#   - when nvcc is present, FlashInfer's C++ headers (the pinned flashinfer-python wheel, unpacked
#     without its Python dependencies into .deps/flashinfer-python/, which git ignores) for the
#     side-by-side MLA decode kernel (kernels/mla_decode/). R1_FLASHINFER=0 skips it.
#   - when nvcc is present, CUTLASS's C++ headers (the pinned nvidia-cutlass wheel, downloaded
#     without dependencies and unzipped into .deps/nvidia-cutlass/, which git ignores) for the
#     side-by-side grouped expert GEMM (kernels/moe_gemm/). R1_CUTLASS=0 skips it.
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
  python3 python3-venv curl unzip
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
# CUTLASS: only the C++ headers of the nvidia-cutlass wheel (cutlass_library/source/include and
# source/tools/util/include) are used. `pip download --no-deps` fetches the pinned wheel alone
# (its Python dependencies are not needed for C++), and unzip unpacks just those folders plus the
# version header CMake checks. Same skip conditions as FlashInfer: no nvcc, R1_CUTLASS=0, or the
# pinned version already unpacked.
CUTLASS_VERSION=4.2.0.0  # keep equal to R1_CUTLASS_WHEEL_VERSION in cmake/R1Cutlass.cmake
cu_dir=.deps/nvidia-cutlass
cu_stamp=$cu_dir/.version-stamp
if [ "${R1_CUTLASS:-1}" = 0 ] || [ -z "$nvcc_bin" ]; then
  echo "install-deps: CUTLASS skipped (no nvcc, or R1_CUTLASS=0)"
elif [ "$(cat "$cu_stamp" 2>/dev/null)" = "$CUTLASS_VERSION" ]; then
  echo "install-deps: CUTLASS $CUTLASS_VERSION present"
else
  echo "install-deps: installing nvidia-cutlass==$CUTLASS_VERSION (headers only) into $cu_dir"
  rm -rf "$cu_dir"
  mkdir -p "$cu_dir/wheel"
  .venv/bin/pip download -q --disable-pip-version-check --no-deps -d "$cu_dir/wheel" \
    "nvidia-cutlass==$CUTLASS_VERSION"
  unzip -q -o "$cu_dir"/wheel/nvidia_cutlass-"$CUTLASS_VERSION"-*.whl \
    'cutlass_library/source/include/*' 'cutlass_library/source/tools/util/include/*' \
    'nvidia_cutlass-*.dist-info/*' -d "$cu_dir"
  rm -rf "$cu_dir/wheel"
  test -f "$cu_dir/cutlass_library/source/include/cutlass/version.h"
  echo "$CUTLASS_VERSION" > "$cu_stamp"
fi
echo "install-deps: done"
