"""Prints bench.sh's result table from the files it collected: dl.jsonl, gemm.txt, torch.json,
and the augmentation runs aug-none.jsonl, aug-elastic.jsonl and augment.txt."""
import json
import os
import re
import statistics
import sys

out, torch, rss = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(out + "/dl.jsonl")]
secs = [r["seconds"] for r in rows]
med = statistics.median(secs)
gemm = {}
for line in open(out + "/gemm.txt"):
    m = re.match(r"Benchmark(\S+?)(?:-\d+)?\s+\d+\s+\d+ ns/op\s+([\d.]+) GFLOP/s", line)
    if m:
        gemm[m.group(1)] = float(m.group(2))
peak = gemm.pop("PeakFMA", None)


def pct(xs):
    return " ".join("%.2f" % (100 * x) for x in xs) + " %"


print("\n| what | value |\n|---|---|")
print("| dltrain CPU epoch, median of %d | %.3f s (%s) |" % (len(secs), med, ", ".join("%.3f" % s for s in secs)))
print("| dltrain test accuracy per epoch | %s |" % pct(r["test_accuracy"] for r in rows))
print("| dltrain peak RSS (/usr/bin/time -v) | %.0f MB |" % (int(rss) / 1024))
if peak:
    print("| FMA peak (register-only AVX2 FMAs on every core) | %.1f GFLOP/s |" % peak)
for k, v in gemm.items():
    print("| %s | %.1f GFLOP/s%s |" % (k, v, " (%.0f%% of peak)" % (100 * v / peak) if peak else ""))
if torch:
    t = json.load(open(torch))
    print("| PyTorch %s resident epoch, median of %d (%d threads) | %.3f s |" % (t["torch"], t["epochs"], t["threads"], t["median_epoch_s"]))
    print("| PyTorch test accuracy per epoch | %s |" % pct(t["test_acc"]))
    print("| speed-up, PyTorch / dltrain | %.1fx |" % (t["median_epoch_s"] / med))

if os.path.exists(out + "/aug-none.jsonl") and os.path.exists(out + "/aug-elastic.jsonl"):
    med_aug, runs = {}, {}
    for mode in ("none", "elastic"):
        s = [json.loads(l)["seconds"] for l in open(out + "/aug-%s.jsonl" % mode)]
        runs[mode], med_aug[mode] = s, statistics.median(s)
        print("| 784-800-10 CPU epoch, --augment %s, median of %d one-epoch runs | %.3f s (%s) |"
              % (mode, len(s), med_aug[mode], ", ".join("%.3f" % x for x in s)))
    # The runs alternate (none, elastic, none, …), so each pair saw about the same load: the median of
    # the pairs' ratios is the steadier figure on a busy machine.
    pairs = [e / n for n, e in zip(runs["none"], runs["elastic"])]
    print("| augmentation overhead, elastic / none: ratio of the medians; median of the %d pairs' ratios (%s) | %+.1f %%; %+.1f %% |"
          % (len(pairs), " ".join("%.2f" % r for r in pairs), 100 * (med_aug["elastic"] / med_aug["none"] - 1),
             100 * (statistics.median(pairs) - 1)))
if os.path.exists(out + "/augment.txt"):
    for line in open(out + "/augment.txt"):
        m = re.match(r"BenchmarkGather/(\S+?)(?:-\d+)?\s+\d+\s+\d+ ns/op\s+([\d.]+) ns/image\s+([\d.]+) s/epoch", line)
        if m:
            print("| augment.Gather %s | %.0f ns/image, %.3f s per 60,000 images |" % (m.group(1), float(m.group(2)), float(m.group(3))))
