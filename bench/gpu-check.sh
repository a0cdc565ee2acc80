#!/usr/bin/env bash
# make gpu-check: the one command that proves the GPU path and measures it, on a CUDA host (README,
# "The GPU build"; from a machine without one, through ../shared/gpu/run.sh). In order, each stage with
# its own timeout inside an overall budget (GPU_CHECK_BUDGET seconds, default 480), so that the whole
# run ends in time even when a stage hangs:
#   1. ptxas (the toolkit's own) on every kernel; the CUDA build and the two test binaries
#   2. the CUDA tests: every kernel against its CPU twin (in the PTX interpreter too), the conformance
#      suite, cuBLAS, error paths, CPU/GPU parity, graph replay; fused and unfused
#   3. PyTorch on the same card: the anchor torch_mnist.py (resident, graph) and bench/torch_large.py
#      (784-4096-4096-10 at batch 4096, FP32 and TF32)
#   4. the report (TestGPUReport, which quotes stage 3's results), the per-op profile
#      (TestGPUProfile) and the cost of --augment elastic on 784-800-10 (TestGPUAugmentCost), each in
#      a process of its own
#   5. the CLI: train on the GPU and evaluate on both devices, and the other way round; the marginal
#      wall time of an epoch as the CLI runs it, (time of 23 epochs - time of 3 epochs) / 20
#   6. compute-sanitizer (memcheck, racecheck) on the kernel tests, where the tool is installed
# The anchor is ../shared/anchors/torch_mnist.py, which a device machine does not get: copy it to .gpu/
# (carried) first, or name it in TORCH_ANCHOR. Logs go to $OUT (default bench/out), in at most eight
# files (what the device tool brings back); the tables and a stage summary are printed last.
# Exit status 0 only when every stage passed.
# shellcheck disable=SC2317 # the stage functions run through bash -c, which shellcheck cannot follow
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export OUT
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
BUDGET=${GPU_CHECK_BUDGET:-480}
export CGO_ENABLED=1
export CGO_CPPFLAGS="-I$PWD/internal/cuda/include -I$CUDA_HOME/include"
export CGO_LDFLAGS="-L$CUDA_HOME/lib64 -L/usr/lib/x86_64-linux-gnu -L$CUDA_HOME/lib64/stubs"
export LD_LIBRARY_PATH="$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
DLTRAIN_COMMIT=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
export DLTRAIN_COMMIT
deadline=$((SECONDS + BUDGET))
tmp=$(mktemp -d)
export tmp
trap 'rm -rf "$tmp"' EXIT
status=0
summary=()

# stage NAME LOG LIMIT FUNCTION: runs the exported shell function FUNCTION in a child bash with a
# timeout of LIMIT seconds, cut to what is left of the budget (20 s kept for the tables), appending its
# output to $OUT/LOG, and records the outcome. Skipped when under 15 s are left.
stage() {
	local name=$1 log=$2 limit=$3 fn=$4
	local left=$((deadline - SECONDS - 20))
	if ((left < 15)); then
		summary+=("$name: SKIPPED (out of time)")
		status=1
		return 1
	fi
	((limit > left)) && limit=$left
	local t0=$SECONDS
	echo "== $name (limit ${limit}s)"
	echo "== $name (limit ${limit}s, $(date -u +%H:%M:%S))" >>"$OUT/$log"
	timeout -k 10 "$limit" bash -o pipefail -c "$fn" >>"$OUT/$log" 2>&1
	local rc=$?
	local took=$((SECONDS - t0))
	if ((rc == 0)); then
		summary+=("$name: ok (${took}s)")
	elif ((rc == 124 || rc == 137)); then
		summary+=("$name: TIMED OUT after ${took}s (log: $log)")
		status=1
	else
		summary+=("$name: FAILED, exit $rc (${took}s; log: $log)")
		status=1
	fi
	return "$rc"
}

host() {
	echo "commit $DLTRAIN_COMMIT, $(date -u '+%Y-%m-%d %H:%M UTC')"
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
	"$CUDA_HOME/bin/nvcc" --version | tail -2 | head -1
	ls "$CUDA_HOME"/lib64/libcublas.so*
	go version
	"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
	true
}
ptxcheck() {
	local rc=0
	for f in internal/kernels/*.ptx; do
		"$CUDA_HOME/bin/ptxas" -arch=sm_90 -o /dev/null "$f" || rc=1
	done
	return "$rc"
}
build() {
	go build -tags cuda -ldflags "-X main.version=$DLTRAIN_COMMIT" -o bin/dltrain-cuda ./cmd/dltrain &&
		go test -tags cuda -c -o bin/cuda.test ./internal/cuda &&
		go test -c -o bin/kernels.test ./internal/kernels
	local rc=$?
	./bin/dltrain-cuda version # a CUDA build exits at once where no GPU can be used
	return "$rc"
}
# The CUDA tests: everything but the report, the profile and the augmentation cost.
cudatests() {
	(cd internal/kernels && ../../bin/kernels.test -test.v -test.timeout 100s) &&
		(cd internal/cuda && ../../bin/cuda.test -test.v -test.timeout 200s -test.skip 'TestGPUReport|TestGPUProfile|TestGPUAugmentCost')
}
# PyTorch on the same card: stage torchprep makes MNIST/raw/ with the uncompressed IDX files, which
# the anchor wants, and puts bench/torchshim on PYTHONPATH when torchvision is missing.
torchprep() {
	local data=${DLTRAIN_DATA:-data}
	mkdir -p "$tmp/torch/MNIST/raw" "$tmp/torchout"
	for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
		if [[ -f "$data/$f.gz" ]]; then gunzip -c "$data/$f.gz" >"$tmp/torch/MNIST/raw/$f"; else cp "$data/$f" "$tmp/torch/MNIST/raw/$f"; fi || return 1
	done
	if ! "$PYTHON" -c 'import torchvision' >/dev/null 2>&1; then
		echo "torchvision missing: bench/torchshim stands in"
		echo "$PWD/bench/torchshim" >"$tmp/torchshim"
	fi
	for a in "${TORCH_ANCHOR:-}" .gpu/torch_mnist.py ../shared/anchors/torch_mnist.py; do
		if [[ -n "$a" && -f "$a" ]]; then
			echo "anchor: $a"
			echo "$a" >"$tmp/anchor"
			return 0
		fi
	done
	echo "no torch_mnist.py: copy ../shared/anchors/torch_mnist.py to .gpu/ (or set TORCH_ANCHOR)"
	return 1
}
# torchrun NAME ARGS...: runs python ARGS, keeps its last line (one JSON object) as $tmp/torchout/NAME.json.
torchrun() {
	local name=$1
	shift
	local shim=""
	[[ -f "$tmp/torchshim" ]] && shim=$(cat "$tmp/torchshim")
	PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" "$@" >"$tmp/torchout/$name.out"
	local rc=$?
	cat "$tmp/torchout/$name.out"
	((rc == 0)) && tail -1 "$tmp/torchout/$name.out" >"$tmp/torchout/$name.json"
	return "$rc"
}
torchresident() { torchrun torch-resident "$(cat "$tmp/anchor")" --root "$tmp/torch" --mode resident --epochs 5; }
torchgraph() { torchrun torch-graph "$(cat "$tmp/anchor")" --root "$tmp/torch" --mode graph --epochs 10; }
torchlarge() { torchrun torch-large bench/torch_large.py --data "$tmp/torch/MNIST/raw"; }
report() {
	cd internal/cuda && DLTRAIN_GPU_REPORT="$OUT/gpu-report.md" DLTRAIN_TORCH_DIR="$tmp/torchout" \
		../../bin/cuda.test -test.v -test.run '^TestGPUReport$' -test.timeout 240s
}
profile() {
	cd internal/cuda && DLTRAIN_GPU_REPORT="$OUT/gpu-report.md" ../../bin/cuda.test -test.v -test.run '^TestGPUProfile$' -test.timeout 150s
}
augcost() {
	cd internal/cuda && DLTRAIN_GPU_REPORT="$OUT/gpu-report.md" ../../bin/cuda.test -test.v -test.run '^TestGPUAugmentCost$' -test.timeout 120s
}
# The CLI: a GPU-trained checkpoint evaluated on both devices, a CPU-trained one on the GPU, fused and
# TF32 training; then the marginal wall time of an epoch as the CLI runs it, unfused and fused.
cli() {
	local rc=0 m=$tmp
	./bin/dltrain-cuda train --device cuda --epochs 2 -o "$m/gpu.bin" --metrics "$m/gpu-cli.jsonl" || rc=1
	cat "$m/gpu-cli.jsonl"
	./bin/dltrain-cuda eval "$m/gpu.bin" --device cuda || rc=1
	./bin/dltrain-cuda eval "$m/gpu.bin" --device cpu --json || rc=1
	./bin/dltrain-cuda train --device cpu --epochs 1 -o "$m/cpu.bin" --quiet || rc=1
	./bin/dltrain-cuda eval "$m/cpu.bin" --device cuda || rc=1
	./bin/dltrain-cuda eval "$m/cpu.bin" --device cpu || rc=1
	DLTRAIN_CUDA_FUSE=1 ./bin/dltrain-cuda train --device cuda --epochs 2 -o "$m/fused.bin" || rc=1
	./bin/dltrain-cuda train --device cuda --epochs 1 --precision tf32 -o "$m/tf32.bin" || rc=1
	for fuse in 0 1; do
		local n t0 t1 t3=0 t23=0 ok=1
		for n in 3 23; do
			t0=$(date +%s.%N)
			DLTRAIN_CUDA_FUSE=$fuse ./bin/dltrain-cuda train --device cuda --epochs "$n" -o "$m/m$n.bin" --quiet || ok=0
			t1=$(date +%s.%N)
			if ((n == 3)); then t3=$(awk "BEGIN{print $t1 - $t0}"); else t23=$(awk "BEGIN{print $t1 - $t0}"); fi
		done
		if ((ok)); then
			awk "BEGIN{printf \"cli-epoch DLTRAIN_CUDA_FUSE=$fuse: 3 epochs %.3f s, 23 epochs %.3f s: %.2f ms per epoch (whole, as the CLI runs it)\n\", $t3, $t23, 1000*($t23-$t3)/20}"
		else
			echo "cli-epoch DLTRAIN_CUDA_FUSE=$fuse: a training run failed, no figure"
			rc=1
		fi
	done
	return "$rc"
}
sanitize() {
	local cs=${CUDA_HOME}/bin/compute-sanitizer
	[[ -x "$cs" ]] || cs=$(command -v compute-sanitizer) || { echo "no compute-sanitizer"; return 0; }
	cd internal/cuda || return 1
	local rc=0
	"$cs" --tool memcheck --error-exitcode 3 ../../bin/cuda.test -test.run 'TestFcInKernels|TestFcDWKernel|TestHeadKernels|TestSmallLayer|TestGradSums|TestFusedStep|TestAugmentKernel' -test.timeout 120s || rc=1
	"$cs" --tool racecheck --error-exitcode 3 ../../bin/cuda.test -test.run 'TestFcInKernels|TestFcDWKernel|TestHeadKernels|TestGradSums|TestAugmentKernel' -test.timeout 120s || rc=1
	return "$rc"
}
export -f host ptxcheck build cudatests torchprep torchrun torchresident torchgraph torchlarge report profile augcost cli sanitize

stage host host-build.log 30 host
cat "$OUT/host-build.log"
stage ptxas host-build.log 60 ptxcheck
if ! stage build host-build.log 240 build; then
	tail -30 "$OUT/host-build.log"
	printf '%s\n' "${summary[@]}"
	exit 1
fi
stage tests tests.log 240 cudatests
grep -E '^(--- FAIL|FAIL|panic)|_test\.go:[0-9]+: .*(want|differ|reference|FAIL)' "$OUT/tests.log" | head -20
if stage torch-prep torch.log 60 torchprep; then
	stage torch-resident torch.log 120 torchresident
	stage torch-graph torch.log 120 torchgraph
	stage torch-large torch.log 120 torchlarge
fi
stage report runs.log 260 report
stage profile runs.log 160 profile
stage augment-cost runs.log 60 augcost
stage cli cli.log 150 cli
stage sanitize runs.log 150 sanitize

{
	echo
	cat "$OUT/gpu-report-profile.md" 2>/dev/null || echo "(no profile table: see runs.log)"
	echo
	cat "$OUT/gpu-report-augment.md" 2>/dev/null || echo "(no augmentation table: see runs.log)"
	echo
	grep -h '^cli-epoch' "$OUT/cli.log" 2>/dev/null
	echo
	cat "$OUT/gpu-report.md" 2>/dev/null || echo "(no report table: see runs.log)"
	echo
	echo "stages (logs in $OUT):"
	printf '  %s\n' "${summary[@]}"
} | tee "$OUT/summary.txt"
exit $status
