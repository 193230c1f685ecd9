#!/usr/bin/env bash
# Fails (exit 1) when a shared library onnxruntime-node ships needs a library the image lacks:
# every NEEDED entry (readelf -d) of the .so files in DIR must be in DIR itself or known to the
# dynamic loader (ldconfig -p). Catches a CUDA/cuDNN/TensorRT base that does not match the
# provider libraries at build time, instead of a silent fallback to CPU at run time.
#   check-native-libs.sh DIR [REQUIRED_FILE ...]
set -euo pipefail
dir="${1:?usage: check-native-libs.sh DIR [REQUIRED_FILE ...]}"
shift
status=0
for required in "$@"; do
  if [ ! -e "$dir/$required" ]; then
    echo "missing: $dir/$required" >&2
    status=1
  fi
done
ldconfig="$(command -v ldconfig || echo /sbin/ldconfig)"
known="$("$ldconfig" -p | awk '{print $1}')"
shopt -s nullglob
libs=("$dir"/*.so "$dir"/*.so.* "$dir"/*.node)
if [ ${#libs[@]} -eq 0 ]; then
  echo "no shared libraries in $dir" >&2
  exit 1
fi
for lib in "${libs[@]}"; do
  while read -r needed; do
    if [ -e "$dir/$needed" ] || grep -qxF "$needed" <<<"$known"; then
      continue
    fi
    echo "$(basename "$lib") needs $needed: not found" >&2
    status=1
  done < <(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')
  echo "checked $(basename "$lib")"
done
exit $status
