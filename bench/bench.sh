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

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== GEMM (go test -bench)"
go test -run '^$' -bench 'Gemm|PeakFMA' -benchtime 2s ./internal/cpu | tee "$out/gemm.txt" | grep -E '^Benchmark'

echo "== dltrain: $EPOCHS epochs, 784-128-10 relu/ce, batch 100, CPU"
/usr/bin/time -v ./bin/dltrain train --epochs "$EPOCHS" --device cpu --data "$DATA" --metrics "$out/dl.jsonl" \
  --out "$out/model.bin" --quiet 2>"$out/time.txt"
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/time.txt")

# Augmentation: what --augment elastic adds to a CPU epoch of 784-800-10 (issue 13 asks for at most
# 25 %), as the medians of AUG_EPOCHS one-epoch runs of each, alternated so that a change in the
# machine's load falls on both alike; and augment.Gather's own cost per image.
AUG_EPOCHS=${AUG_EPOCHS:-5}
echo "== augmentation: augment.Gather per image (go test -bench Gather ./internal/augment)"
go test -run '^$' -bench 'Gather' -benchtime 2s ./internal/augment | tee "$out/augment.txt" | grep -E '^Benchmark'
echo "== augmentation: 784-800-10 relu/ce, batch 100, CPU, $AUG_EPOCHS one-epoch runs without and with --augment elastic, alternated"
for _ in $(seq "$AUG_EPOCHS"); do
  for mode in none elastic; do
    ./bin/dltrain train --epochs 1 --hidden 800 --augment "$mode" --device cpu --data "$DATA" \
      --metrics "$out/aug-$mode-1.jsonl" --out "$out/aug-$mode.bin" --quiet >/dev/null
    cat "$out/aug-$mode-1.jsonl" >> "$out/aug-$mode.jsonl"
  done
done

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

echo "== load at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the figures are wall times: on a shared machine they move with it)"
python3 bench/table.py "$out" "$torch" "$rss"
