#!/usr/bin/env bash
# The main job. Installs dependencies, builds, and (until the serving cluster lands) shows each
# binary's help and validates DeepSeek-R1's config with r1ctl.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
for b in coordinator/r1-coordinator worker/r1-worker; do
  echo "== $b --help"
  build/$b --help 2>&1 | sed -n '1,40p' || true
done
echo "== r1ctl --help"
build/r1ctl/r1ctl --help
echo "== r1ctl check-config tests/fixtures/deepseek-r1-config.json"
build/r1ctl/r1ctl check-config tests/fixtures/deepseek-r1-config.json
