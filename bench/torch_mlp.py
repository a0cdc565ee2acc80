"""The PyTorch anchor (../shared/anchors/torch_mnist.py) with a configurable net, and the CPU time
of each epoch beside its wall time. --hidden 800 gives the 784-800-10 MLP of the augmentation
recipe, --act tanh or sigmoid the other activations; the defaults (128, relu) are the anchor's own
Net, layer for layer, so they train identically. It loads the anchor, replaces its Net class and
the clock its timing loop reads, and runs the anchor's main with every other flag unchanged. Used by
bench/bench.sh; the shared anchor is not edited.

The anchor prints one JSON line last; this prints it again with two more keys: cpu_epoch_s, the
process's CPU time (all threads, user + system) between the same two clock readings that time each
epoch, and median_cpu_epoch_s. On a shared machine the CPU time moves much less with the load than
the wall time does.

    /usr/bin/python3 bench/torch_mlp.py --anchor ../shared/anchors/torch_mnist.py --hidden 800 \\
        --root DIR --mode resident --epochs 3
"""
import argparse
import contextlib
import importlib.util
import io
import json
import resource
import sys
import time

import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser(add_help=False)
ap.add_argument("--anchor", required=True)
ap.add_argument("--hidden", type=int, default=128)
ap.add_argument("--act", default="relu", choices=["relu", "tanh", "sigmoid"])
a, rest = ap.parse_known_args()

spec = importlib.util.spec_from_file_location("torch_mnist", a.anchor)
anchor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(anchor)
act = {"relu": F.relu, "tanh": "tanh", "sigmoid": "sigmoid"}[a.act]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, a.hidden)
        self.fc2 = nn.Linear(a.hidden, 10)

    def forward(self, x):
        h = self.fc1(x)
        h = act(h) if callable(act) else getattr(h, act)()
        return self.fc2(h)


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Clock:
    """Stands in for the anchor's `time` module: perf_counter is the real one, and each reading
    also notes the CPU time. The anchor reads it twice per epoch, at the start and at the end."""

    def __init__(self):
        self.cpu = []

    def perf_counter(self):
        self.cpu.append(cpu_seconds())
        return time.perf_counter()

    def __getattr__(self, name):
        return getattr(time, name)


clock = Clock()
anchor.Net = Net
anchor.time = clock
sys.argv = [a.anchor] + rest
out = io.StringIO()
with contextlib.redirect_stdout(out):
    anchor.main()
lines = out.getvalue().splitlines()
sys.stdout.write("\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else ""))
res = json.loads(lines[-1])
cpu = [round(clock.cpu[2 * i + 1] - clock.cpu[2 * i], 4) for i in range(len(clock.cpu) // 2)]
res["cpu_epoch_s"] = cpu
res["median_cpu_epoch_s"] = sorted(cpu)[len(cpu) // 2] if cpu else None
print(json.dumps(res))
