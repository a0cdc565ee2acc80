#!/usr/bin/env python3
"""Writes the record of `make record` (bench/record.sh) as OUT/record.md and prints its summary.

    python3 bench/record.py FACTS OUT

FACTS is the key=value file record.sh collects (host, commands, wall times, exit codes, the paths of
the eval JSON, nvidia-smi samples and throughput table); the per-epoch metrics are read from OUT.
It only formats what the run measured: a figure that is missing is written as "not measured", never
estimated. It is not a checker of the GPU path: record.sh's eval on the CPU is that.
"""
import json
import os
import statistics
import sys

# Cireşan, Meier, Gambardella, Schmidhuber (2010), Neural Computation 22(12): test error of plain
# MLPs trained by online back-propagation on elastically and affinely deformed MNIST, learning rate
# falling from 1e-3 to 1e-6, up to 800 epochs, on a GTX 280 (bench/NOTES.md and shared/design.md).
PAPER = {
    "784-1000-500-10": 0.49,
    "784-1500-1000-500-10": 0.46,
    "784-2000-1500-1000-500-10": 0.41,
    "784-2500-2000-1500-1000-500-10": 0.35,
}
# Issue 18's targets: test error (%) and, for the big net, the wall time of the whole process (s).
TARGET = {
    "784-1000-500-10": (0.55, None),
    "784-2500-2000-1500-1000-500-10": (0.45, 300.0),
}


def read_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                facts[k] = v
    return facts


def read_json(path):
    try:
        with open(path) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def read_metrics(path):
    rows = {}
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    rows[r["epoch"]] = r  # a repeated epoch: the last line counts, as dltrain plot does
    except (OSError, ValueError):
        return []
    return [rows[e] for e in sorted(rows)]


def sizes(arch):
    return [int(x) for x in arch.split("-")]


def params(arch):
    s = sizes(arch)
    return sum(a * b + b for a, b in zip(s, s[1:]))


def train_flops(arch):
    """Arithmetic of one training sample: 6·C·OC per layer, 4·C·OC for the first (no input gradient)."""
    s = sizes(arch)
    return sum((4 if i == 0 else 6) * a * b for i, (a, b) in enumerate(zip(s, s[1:])))


def pct(x):
    return "%.2f %%" % x


def err(acc):
    return None if acc is None else 100.0 * (1.0 - acc)


def smi_summary(path):
    """nvidia-smi samples: utilization %, SM clock MHz, power W, memory used MiB, temperature C."""
    rows = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    rows.append([float(x) for x in line.split(",")])
                except ValueError:
                    pass
    except OSError:
        return None
    if not rows:
        return None
    col = list(zip(*rows))
    return ("%d samples (every 5 s): utilization mean %.0f %% (min %.0f), SM clock %.0f-%.0f MHz, "
            "power mean %.0f W (max %.0f), memory used max %.0f MiB, temperature max %.0f C" % (
                len(rows), statistics.mean(col[0]), min(col[0]), min(col[1]), max(col[1]),
                statistics.mean(col[2]), max(col[2]), max(col[3]), max(col[4])))


def sgemm_rate(gemm_md):
    """The fp32 4096³ SGEMM rate (TFLOP/s) the throughput table printed, or None."""
    if not gemm_md:
        return None
    for line in gemm_md.splitlines():
        if line.startswith("SGEMM 4096") and "fp32" in line:
            try:
                return float(line.rsplit(":", 1)[1].split()[0])
            except (IndexError, ValueError):
                return None
    return None


def main():
    facts, out = read_facts(sys.argv[1]), sys.argv[2]
    dry = facts.get("dry") == "1"
    gemm_md = None
    if facts.get("gemm"):
        try:
            gemm_md = open(facts["gemm"]).read()
        except OSError:
            pass
    ref = sgemm_rate(gemm_md)
    runs = []
    for n in ("1", "2"):
        arch = facts.get("r%s_arch" % n)
        if not arch:
            continue
        r = {"n": n, "arch": arch, "rows": read_metrics(os.path.join(out, facts.get("r%s_metrics" % n, "")))}
        for k in ("cmd", "epochs", "epochs_how", "pilot", "wall", "rc", "limit", "wall_target", "smi"):
            r[k] = facts.get("r%s_%s" % (n, k))
        r["eval_cuda"] = read_json(facts["r%s_eval_cuda" % n]) if facts.get("r%s_eval_cuda" % n) else None
        r["eval_cpu"] = read_json(facts["r%s_eval_cpu" % n]) if facts.get("r%s_eval_cpu" % n) else None
        runs.append(r)

    L = []
    w = L.append
    card = facts.get("gpu", "").split(",")[0].strip() or "CPU"
    title = "DRY RUN on the CPU at toy size (a test of `make record`'s pipeline, not a record)" if dry else card
    w("# dltrain record run (issue 18): %s, %s" % (title, facts.get("date", "?")))
    w("")
    if dry:
        w("> **Dry run.** `bash bench/record.sh --dry-run`: the record's pipeline (build, timing pilot, "
          "training with `--metrics`, eval on every device, plot, this file) on the CPU with toy nets. "
          "Its errors say nothing about the recipe; only a CUDA run of `make record` makes a record.")
        w("")

    # --- the result against the paper
    w("## Result")
    w("")
    w("| net | Cireşan et al. 2010 (GTX 280, online SGD, up to 800 epochs) | target | dltrain: final model's test error | epochs | wall, whole process | target met |")
    w("|---|---|---|---|---|---|---|")
    for r in runs:
        e_cpu = err(r["eval_cpu"]["accuracy"]) if r["eval_cpu"] else None
        e_gpu = err(r["eval_cuda"]["accuracy"]) if r["eval_cuda"] else None
        e = e_cpu if e_cpu is not None else e_gpu
        cell = "not measured"
        if e is not None:
            cell = "**%s**" % pct(e)
            if e_cpu is not None and e_gpu is not None:
                cell += " (eval on the CPU; on the GPU %s)" % pct(e_gpu)
        paper = pct(PAPER[r["arch"]]) if r["arch"] in PAPER else "—"
        tgt, tw = TARGET.get(r["arch"], (None, None))
        ts = "—" if tgt is None or dry else ("≤ %s" % pct(tgt)) + ("" if tw is None else " in ≤ %.0f s" % tw)
        wall = r["wall"] and "%.1f s" % float(r["wall"]) or "not measured"
        done = len(r["rows"])
        ep = "%d of %s" % (done, r["epochs"] or "none run") if str(done) != str(r["epochs"]) else str(done)
        met = "n/a (dry run)" if dry else "—"
        if not dry and tgt is not None:
            ok = e is not None and e <= tgt + 1e-9 and r["rc"] == "0"
            if tw is not None:
                ok = ok and r["wall"] is not None and float(r["wall"]) <= tw
            met = "**yes**" if ok else "**no**"
        w("| %s | %s | %s | %s | %s | %s | %s |" % (r["arch"], paper, ts, cell, ep, wall, met))
    w("")
    w("The paper's other nets, for scale: " + ", ".join("%s %s" % (a, pct(v)) for a, v in PAPER.items()) +
      " (784-800-10 with elastic distortions: 0.70 %, Simard et al. 2003). The error is the final model's "
      "(the last epoch's weights, evaluated with `dltrain eval` on the CPU, the reference path, and on the "
      "GPU); nothing was chosen on the test set, and the validation images are held out of training and only watched.")
    w("")

    # --- the setting
    w("## Setting")
    w("")
    w("| what | value |")
    w("|---|---|")
    w("| date | %s |" % facts.get("date", "?"))
    if not dry:
        w("| card (name, driver, memory, max SM clock, power limit) | %s |" % facts.get("gpu", "not read"))
        w("| CUDA toolkit, cuBLAS | %s, %s |" % (facts.get("cuda", "?"), facts.get("cublas", "?")))
        w("| fused step (DLTRAIN_CUDA_FUSE) | %s |" % facts.get("fuse", "?"))
    w("| commit | %s (source digest %s: `bash bench/record.sh --digest` on a checkout prints the same when its sources are these) |" % (
        facts.get("commit", "?"), facts.get("digest", "?")))
    w("| host | %s, %s cores, %s |" % (facts.get("host_cpu", "?"), facts.get("host_cores", "?"), facts.get("go", "?")))
    w("| load average at start, at end | %s; %s |" % (facts.get("load_start", "?"), facts.get("load_end", "?")))
    w("| recipe | ReLU, cross-entropy, `--init %s`, SGD momentum %s, batch %s, lr %s with a linear warmup over %s %% of the epochs (at least one), then cosine to 0 (`--lr-schedule cosine`), `--augment elastic` with the default ranges (±15°, scale ±0.15, shear ±0.15, shift ±2 px, σ 6, α 36), `--val-split %s` (watched, never used to choose), seed %s, %s on `--device %s` |" % (
        facts.get("INIT"), facts.get("MOMENTUM"), facts.get("BATCH"), facts.get("LR"), facts.get("WARMUP_PCT"),
        facts.get("VAL"), facts.get("SEED"), facts.get("PRECISION") if not dry else "fp32", facts.get("DEVICE")))
    w("| build | %s s |" % facts.get("build_secs", "?"))
    w("")
    w("## Commands")
    w("")
    w("`make record` (`bench/record.sh`) ran, after a timing pilot per run (the same command with a large "
      "`--epochs`, stopped after a few epochs; it measures the process's start and an epoch's wall time, "
      "and the run gets as many epochs as fit its wall-time target):")
    w("")
    w("```sh")
    for r in runs:
        if r["cmd"]:
            w(r["cmd"])
    w("```")
    w("")
    w("OUT/ is the directory the record was written to (its per-epoch metrics files sit beside this file), "
      "TMP/ a temporary directory, removed after the run, that held the checkpoints; the data were the four "
      "official MNIST files in `%s` (`--data`, else `$DLTRAIN_DATA`, else `./data`), checked against their SHA-256 on loading." % facts.get("data", "?"))
    w("")

    # --- each run
    for r in runs:
        rows = r["rows"]
        w("## Run %s: %s (%s parameters)" % (r["n"], r["arch"], format(params(r["arch"]), ",")))
        w("")
        w("| what | value |")
        w("|---|---|")
        w("| epochs | %s (%s) |" % (r["epochs"] or "?", r["epochs_how"] or "?"))
        if r["pilot"]:
            w("| timing pilot | %s |" % r["pilot"])
        w("| wall time of the whole process (start, data, training, saving) | %s (target %s s, hard limit %s s) |" % (
            r["wall"] and "%.1f s" % float(r["wall"]) or "not measured", r["wall_target"], r["limit"]))
        w("| exit status | %s%s |" % (r["rc"], " (124: stopped by the time limit, the model of its last step saved and evaluated)" if r["rc"] == "124" else ""))
        if rows:
            last = rows[-1]
            secs = [x["seconds"] for x in rows[1:]] or [rows[0]["seconds"]]
            sps = [x["samples_per_second"] for x in rows[1:]] or [rows[0]["samples_per_second"]]
            w("| last epoch: train loss, accuracy (on deformed images) | %.4f, %s |" % (last["train_loss"], pct(100 * last["train_accuracy"])))
            if last.get("val_accuracy") is not None:
                best = max(rows, key=lambda x: (x["val_accuracy"], -x["val_loss"]))
                w("| last epoch: validation accuracy; best (epoch) | %s; %s (%d) |" % (
                    pct(100 * last["val_accuracy"]), pct(100 * best["val_accuracy"]), best["epoch"]))
            w("| last epoch: test error as training measured it | %s |" % pct(err(last["test_accuracy"])))
            w("| an epoch's training steps (trainer's seconds, median of epochs 2..) | %.3f s, %s samples/s |" % (
                statistics.median(secs), format(int(statistics.median(sps)), ",")))
            tf = statistics.median(sps) * train_flops(r["arch"]) / 1e12
            rel = " = %.0f %% of this card's 4096³ SGEMM (%.1f TFLOP/s, throughput table below)" % (100 * tf / ref, ref) if ref else ""
            w("| the steps' arithmetic rate (6·C·OC per layer and sample, 4 for the first) | %.2f TFLOP/s%s |" % (tf, rel))
            if r["wall"]:
                w("| wall time per epoch, whole process / epochs | %.3f s |" % (float(r["wall"]) / len(rows)))
        for dev in ("cuda", "cpu"):
            ev = r["eval_" + dev]
            if ev:
                wrong = ev["n"] - round(ev["accuracy"] * ev["n"])
                w("| `dltrain eval` on the %s | %s test error (%d of %d wrong), loss %.4f |" % (
                    "GPU" if dev == "cuda" else "CPU", pct(err(ev["accuracy"])), wrong, ev["n"], ev["loss"] if ev["loss"] is not None else float("nan")))
        if r["smi"]:
            s = smi_summary(r["smi"])
            if s:
                w("| the card during the run (nvidia-smi) | %s |" % s)
        w("")
        if rows:
            k = max(1, len(rows) // 10)
            pick = [x for x in rows if x["epoch"] % k == 0 or x["epoch"] in (1, rows[-1]["epoch"])]
            w("| epoch | lr | train loss | train accuracy | validation accuracy | best validation so far | test error |")
            w("|---|---|---|---|---|---|---|")
            best = None
            for x in rows:
                if x.get("val_accuracy") is not None and (best is None or x["val_accuracy"] > best["val_accuracy"]):
                    best = x
                x["_best"] = best
            for x in pick:
                b = x["_best"]
                w("| %d | %.3g | %.4f | %s | %s | %s | %s |" % (
                    x["epoch"], x["lr"], x["train_loss"], pct(100 * x["train_accuracy"]),
                    pct(100 * x["val_accuracy"]) if x.get("val_accuracy") is not None else "—",
                    "%s (%d)" % (pct(100 * b["val_accuracy"]), b["epoch"]) if b else "—",
                    pct(err(x["test_accuracy"]))))
            w("")
            w("Every epoch: `%s` (per-epoch metrics, the README's format). " % facts.get("r%s_metrics" % r["n"]))
            w("")
    if facts.get("plot"):
        w("![loss and accuracy per epoch of both runs](record.png)")
        w("")
    if gemm_md:
        w("## Throughput of the record's steps and GEMMs (TestGPURecordThroughput)")
        w("")
        w(gemm_md.strip())
        w("")
    w("## Stages")
    w("")
    for s in facts.get("stages", "").split("; "):
        if s.strip():
            w("- " + s.strip())
    w("")
    with open(os.path.join(out, "record.md"), "w") as f:
        f.write("\n".join(L))

    # --- the summary, printed last
    print()
    print("record: %s" % ("DRY RUN (CPU, toy nets): not a record" if dry else card))
    print("%-34s %8s %8s %10s %9s %8s" % ("net", "paper", "target", "test err", "wall", "epochs"))
    for r in runs:
        ev = r["eval_cpu"] or r["eval_cuda"]
        e = pct(err(ev["accuracy"])) if ev else "-"
        tgt, tw = TARGET.get(r["arch"], (None, None))
        print("%-34s %8s %8s %10s %9s %8s" % (
            r["arch"], pct(PAPER[r["arch"]]) if r["arch"] in PAPER else "-", "-" if tgt is None or dry else pct(tgt), e,
            r["wall"] and "%.1f s" % float(r["wall"]) or "-", "%d/%s" % (len(r["rows"]), r["epochs"] or "-")))
    print("record written to %s" % os.path.join(out, "record.md"))


if __name__ == "__main__":
    main()
