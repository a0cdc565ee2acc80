#!/usr/bin/env bash
# make gpu-check: the one command that proves the GPU path, on a CUDA host (README, "The GPU build";
# from a machine without one, through ../shared/gpu/run.sh). It builds with CUDA, runs the CUDA tests
# (the op contract's conformance suite on the GPU, every kernel against its CPU twin,
# cuBLAS GEMMs against the naive GEMM, CPU/GPU parity and GPU determinism), trains through the CLI on
# the GPU and evaluates that checkpoint on the CPU, then runs the benchmark and prints its table last.
# Logs and the table go to $OUT (default bench/out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export CGO_ENABLED=1
export CGO_CPPFLAGS="-I$PWD/internal/cuda/include -I$CUDA_HOME/include"
export CGO_LDFLAGS="-L$CUDA_HOME/lib64 -L/usr/lib/x86_64-linux-gnu -L$CUDA_HOME/lib64/stubs"
export LD_LIBRARY_PATH="$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
status=0
tmp=$(mktemp -d)

echo "== toolkit: $("$CUDA_HOME/bin/nvcc" --version 2>/dev/null | tail -2 | head -1)"
ls "$CUDA_HOME"/lib64/libcublas.so* 2>/dev/null | head -3

echo "== ptxas (CUDA_HOME's, sm_90)"
for f in internal/kernels/*.ptx; do "$CUDA_HOME/bin/ptxas" -arch=sm_90 -o /dev/null "$f" || status=1; done

echo "== build (CUDA_HOME=$CUDA_HOME)"
if ! go build -tags cuda -ldflags "-X main.version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)" -o bin/dltrain-cuda ./cmd/dltrain 2>&1 | tee "$OUT/build.log"; then status=1; fi
[[ -x bin/dltrain-cuda ]] || { echo "build failed"; exit 1; }
./bin/dltrain-cuda version | tee -a "$OUT/build.log"

echo "== CUDA tests"
go test -tags cuda -count=1 -v -timeout 150s ./internal/kernels ./internal/cuda 2>&1 | tee "$OUT/gpu-tests.log" | grep -E '^(---|ok|FAIL|PASS)|panic|skip|_test\.go:[0-9]+:'
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1

echo "== CLI: train on the GPU, evaluate the checkpoint on the GPU and on the CPU"
timeout 90 ./bin/dltrain-cuda train --device cuda --epochs 2 -o "$tmp/gpu.bin" --metrics "$OUT/gpu-cli.jsonl" 2>&1 | tee "$OUT/cli.log" | tail -3
./bin/dltrain-cuda eval "$tmp/gpu.bin" --device cuda 2>&1 | tee -a "$OUT/cli.log" | tail -1
./bin/dltrain-cuda eval "$tmp/gpu.bin" --device cpu --json > "$OUT/gpu-bin-eval-cpu.json" 2>>"$OUT/cli.log" || status=1
echo "cpu eval of the gpu checkpoint: $(cat "$OUT/gpu-bin-eval-cpu.json" | head -c 60)..."
echo "== CLI: train on the CPU, evaluate that checkpoint on the GPU"
timeout 60 ./bin/dltrain-cuda train --device cpu --epochs 1 -o "$tmp/cpu.bin" --quiet 2>&1 | tee -a "$OUT/cli.log" | tail -1
./bin/dltrain-cuda eval "$tmp/cpu.bin" --device cuda 2>&1 | tee -a "$OUT/cli.log" | grep -m1 accuracy || status=1
./bin/dltrain-cuda eval "$tmp/cpu.bin" --device cpu 2>&1 | grep -m1 accuracy || status=1

echo "== benchmark"
# Two processes: the report's memory figure must not see the profile's allocations.
DLTRAIN_GPU_REPORT="$OUT/gpu-report.md" go test -tags cuda -count=1 -run '^TestGPUReport$' -v -timeout 180s ./internal/cuda \
  > "$OUT/gpu-report.log" 2>&1 || status=1
DLTRAIN_GPU_REPORT="$OUT/gpu-report.md" go test -tags cuda -count=1 -run '^TestGPUProfile$' -v -timeout 120s ./internal/cuda \
  >> "$OUT/gpu-report.log" 2>&1 || status=1
DLTRAIN_GPU_REPORT="$OUT/gpu-report.md" go test -tags cuda -count=1 -run '^TestGPUAugmentCost$' -v -timeout 300s ./internal/cuda \
  >> "$OUT/gpu-report.log" 2>&1 || status=1
tail -3 "$OUT/gpu-report.log"
echo
cat "$OUT/gpu-report-profile.md" 2>/dev/null || echo "(no profile table: see $OUT/gpu-report.log)"
echo
cat "$OUT/gpu-report-augment.md" 2>/dev/null || echo "(no augmentation table: see $OUT/gpu-report.log)"
echo
cat "$OUT/gpu-report.md" 2>/dev/null || echo "(no report table: see $OUT/gpu-report.log)"
exit $status
