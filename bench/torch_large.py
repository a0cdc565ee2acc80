"""PyTorch's side of dltrain's large-batch benchmark (bench/gpu-check.sh): the 784-4096-4096-10 ReLU MLP
trained with SGD (lr 0.01, momentum 0.9) and cross-entropy at batch 4096 on MNIST held on the GPU, timed
per step in FP32 and in TF32 (torch.backends.cuda.matmul.allow_tf32), eager, as dltrain's report times
its own step (30 steps after 3 warm-up steps, synchronized). It is not a training run: nothing is
evaluated. Prints one JSON line last:
  {"torch": ..., "device": ..., "fp32": {"step_ms", "samples_per_s", "tflops"}, "tf32": {...}}

    python3 bench/torch_large.py --data DIR     # DIR holds MNIST's train-images-idx3-ubyte[.gz] and labels
"""
import argparse, gzip, json, os, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")) as f:
                data = f.read()
            ndim = data[3]
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise FileNotFoundError(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to smoke-test this script")
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    x = torch.from_numpy(idx(os.path.join(a.data, "train-images-idx3-ubyte")).copy()).to(dev)
    y = torch.from_numpy(idx(os.path.join(a.data, "train-labels-idx1-ubyte")).copy()).to(dev).long()
    x = x.float().div_(255).sub_(0.5).div_(0.5).view(-1, 784)
    n, B = x.shape[0], a.batch
    sizes = [784, 4096, 4096, 10]
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    out = {"torch": torch.__version__, "device": name, "batch": B}
    # Forward and the weight gradient cost 2*B*C*OC each per layer; the input gradient too, except for
    # the first layer (dltrain's count).
    flops = sum((4 + (2 if l > 0 else 0)) * B * sizes[l] * sizes[l + 1] for l in range(3))
    for mode in ("fp32", "tf32"):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.manual_seed(1)
        net = nn.Sequential(nn.Linear(784, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10)).to(dev)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step(i):
            s = (i * B) % (n - B)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[s:s + B]), y[s:s + B]).backward()
            opt.step()

        for i in range(3):
            step(i)
        sync()
        t0 = time.perf_counter()
        for i in range(a.steps):
            step(i)
        sync()
        per = (time.perf_counter() - t0) / a.steps
        out[mode] = {"step_ms": round(1000 * per, 3), "samples_per_s": round(B / per), "tflops": round(flops / per / 1e12, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
