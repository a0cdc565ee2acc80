"""torch_attack.py: the PyTorch side of dltrain's attack cross-check (bench/NOTES.md, "Attacks against
PyTorch"). It loads weights exported by `dltrain export --format safetensors` into an nn.Sequential of
Linear layers (the hidden activation given by --activation), puts the normalization (x - 0.5)/0.5
inside the model so the gradient is with respect to raw pixels, and runs its own FGSM and PGD on the
MNIST test images, in batches of --batch (dltrain attack uses 1000), on the same formulas as
internal/attack:

  FGSM  adv = clamp(x + eps * sign(grad), 0, 1)
  PGD   x = clamp(min(max(x + alpha * sign(grad), x0 - eps), x0 + eps), 0, 1), --steps times, from x0
        or (--random-start) from clamp(x0 + U(-eps, eps), 0, 1); with --restarts an image counts as
        fooled if any restart fools it

with grad the gradient of the batch's mean cross-entropy against the true labels. An image is robust
when it is classified correctly both as it is and after the attack. Random starts cannot match
dltrain's (different RNGs), so compare those statistically.

  /usr/bin/python3 bench/torch_attack.py --weights m.safetensors --data data --eps 0.1 --steps 20

--data is a directory with t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz). Prints one
JSON line per attack, and with --dump FILE also writes every image's clean and attacked prediction.
"""
import argparse, gzip, json, os, struct, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F


def read_idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            magic, n = struct.unpack(">II", raw[:8])
            if magic == 0x803:
                return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784)
            return np.frombuffer(raw, np.uint8, offset=8)
    raise FileNotFoundError(path)


def load_safetensors(path):
    raw = open(path, "rb").read()
    (hl,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + hl])
    base, out = 8 + hl, {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw, np.float32, count=(b - a) // 4, offset=base + a).copy()).view(*t["shape"])
    return out


class Normalized(nn.Module):
    """The MLP with the normalization inside: it takes raw pixels in 0..1."""

    def __init__(self, weights, activation):
        super().__init__()
        n = len([k for k in weights if k.endswith(".weight")])
        layers = []
        for l in range(1, n + 1):
            w = weights[f"fc{l}.weight"]
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            lin.bias.data.copy_(weights[f"fc{l}.bias"])
            layers.append(lin)
            if l < n:
                layers.append({"relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid()}[activation])
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net((x - 0.5) / 0.5)


GRAD64 = False


def grad_of(model, x, y):
    """The gradient of the batch's mean cross-entropy with respect to the pixels x. PyTorch's own
    backward computes softmax - onehot in float32, where p_y rounds to 1 for a confident image (its
    loss gradient on the true logit is then exactly 0, and only the other logits pull); with --grad64
    the loss gradient (softmax - onehot)/B is computed in float64 from the float32 logits and rounded
    once, as dltrain's loss op does, and backpropagated from there."""
    x = x.detach().requires_grad_(True)
    z = model(x)
    if not GRAD64:
        (g,) = torch.autograd.grad(F.cross_entropy(z, y), x)
        return g
    d = (torch.softmax(z.detach().double(), 1) - F.one_hot(y, z.shape[1]).double()) / len(y)
    (g,) = torch.autograd.grad(z, x, grad_outputs=d.float())
    return g


def fgsm(model, x0, y, eps, **_):
    return (x0 + eps * grad_of(model, x0, y).sign()).clamp(0, 1)


def pgd(model, x0, y, eps, steps, alpha, random_start, restarts, gen):
    best, fooled = None, torch.zeros(len(y), dtype=torch.bool)
    for r in range(restarts):
        x = x0.clone()
        if random_start:
            x = (x0 + torch.empty_like(x0).uniform_(-eps, eps, generator=gen)).clamp(0, 1)
        for _ in range(steps):
            x = x + alpha * grad_of(model, x, y).sign()
            x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp(0, 1)
        if restarts == 1:
            return x
        with torch.no_grad():
            now = model(x).argmax(1) != y
        take = now & ~fooled if best is not None else torch.ones_like(fooled)
        best = x.clone() if best is None else torch.where(take[:, None], x, best)
        fooled |= now
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--activation", default="relu", choices=["relu", "tanh", "sigmoid"])
    ap.add_argument("--method", default="pgd", choices=["fgsm", "pgd"])
    ap.add_argument("--eps", default="0.1")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--step-size", type=float, default=0.0)
    ap.add_argument("--random-start", action="store_true")
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("-n", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", default="")
    ap.add_argument("--grad64", action="store_true", help="the loss gradient in float64, as dltrain computes it")
    a = ap.parse_args()
    global GRAD64
    GRAD64 = a.grad64
    torch.set_num_threads(a.threads)
    model = Normalized(load_safetensors(a.weights), a.activation).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    X = torch.from_numpy(read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte")).copy()).float().div(255)
    Y = torch.from_numpy(read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte")).astype(np.int64))
    if a.n:
        X, Y = X[:a.n], Y[:a.n]
    gen = torch.Generator().manual_seed(a.seed)
    dump = {}
    for eps in [float(e) for e in a.eps.split(",")]:
        alpha = a.step_size or eps / 4
        t0 = time.perf_counter()
        clean = robust = 0
        per = torch.zeros(10)
        cnt = torch.zeros(10)
        linf = l2 = 0.0
        preds0, preds1 = [], []
        for i in range(0, len(Y), a.batch):
            x0, y = X[i:i + a.batch], Y[i:i + a.batch]
            attack = fgsm if a.method == "fgsm" else pgd
            adv = attack(model, x0, y, eps, steps=a.steps, alpha=alpha, random_start=a.random_start, restarts=a.restarts, gen=gen)
            with torch.no_grad():
                p0, p1 = model(x0).argmax(1), model(adv).argmax(1)
            ok = (p0 == y) & (p1 == y)
            clean += int((p0 == y).sum())
            robust += int(ok.sum())
            per += torch.bincount(y[ok], minlength=10).float()
            cnt += torch.bincount(y, minlength=10).float()
            d = (adv - x0).double()
            linf += float(d.abs().amax(1).sum())
            l2 += float(d.pow(2).sum(1).sqrt().sum())
            preds0 += p0.tolist()
            preds1 += p1.tolist()
        N = len(Y)
        res = {"method": a.method, "eps": eps, "steps": a.steps if a.method == "pgd" else 1, "step_size": alpha if a.method == "pgd" else eps,
               "random_start": a.random_start, "restarts": a.restarts, "n": N, "batch": a.batch,
               "clean_accuracy": clean / N, "robust_accuracy": robust / N,
               "per_class_robust_accuracy": (per / cnt).tolist(), "mean_linf": linf / N, "mean_l2": l2 / N,
               "grad64": a.grad64, "seconds": time.perf_counter() - t0, "torch": torch.__version__}
        print(json.dumps(res), flush=True)
        dump[str(eps)] = {"clean": preds0, "attacked": preds1}
    if a.dump:
        json.dump(dump, open(a.dump, "w"))


if __name__ == "__main__":
    main()
