#!/usr/bin/env bash
# make record: issue 18's record run, Cireşan-class deep MLPs on elastically deformed MNIST, on one
# GPU, in one command (README, "Record run"; bench/NOTES.md, "The record run" has the recipe and why).
# On a CUDA host (from a machine without one through ../shared/gpu/run.sh, whose environment gives
# Go, the vendored modules and DLTRAIN_DATA), in order, each stage under a timeout inside an overall
# budget (RECORD_BUDGET seconds, default 420), so that the whole run ends in time:
#   1. the card and host; the CUDA build of dltrain and of the CUDA test binary
#   2. throughput of the record's steps and of each of their GEMMs against a 4096³ SGEMM
#      (TestGPURecordThroughput, internal/cuda/record_test.go; RECORD_GEMM=0 skips it)
#   3. run 2, 784-2500-2000-1500-1000-500-10, then run 1, 784-1000-500-10 (the headline first, so
#      that a short budget cuts the small one), each: a timing pilot (the
#      same command, stopped after a few epochs) that measures the process's start and an epoch's wall
#      time; the number of epochs that fits the run's wall-time target (R1_WALL, R2_WALL) unless
#      EPOCHS1/EPOCHS2 fix it; then the run itself under a hard limit (R1_LIMIT, R2_LIMIT = 300 s, the
#      issue's 5 minutes), its whole process timed from start to exit, with --metrics, a progress line
#      every PROGRESS_EVERY seconds (epoch, run ETA, best validation so far) and nvidia-smi sampled
#   4. dltrain eval of each final model on the GPU and on the CPU, the misclassified test digits of
#      run 2, dltrain plot of both runs' metrics
#   5. the record, $OUT/record.md (card, driver, date, commit, commands, wall times, test errors, the
#      table against the paper, the curves in brief), written by bench/record.py; its summary last.
# Nothing is chosen on the test set: the recipe is fixed before the run, --val-split holds out 5000
# training images that are only watched, and the test error reported is the final model's.
#
# At most eight files go to OUT (what the device tool brings back): record.md, record.log,
# record-ARCH.jsonl for each run, record.png (both runs' curves), record-errors.png (run 2's
# misclassified test digits). The checkpoints stay in a temporary directory and are removed.
#
#   bash bench/record.sh             the record (CUDA host)
#   bash bench/record.sh --dry-run   the same pipeline on the CPU at toy size (a default build, tiny
#                                    nets, a few seconds per run): what `make record-dry` runs
#   bash bench/record.sh --digest    print the source digest the record names, and exit
# Exit status 0 when every stage ran (a missed target is reported, not an error), 1 otherwise.
# shellcheck disable=SC2317 # the stage functions run through bash -c, which shellcheck cannot follow
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

dry=0
case "${1:-}" in
--dry-run) dry=1 ;;
--digest | "") ;;
*)
	echo "usage: bash bench/record.sh [--dry-run | --digest]" >&2
	exit 2
	;;
esac
[[ "${DRY_RUN:-0}" == 1 ]] && dry=1

# digest: SHA-256 (first 16 hex digits) of the sources that make the binary and this script, so
# that a record made on a copy of the tree without its git history still names what ran.
digest() {
	{
		find cmd internal -type f \( -name '*.go' -o -name '*.ptx' -o -name '*.s' -o -name '*.h' \) -print
		printf '%s\n' go.mod go.sum Makefile bench/record.sh bench/record.py
	} | LC_ALL=C sort | while read -r f; do sha256sum "$f"; done | sha256sum | cut -c1-16
}
if [[ "${1:-}" == --digest ]]; then
	digest
	exit 0
fi

OUT=${OUT:-bench/out/record}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
PYTHON=${PYTHON:-python3}
SEED=${SEED:-1}
BATCH=${BATCH:-128}
LR=${LR:-0.02}
MOMENTUM=${MOMENTUM:-0.9}
INIT=${INIT:-kaiming}
VAL=${VAL:-5000}
PRECISION=${PRECISION:-fp32}
WARMUP_PCT=${WARMUP_PCT:-2}      # warmup: this share of the run's epochs, at least one epoch
EPOCHS_MAX=${EPOCHS_MAX:-3000}   # a bound on what the pilot may ask for
PROGRESS_EVERY=${PROGRESS_EVERY:-15}
if ((dry)); then
	DEVICE=cpu
	BUDGET=${RECORD_BUDGET:-240}
	R1_HIDDEN=${R1_HIDDEN:-32}
	R2_HIDDEN=${R2_HIDDEN:-64,48,32,24,16}
	R1_WALL=${R1_WALL:-8} R1_LIMIT=${R1_LIMIT:-30}
	R2_WALL=${R2_WALL:-12} R2_LIMIT=${R2_LIMIT:-40}
	PILOT_SECS=${PILOT_SECS:-2} PILOT_LIMIT=${PILOT_LIMIT:-30}
	PROGRESS_EVERY=${PROGRESS_EVERY_DRY:-4}
	BIN=bin/dltrain-record-dry
else
	DEVICE=cuda
	BUDGET=${RECORD_BUDGET:-420}
	R1_HIDDEN=${R1_HIDDEN:-1000,500}
	R2_HIDDEN=${R2_HIDDEN:-2500,2000,1500,1000,500}
	R1_WALL=${R1_WALL:-45} R1_LIMIT=${R1_LIMIT:-75}
	R2_WALL=${R2_WALL:-210} R2_LIMIT=${R2_LIMIT:-300}
	PILOT_SECS=${PILOT_SECS:-4} PILOT_LIMIT=${PILOT_LIMIT:-45}
	BIN=bin/dltrain-cuda
fi
deadline=$((SECONDS + BUDGET))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
LOG=$OUT/record.log
: >"$LOG"
FACTS=$tmp/facts
: >"$FACTS"
status=0
summary=()

# fact KEY VALUE: one line of what record.py writes the record from.
fact() { printf '%s=%s\n' "$1" "$2" >>"$FACTS"; }
say() { echo "$*" | tee -a "$LOG"; }
now() { date +%s.%N; }
# secs T0 T1: T1 − T0 with millisecond precision.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
left() { echo $((deadline - SECONDS)); }
arch() { echo "784-${1//,/-}-10"; }

# stage NAME LIMIT CMD...: runs CMD with a timeout of LIMIT seconds, cut to what is left of the
# budget (15 s kept for the record), output appended to the log; skipped when under 10 s are left.
stage() {
	local name=$1 limit=$2
	shift 2
	local l=$(($(left) - 15))
	if ((l < 10)); then
		summary+=("$name: SKIPPED (out of time)")
		status=1
		return 1
	fi
	((limit > l)) && limit=$l
	local t0=$SECONDS
	say "== $name (limit ${limit}s, $(date -u +%H:%M:%S))"
	timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
	local rc=$?
	if ((rc == 0)); then
		summary+=("$name: ok ($((SECONDS - t0))s)")
	elif ((rc == 124 || rc == 137)); then
		summary+=("$name: TIMED OUT after $((SECONDS - t0))s")
		status=1
	else
		summary+=("$name: FAILED, exit $rc ($((SECONDS - t0))s)")
		status=1
	fi
	return "$rc"
}

# --- 1. host and build ---------------------------------------------------------------------------
commit=${RECORD_COMMIT:-}
[[ -z "$commit" && -f .gpu/commit ]] && commit=$(cat .gpu/commit)
[[ -z "$commit" ]] && commit=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
fact dry "$dry"
fact date "$(date -u '+%Y-%m-%d %H:%M UTC')"
fact commit "$commit"
fact digest "$(digest)"
fact host_cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
fact host_cores "$(nproc)"
fact load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
fact go "$(go version 2>/dev/null | cut -d' ' -f3-)"
fact data "${DATA:-${DLTRAIN_DATA:-./data}}"
if ((!dry)); then
	q=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv,noheader 2>&1 | head -1)
	fact gpu "$q"
	fact cuda "$("$CUDA_HOME/bin/nvcc" --version 2>/dev/null | grep -o 'release [0-9.]*, V[0-9.]*' || echo unknown)"
	fact cublas "$(cd "$CUDA_HOME/lib64" 2>/dev/null && printf '%s\n' libcublas.so.*.* | head -1)"
	fact fuse "${DLTRAIN_CUDA_FUSE:-unset (off)}"
fi
say "== record: commit $commit, source digest $(digest), $(date -u '+%F %T') UTC, device $DEVICE, budget ${BUDGET}s"
((dry)) && say "   DRY RUN: toy nets on the CPU, a test of the pipeline, not a record"
for t in "$PYTHON" timeout go; do
	command -v "$t" >/dev/null || {
		say "record: $t not found"
		exit 1
	}
done
build() {
	if ((dry)); then
		go build -ldflags "-X main.version=$commit" -o "$BIN" ./cmd/dltrain
	else
		export CGO_ENABLED=1 CGO_CPPFLAGS="-I$PWD/internal/cuda/include -I$CUDA_HOME/include"
		export CGO_LDFLAGS="-L$CUDA_HOME/lib64 -L/usr/lib/x86_64-linux-gnu -L$CUDA_HOME/lib64/stubs"
		export LD_LIBRARY_PATH="$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
		go build -tags cuda -ldflags "-X main.version=$commit" -o "$BIN" ./cmd/dltrain &&
			if [[ "${RECORD_GEMM:-1}" == 1 ]]; then go test -tags cuda -c -o bin/cuda.test ./internal/cuda; fi
	fi && "$BIN" version
}
export -f build
export dry BIN commit CUDA_HOME RECORD_GEMM
t0=$SECONDS
if ! stage build 240 bash -c build; then
	tail -30 "$LOG"
	printf '%s\n' "${summary[@]}"
	exit 1
fi
fact build_secs $((SECONDS - t0))
export LD_LIBRARY_PATH="$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# --- 2. throughput of the record's steps and GEMMs ------------------------------------------------
if ((!dry)) && [[ "${RECORD_GEMM:-1}" == 1 ]]; then
	gemm() {
		cd internal/cuda && DLTRAIN_RECORD_GEMM="$1" DLTRAIN_RECORD_BATCH="$BATCH" DLTRAIN_RECORD_PRECISION="$PRECISION" \
			../../bin/cuda.test -test.v -test.run '^TestGPURecordThroughput$' -test.timeout 100s
	}
	export -f gemm
	export BATCH PRECISION
	# shellcheck disable=SC2016 # $0 is expanded by the child bash
	stage gemm 120 bash -c 'gemm "$0"' "$tmp/gemm.md" && fact gemm "$tmp/gemm.md"
fi

# to FILE CMD...: runs CMD with its standard output in FILE (for stage, which logs both streams).
to() {
	local f=$1
	shift
	"$@" >"$f"
}
export -f to

# --- 3. the two runs -----------------------------------------------------------------------------
# train_cmd HIDDEN EPOCHS METRICS MODEL: the training command of a run, in the array cmd.
train_cmd() {
	local hidden=$1 epochs=$2 metrics=$3 model=$4
	local warm
	warm=$(awk -v e="$epochs" -v p="$WARMUP_PCT" 'BEGIN { w = int(e * p / 100 + 0.5); if (w < 1) w = 1; print w }')
	cmd=("$BIN" train --device "$DEVICE" --hidden "$hidden" --init "$INIT" --batch-size "$BATCH" --lr "$LR"
		--momentum "$MOMENTUM" --lr-schedule cosine --warmup "$warm" --augment elastic --val-split "$VAL"
		--epochs "$epochs" --seed "$SEED")
	[[ "$DEVICE" == cuda ]] && cmd+=(--precision "$PRECISION")
	[[ -n "${DATA:-}" ]] && cmd+=(--data "$DATA")
	cmd+=(--metrics "$metrics" -o "$model")
}

# lines FILE: the number of lines in FILE (0 when missing).
lines() { if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi; }

# pilot N HIDDEN: runs the run's command with a large --epochs until PILOT_SECS seconds after its
# first epoch line (at least two more lines), then stops it (SIGTERM: dltrain saves and exits); sets
# p_start (seconds from exec to the end of the first epoch, less one epoch: the process's start, data
# loading, CUDA setup) and p_epoch (wall seconds per epoch, from the lines after the first).
pilot() {
	local n=$1 hidden=$2
	local m=$tmp/pilot-$n.jsonl
	train_cmd "$hidden" 1000 "$m" "$tmp/pilot-$n.bin"
	say "== pilot $n (limit ${PILOT_LIMIT}s): ${cmd[*]}"
	local t0 t1="" tk="" k=0 c
	t0=$(now)
	"${cmd[@]}" --quiet >>"$LOG" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		c=$(lines "$m")
		if ((c >= 1)) && [[ -z "$t1" ]]; then t1=$(now); fi
		if ((c > k)); then
			k=$c
			tk=$(now)
		fi
		if [[ -n "$t1" ]] && ((k >= 3)) && awk -v a="$t1" -v b="$(now)" -v s="$PILOT_SECS" 'BEGIN { exit !(b - a >= s) }'; then
			break
		fi
		if awk -v a="$t0" -v b="$(now)" -v s="$PILOT_LIMIT" 'BEGIN { exit !(b - a >= s) }'; then
			say "pilot $n: no timing after ${PILOT_LIMIT}s ($k epochs)"
			break
		fi
		sleep 0.05
	done
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	p_start="" p_epoch=""
	if ((k >= 3)); then
		# the first line's time is taken by the loop, within 50 ms of its writing
		p_epoch=$(awk -v a="$t1" -v b="$tk" -v k="$k" 'BEGIN { printf "%.4f", (b - a) / (k - 1) }')
		p_start=$(awk -v a="$t0" -v b="$t1" -v e="$p_epoch" 'BEGIN { printf "%.3f", b - a - e }')
		say "pilot $n: start ${p_start}s, ${p_epoch}s per epoch (epochs 2..$k, wall), $(secs "$t0" "$(now)")s in all"
		fact "r${n}_pilot" "start ${p_start} s, ${p_epoch} s per epoch (wall, epochs 2..$k), $(secs "$t0" "$(now)") s in all"
	fi
}

# monitor N PID METRICS EPOCHS T0: until PID exits, a progress line every PROGRESS_EVERY seconds:
# epoch, elapsed, the run's ETA, the last validation accuracy and the best so far.
monitor() {
	local n=$1 pid=$2 m=$3 epochs=$4 t0=$5 next=$((SECONDS + PROGRESS_EVERY))
	while kill -0 "$pid" 2>/dev/null; do
		sleep 0.5
		((SECONDS < next)) && continue
		next=$((SECONDS + PROGRESS_EVERY))
		[[ -s "$m" ]] || continue
		"$PYTHON" - "$m" "$epochs" "$(secs "$t0" "$(now)")" "$n" <<'PY' | tee -a "$LOG"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
E, el, n = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = rows[-1]
eta = el / r["epoch"] * (E - r["epoch"])
best = max((x for x in rows if x.get("val_accuracy") is not None), key=lambda x: x["val_accuracy"], default=None)
v = "" if best is None else "  val %.2f %% (best %.2f %% at epoch %d)" % (100 * r["val_accuracy"], 100 * best["val_accuracy"], best["epoch"])
print("run %s: epoch %d/%d  %.0f s, ETA %.0f s  train loss %.4f  lr %.3g%s  test err %.2f %%" % (
    n, r["epoch"], E, el, eta, r["train_loss"], r["lr"], v, 100 * (1 - r["test_accuracy"])))
PY
	done
}

# smi FILE: samples the card every 5 s into FILE (background; its PID in smi_pid).
smi() {
	smi_pid=""
	((dry)) && return
	nvidia-smi --query-gpu=utilization.gpu,clocks.sm,power.draw,memory.used,temperature.gpu --format=csv,noheader,nounits -l 5 >"$1" 2>/dev/null &
	smi_pid=$!
}

# run N HIDDEN WALL LIMIT EPOCHS_FIXED: pilot (unless EPOCHS_FIXED), then the run.
run() {
	local n=$1 hidden=$2 wall=$3 limit=$4 fixed=$5 reserve=$6
	local a
	a=$(arch "$hidden")
	local m=$OUT/record-$a.jsonl model=$tmp/record-$a.bin epochs
	rm -f "$m"
	fact "r${n}_arch" "$a"
	fact "r${n}_metrics" "$(basename "$m")"
	fact "r${n}_limit" "$limit"
	# the budget: what is left, less what follows (reserve) and the pilot, bounds the target and the limit
	local avail=$(($(left) - reserve - (${#fixed} ? 0 : 15)))
	if ((wall > avail)); then
		say "run $n: wall-time target cut from ${wall}s to ${avail}s by the budget (RECORD_BUDGET)"
		wall=$avail
	fi
	fact "r${n}_wall_target" "$wall"
	if ((wall < 5)); then
		summary+=("run $n ($a): SKIPPED (out of time)")
		status=1
		return 1
	fi
	if [[ -n "$fixed" ]]; then
		epochs=$fixed
		fact "r${n}_epochs_how" "fixed (EPOCHS$n=$fixed)"
	else
		pilot "$n" "$hidden"
		if [[ -z "$p_epoch" ]]; then
			summary+=("run $n ($a): FAILED (the pilot gave no timing; log: record.log)")
			status=1
			return 1
		fi
		# what fits: (target wall − start − 2 s for the final save) / epoch, with 3 % to spare,
		# rounded down to a multiple of 10 from 100 epochs up
		epochs=$(awk -v w="$wall" -v s="$p_start" -v e="$p_epoch" -v mx="$EPOCHS_MAX" 'BEGIN {
			n = int(0.97 * (w - s - 2) / e); if (n >= 100) n = n - n % 10; if (n > mx) n = mx; if (n < 1) n = 1; print n }')
		fact "r${n}_epochs_how" "from the pilot: as many as fit ${wall} s"
	fi
	# the hard limit may eat into what follows (the small run would be cut), never past the budget
	if ((limit > $(left) - 30)); then
		limit=$(($(left) - 30))
		say "run $n: hard limit cut to ${limit}s by the budget"
	fi
	train_cmd "$hidden" "$epochs" "$m" "$model"
	fact "r${n}_epochs" "$epochs"
	# the command as run, with the output directory written OUT/ and the temporary one TMP/
	local shown=${cmd[*]}
	shown=${shown//"$OUT"\//OUT/}
	fact "r${n}_cmd" "${shown//"$tmp"\//TMP/}"
	say "== run $n: $a, $epochs epochs, limit ${limit}s, $(date -u +%H:%M:%S)"
	say "   ${cmd[*]}"
	smi "$tmp/smi-$n.csv"
	local t0 t1 rc
	t0=$(now)
	timeout -k 15 "$limit" "${cmd[@]}" >>"$LOG" 2>&1 &
	local pid=$!
	monitor "$n" "$pid" "$m" "$epochs" "$t0"
	wait "$pid"
	rc=$?
	t1=$(now)
	[[ -n "$smi_pid" ]] && kill "$smi_pid" 2>/dev/null && wait "$smi_pid" 2>/dev/null
	[[ -s "$tmp/smi-$n.csv" ]] && fact "r${n}_smi" "$tmp/smi-$n.csv"
	fact "r${n}_wall" "$(secs "$t0" "$t1")"
	fact "r${n}_rc" "$rc"
	say "run $n: exit $rc after $(secs "$t0" "$t1") s wall ($(lines "$m") epochs in the metrics)"
	if ((rc != 0)); then
		summary+=("run $n ($a): exit $rc after $(secs "$t0" "$t1")s (124: stopped at the limit)")
		status=1
	else
		summary+=("run $n ($a): ok, $epochs epochs, $(secs "$t0" "$t1")s wall")
	fi
	[[ -f "$model" ]] || return 1
	# the final model, on the GPU and on the CPU (the CPU's figure does not depend on the GPU path)
	local dev extra
	for dev in $([[ "$DEVICE" == cuda ]] && echo cuda) cpu; do
		extra=()
		[[ "$dev" == cuda ]] && extra=(--precision "$PRECISION")
		[[ "$n" == 2 && "$dev" == cpu ]] && extra+=(--errors-png "$OUT/record-errors.png" --errors-max 64)
		[[ -n "${DATA:-}" ]] && extra+=(--data "$DATA")
		if stage "eval $n $dev" 90 bash -c 'to "$@"' to "$tmp/eval-$n-$dev.json" "$BIN" eval "$model" --device "$dev" --json "${extra[@]}"; then
			cat "$tmp/eval-$n-$dev.json" >>"$LOG"
			fact "r${n}_eval_$dev" "$tmp/eval-$n-$dev.json"
		fi
	done
}

# The big net first: it is the headline, so when time runs short the small one is cut, not it.
run 2 "$R2_HIDDEN" "$R2_WALL" "$R2_LIMIT" "${EPOCHS2:-}" $((R1_WALL + 40))
run 1 "$R1_HIDDEN" "$R1_WALL" "$R1_LIMIT" "${EPOCHS1:-}" 25

# --- 4. the curves and the record ----------------------------------------------------------------
plots=()
for a in "$(arch "$R1_HIDDEN")" "$(arch "$R2_HIDDEN")"; do
	[[ -s "$OUT/record-$a.jsonl" ]] && plots+=("$OUT/record-$a.jsonl")
done
if ((${#plots[@]})); then
	stage plot 60 "$BIN" plot "${plots[@]}" -o "$OUT/record.png" --title "dltrain record run: elastic MNIST, $DEVICE ($(date -u +%F))" &&
		fact plot record.png
fi
fact load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
for k in SEED BATCH LR MOMENTUM INIT VAL PRECISION WARMUP_PCT DEVICE BUDGET; do fact "$k" "${!k}"; done
fact stages "$(printf '%s; ' "${summary[@]}")"
if ! "$PYTHON" bench/record.py "$FACTS" "$OUT" | tee -a "$LOG"; then
	say "record: bench/record.py failed"
	status=1
fi
echo
echo "stages (log: $LOG):"
printf '  %s\n' "${summary[@]}"
exit "$status"
