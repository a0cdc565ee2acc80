#!/usr/bin/env bash
# make bench: dltrain's CPU epoch time (median of 5 epochs, seed configuration), GEMM GFLOP/s at the
# three training shapes against the measured FMA peak, and PyTorch's resident epoch time in the same
# run when Debian's python3-torch is installed (make bench-deps). Prints a table last.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5}
DATA=${DATA:-data}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"

echo "== GEMM (go test -bench)"
go test -run '^$' -bench 'Gemm|PeakFMA' -benchtime 2s ./internal/cpu | tee "$out/gemm.txt" | grep -E '^Benchmark'

echo "== dltrain: $EPOCHS epochs, 784-128-10 relu/ce, batch 100, CPU"
/usr/bin/time -v ./bin/dltrain train --epochs "$EPOCHS" --device cpu --data "$DATA" --metrics "$out/dl.jsonl" \
  --out "$out/model.bin" --quiet 2>"$out/time.txt"
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/time.txt")

torch=""
anchor=../shared/anchors/torch_mnist.py
if [[ ! -f $anchor ]]; then
  echo "== PyTorch: $anchor not found (it lives in the project's shared folder); skipping the side-by-side"
elif [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  echo "== PyTorch $( /usr/bin/python3 -c 'import torch; print(torch.__version__)'), resident mode, $EPOCHS epochs"
  mkdir -p "$out/torch/MNIST/raw"
  for f in "$DATA"/*-ubyte.gz; do gunzip -c "$f" > "$out/torch/MNIST/raw/$(basename "${f%.gz}")"; done
  OMP_NUM_THREADS=$(nproc) /usr/bin/python3 "$anchor" --root "$out/torch" --mode resident --epochs "$EPOCHS" | tail -1 > "$out/torch.json"
  torch="$out/torch.json"
else
  echo "== PyTorch: not installed (make bench-deps); skipping the side-by-side"
fi

python3 bench/table.py "$out" "$torch" "$rss"
