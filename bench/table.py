"""Prints bench.sh's result table from the files it collected in OUT: dl.jsonl (dltrain train),
nets.jsonl (bench/cpuepoch), gemm.txt (go test -bench), torch.json and torch800.json (PyTorch),
load0.txt and load1.txt (uptime), and the augmentation runs aug-none.jsonl, aug-elastic.jsonl and
augment.txt."""
import json
import os
import re
import statistics
import sys

out, torch, rss = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(out + "/dl.jsonl")]
secs = [r["seconds"] for r in rows]
med = statistics.median(secs)
nets = {n["net"]: n for n in (json.loads(l) for l in open(out + "/nets.jsonl"))}
gemm, gemmcpu = {}, {}
for line in open(out + "/gemm.txt"):
    m = re.match(r"Benchmark(\S+?)(?:-\d+)?\s+\d+\s+\d+ ns/op\s", line)
    g = re.search(r"\s([\d.]+) GFLOP/s", line)
    c = re.search(r"\s([\d.]+) GFLOP/CPU-s", line)
    if m and g:
        gemm[m.group(1)] = float(g.group(1))
        if c:
            gemmcpu[m.group(1)] = float(c.group(1))
peaks = {k.split("/")[1]: gemm.pop(k) for k in list(gemm) if k.startswith("PeakFMA/")}
unit = "avx512" if "avx512" in peaks else "avx2" if "avx2" in peaks else None
peak = peaks.get(unit)


def stepflops(sizes, B=100, N=60000):
    f = 0.0
    for l in range(len(sizes) - 1):
        mm = 2.0 * B * sizes[l] * sizes[l + 1]
        f += 2 * mm + (mm if l > 0 else 0)
    return f * ((N + B - 1) // B)


def pct(xs):
    return " ".join("%.2f" % (100 * x) for x in xs) + " %"


def load(name):
    s = open(os.path.join(out, name)).read()
    return s[s.index("load average:") + 14:].strip()


classic = nets.get("784-128-10/relu")
gf = stepflops([784, 128, 10]) / med / 1e9
print("\n| what | value |\n|---|---|")
print("| machine load (uptime 1/5/15 min) before, after | %s; %s |" % (load("load0.txt"), load("load1.txt")))
print("| dltrain classic epoch (784-128-10 relu, dltrain train), median of %d | %.3f s (%s) |" % (len(secs), med, ", ".join("%.3f" % s for s in secs)))
print("| dltrain test accuracy per epoch | %s |" % pct(r["test_accuracy"] for r in rows))
print("| dltrain peak RSS (/usr/bin/time -v) | %.0f MB |" % (int(rss) / 1024))
t = None
if torch:
    t = json.load(open(torch + "/torch.json"))
    print("| PyTorch %s resident epoch, median of %d (%d threads) | %.3f s |" % (t["torch"], t["epochs"], t["threads"], t["median_epoch_s"]))
    print("| PyTorch test accuracy per epoch | %s |" % pct(t["test_acc"]))
    print("| **speed-up, PyTorch / dltrain, classic epoch** | **%.1fx** |" % (t["median_epoch_s"] / med))
print("| classic step, GFLOP/s (40.9 MFLOP per step / median epoch) | %.1f GFLOP/s |" % gf)
if peak:
    print("| FMA peak of the widest unit (%s, register-only, all cores) | %.1f GFLOP/s %s|" % (unit, peak, "(avx2: %.1f) " % peaks["avx2"] if unit == "avx512" and "avx2" in peaks else ""))
    print("| **classic step / peak** | **%.0f %%** |" % (100 * gf / peak))
if classic:
    print("| **cores busy over the classic epochs' steps** (CPU time / wall; without spin-waiting) | **%.2f** (%.2f) |" % (classic["cores_busy"], classic["cores_busy_no_spin"]))
    print("| classic epoch in cpuepoch, median of %d | %.3f s, %.1f GFLOP/s |" % (len(classic["epoch_s"]), classic["median_epoch_s"], classic["step_gflops"]))
    for act in ("tanh", "sigmoid"):
        n = nets.get("784-128-10/" + act)
        if n:
            print("| **784-128-10 %s epoch / relu epoch** | %.3f s / %.3f s = **%.3f** |" % (act, n["median_epoch_s"], classic["median_epoch_s"], n["median_epoch_s"] / classic["median_epoch_s"]))
if classic and t and t.get("median_cpu_epoch_s"):
    print("| CPU time per classic epoch: dltrain (cpuepoch), PyTorch | %.3f s, %.3f s: %.1fx |" % (
        classic["median_cpu_epoch_s"], t["median_cpu_epoch_s"], t["median_cpu_epoch_s"] / classic["median_cpu_epoch_s"]))
big = nets.get("784-800-10/relu")
if big:
    print("| 784-800-10 relu epoch, median of %d | %.3f s, %.1f GFLOP/s (%s); cores busy %.2f (%.2f) |" % (
        len(big["epoch_s"]), big["median_epoch_s"], big["step_gflops"],
        "%.0f %% of peak" % (100 * big["step_gflops"] / peak) if peak else "", big["cores_busy"], big["cores_busy_no_spin"]))
    if torch and os.path.exists(torch + "/torch800.json"):
        t8 = json.load(open(torch + "/torch800.json"))
        if "median_epoch_s" in t8:
            print("| PyTorch 784-800-10 resident epoch, median of %d | %.3f s |" % (t8["epochs"], t8["median_epoch_s"]))
            print("| **speed-up, PyTorch / dltrain, 784-800-10** | **%.1fx** |" % (t8["median_epoch_s"] / big["median_epoch_s"]))
            if t8.get("median_cpu_epoch_s"):
                print("| CPU time per 784-800-10 epoch: dltrain, PyTorch | %.3f s, %.3f s: %.1fx |" % (
                    big["median_cpu_epoch_s"], t8["median_cpu_epoch_s"], t8["median_cpu_epoch_s"] / big["median_cpu_epoch_s"]))
for k, v in gemm.items():
    print("| GEMM %s | %.1f GFLOP/s%s%s |" % (k, v, " (%.0f%% of peak)" % (100 * v / peak) if peak else "",
                                            "; %.1f per CPU-second" % gemmcpu[k] if k in gemmcpu else ""))
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
