#!/usr/bin/env bash
# make interop: trains the seed model for EPOCHS (default 3), exports ONNX and safetensors, and checks
# both with Debian's python3-onnx and python3-torch (make interop-deps) through bench/interop.py.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-3}
DATA=${DATA:-data}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
./bin/dltrain train --epochs "$EPOCHS" --device cpu --data "$DATA" -o "$out/m.bin" --quiet
./bin/dltrain export "$out/m.bin" -o "$out/m.onnx"
./bin/dltrain export "$out/m.bin" --format safetensors -o "$out/w.safetensors"
./bin/dltrain eval "$out/m.bin" --data "$DATA" --json > "$out/eval.json"
/usr/bin/python3 bench/interop.py "$out/m.onnx" "$out/w.safetensors" "$DATA" "$out/eval.json"
