#!/usr/bin/env bash
# make bench: dltrain's CPU speed against PyTorch in one run. It prints, as a table at the end:
#   - the classic epoch (dltrain train, 784-128-10 relu, median of EPOCHS) and PyTorch's resident
#     epoch (../shared/anchors/torch_mnist.py, same threads) with the ratio;
#   - the step's GFLOP/s against the measured FMA peak of the widest vector unit;
#   - cores busy over the epochs' steps (process CPU time / wall time, with and without spin-waiting);
#   - tanh and sigmoid epochs against relu (the nets take turns epoch by epoch, bench/cpuepoch);
#   - the 784-800-10 epoch against PyTorch's (bench/torch_mlp.py wraps the anchor);
#   - what --augment elastic adds to a 784-800-10 epoch (one-epoch runs with and without, alternated),
#     and augment.Gather's cost per image;
#   - GEMM GFLOP/s at the training shapes, and the machine's load before and after;
#   - CPU seconds per epoch of both sides, which a shared machine's load moves less than wall time
#     (though PyTorch's OpenMP threads spin more under load, so its CPU time grows too).
# PyTorch needs Debian's python3-torch (make bench-deps) and the anchor (ANCHOR overrides its path).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5}        # classic net, dltrain and PyTorch
NET_EPOCHS=${NET_EPOCHS:-3} # each net of cpuepoch
BIG_EPOCHS=${BIG_EPOCHS:-2} # PyTorch 784-800-10 (about 45 s an epoch on 2 cores)
DATA=${DATA:-data}
ANCHOR=${ANCHOR:-../shared/anchors/torch_mnist.py}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

uptime > "$out/load0.txt"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), load: $(cut -d, -f3- "$out/load0.txt" | xargs)"

echo "== GEMM and FMA peak (go test -bench)"
go test -run '^$' -bench 'Gemm|PeakFMA' -benchtime 2s ./internal/cpu | tee "$out/gemm.txt" | grep -E '^Benchmark'

echo "== dltrain: $EPOCHS epochs, 784-128-10 relu/ce, batch 100, CPU"
/usr/bin/time -v ./bin/dltrain train --epochs "$EPOCHS" --device cpu --data "$DATA" --metrics "$out/dl.jsonl" \
  --out "$out/model.bin" --quiet 2>"$out/time.txt"
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/time.txt")

echo "== cpuepoch: $NET_EPOCHS epochs each, taking turns"
go run ./bench/cpuepoch -data "$DATA" -epochs "$NET_EPOCHS" \
  784-128-10/relu 784-128-10/tanh 784-128-10/sigmoid 784-800-10/relu | tee "$out/nets.jsonl"

# Augmentation: what --augment elastic adds to a CPU epoch of 784-800-10 (at most 25 % is the goal),
# as the medians of AUG_EPOCHS one-epoch runs of each, alternated so that a change in the machine's
# load falls on both alike; and augment.Gather's own cost per image.
AUG_EPOCHS=${AUG_EPOCHS:-5}
echo "== augmentation: augment.Gather per image (go test -bench Gather ./internal/augment)"
go test -run '^$' -bench 'Gather' -benchtime 2s ./internal/augment | tee "$out/augment.txt" | grep -E '^Benchmark'
echo "== augmentation: 784-800-10 relu/ce, batch 100, CPU, $AUG_EPOCHS one-epoch runs without and with --augment elastic, alternated"
for _ in $(seq "$AUG_EPOCHS"); do
  for mode in none elastic; do
    ./bin/dltrain train --epochs 1 --hidden 800 --augment "$mode" --device cpu --data "$DATA" \
      --metrics "$out/aug-$mode-1.jsonl" -o "$out/aug-$mode.bin" --quiet >/dev/null
    cat "$out/aug-$mode-1.jsonl" >> "$out/aug-$mode.jsonl"
  done
done

torch=""
if [[ ! -f $ANCHOR ]]; then
  echo "== PyTorch: $ANCHOR not found (it lives in the project's shared folder; set ANCHOR); skipping the side-by-side"
elif [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  echo "== PyTorch $( /usr/bin/python3 -c 'import torch; print(torch.__version__)'), resident mode: 784-128-10 $EPOCHS epochs, 784-800-10 $BIG_EPOCHS"
  mkdir -p "$out/torch/MNIST/raw"
  for f in "$DATA"/*-ubyte.gz; do gunzip -c "$f" > "$out/torch/MNIST/raw/$(basename "${f%.gz}")"; done
  # bench/torch_mlp.py runs the anchor's own loop (its default net is the anchor's Net) and adds the
  # CPU time of each epoch.
  OMP_NUM_THREADS=$(nproc) /usr/bin/python3 bench/torch_mlp.py --anchor "$ANCHOR" --root "$out/torch" \
    --mode resident --epochs "$EPOCHS" | tail -1 > "$out/torch.json"
  OMP_NUM_THREADS=$(nproc) /usr/bin/python3 bench/torch_mlp.py --anchor "$ANCHOR" --hidden 800 --root "$out/torch" \
    --mode resident --epochs "$BIG_EPOCHS" | tail -1 > "$out/torch800.json"
  torch="$out"
else
  echo "== PyTorch: not installed (make bench-deps); skipping the side-by-side"
fi
uptime > "$out/load1.txt"

python3 bench/table.py "$out" "$torch" "$rss"
