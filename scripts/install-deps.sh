#!/usr/bin/env bash
# Installs everything r1serve needs to build and test, idempotently:
#   - Debian packages (skipped when already installed; needs root or sudo to install),
#   - a Python venv in .venv with the pinned test tools of requirements/test.txt.
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
echo "install-deps: done"
