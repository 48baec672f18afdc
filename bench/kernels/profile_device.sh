#!/usr/bin/env bash
# Nsight Compute profile (full section set) of one launch of a kernel in a bench: the first launch
# matching the regex after SKIP matching launches (default 0: the bench's first, target, shape).
# Clocks are left alone (--clock-control none).
# usage: profile_device.sh NAME BENCH KERNEL_REGEX [SKIP]; writes $OUT/ncu_NAME.txt.
set -uo pipefail
out=${OUT:-/tmp}
source .device/env.sh
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$ncu" ] || { echo "no ncu"; exit 0; }
timeout 240 "$ncu" --clock-control none --set full -k "regex:$3" --launch-skip "${4:-0}" -c 1 "$2" >"$out/ncu_$1.txt" 2>&1
echo "ncu $1 rc=$?"
grep -E "Duration|DRAM Throughput|Issued Ipc|Stall|stall|Pipe|pipe|Tensor|Shared Memory Bandwidth|Bank Conflicts|Warp Cycles Per Issued" "$out/ncu_$1.txt" | head -60
