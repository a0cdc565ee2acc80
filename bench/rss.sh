#!/usr/bin/env bash
# bench/rss.sh: the peak memory (max RSS, /usr/bin/time -f %M) and time dltrain takes on each hostile
# input that bench/hostile writes, against the bound the readers promise: 2x the input's size + 64 MB
# (the size on disk for sparse files, which is what the input really holds), and how long an open of
# a named pipe or an endless pipe takes before it is refused (each command is cut off after 10 s, exit
# 124). BIN=path/to/another/dltrain compares another build. Run from the repository root:
#   make rss          (or: bash bench/rss.sh [DIR])
set -euo pipefail
BIN=${BIN:-bin/dltrain}
DIR=${1:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "build first: make build"; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian: apt-get install time)"; exit 1; }
go run ./bench/hostile "$DIR"
out="$DIR/out"
mkdir -p "$out"
echo "uptime: $(uptime)"
printf '%-40s %12s %12s %5s %9s %9s %7s  %s\n' input "size(MB)" "on disk(MB)" exit "RSS(MB)" "bound(MB)" "secs" "first line of stderr"
measure() { # name file -- command...
	local name=$1 file=$2; shift 3
	local size=0 disk=0
	if [ -e "$file" ]; then size=$(stat -c %s "$file"); disk=$(( $(stat -c %b "$file") * $(stat -c %B "$file") )); fi
	local t0 t1 code
	t0=$(date +%s.%N)
	set +e
	# timeout: a command that blocks (an older build on a named pipe) shows as exit 124 after 10 s.
	/usr/bin/time -f '%M' -o "$out/time" timeout 10 "$@" >"$out/stdout" 2>"$out/stderr" </dev/null
	code=$?
	set -e
	t1=$(date +%s.%N)
	local rss=$(( $(tail -1 "$out/time") / 1024 ))
	local base=$(( disk < size ? disk : size ))
	local bound=$(( (2 * base) / 1048576 + 64 ))
	local ok=""
	[ "$rss" -le "$bound" ] || ok="  OVER"
	printf '%-40s %12.1f %12.1f %5d %9d %9d %7.2f  %s%s\n' "$name" "$(echo "$size/1048576" | bc -l)" "$(echo "$disk/1048576" | bc -l)" \
		"$code" "$rss" "$bound" "$(echo "$t1 - $t0" | bc -l)" "$(head -1 "$out/stderr" | cut -c1-90)" "$ok"
}
K="--key-file $DIR/key"
measure "baseline: export good.bin" "$DIR/good.bin" -- "$BIN" export "$DIR/good.bin" -o "$out/x.onnx"
for f in ck-sparse-3g.bin ck-zeros-3g.bin ck-header-100m.bin ck-header-100m-tensors.bin; do
	measure "export $f" "$DIR/$f" -- "$BIN" export "$DIR/$f" -o "$out/x.onnx"
done
measure "export env-sparse-3g.bin (key)" "$DIR/env-sparse-3g.bin" -- "$BIN" export "$DIR/env-sparse-3g.bin" $K -o "$out/x.onnx"
measure "baseline: predict png-28x28.png" "$DIR/png-28x28.png" -- "$BIN" predict "$DIR/good.bin" "$DIR/png-28x28.png"
for f in png-12000000x1.png png-1x12000000.png png-40000000x1.png png-3400x3400-rgba.png; do
	measure "predict $f" "$DIR/$f" -- "$BIN" predict "$DIR/good.bin" "$DIR/$f"
done

# Special files: each refusal must come at once.
mkfifo "$DIR/fifo"
measure "eval --key-file FIFO" "" -- "$BIN" eval "$DIR/good.bin" --key-file "$DIR/fifo"
measure "eval FIFO" "" -- "$BIN" eval "$DIR/fifo"
measure "predict MODEL FIFO" "" -- "$BIN" predict "$DIR/good.bin" "$DIR/fifo"
measure "train --metrics FIFO (no reader)" "" -- "$BIN" train --device cpu --data /nonexistent -o "$out/m.bin" --metrics "$DIR/fifo"
# (an older build reads an endless pipe until memory runs out: SKIP_ENDLESS=1 leaves this one out)
[ -n "${SKIP_ENDLESS:-}" ] || measure "eval --key-file <(yes) (endless pipe)" "" -- bash -c "exec $BIN eval $DIR/good.bin --key-file <(yes)"
measure "eval --key-file /dev/zero" "" -- "$BIN" eval "$DIR/good.bin" --key-file /dev/zero
echo "inputs in $DIR"
