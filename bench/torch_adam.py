"""torch_adam.py: the PyTorch side of dltrain's optimizer comparison (bench/NOTES.md, "Adam against
PyTorch"). The seed's MLP (784-128-10, ReLU, CrossEntropy, Normalize(0.5, 0.5), batch 100, PyTorch's
default init), trained with a torch.optim optimizer on the whole training set, test accuracy printed
after every epoch. The data is resident and pre-normalized, batches drawn from a fresh randperm each
epoch (the last partial batch kept), as dltrain draws them; only the permutations and the initial
weights differ from dltrain's (different RNGs).

  /usr/bin/python3 bench/torch_adam.py --root DIR --optimizer adam --lr 1e-3 --epochs 5 --seed 1

DIR holds MNIST/raw/ with the four uncompressed IDX files (see bench/bench.sh). Prints one JSON line.
"""
import argparse, json, time
import torch, torch.nn as nn, torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "nesterov", "adam", "adamw"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    import torchvision
    train = torchvision.datasets.MNIST(root=a.root, train=True, download=False)
    test = torchvision.datasets.MNIST(root=a.root, train=False, download=False)
    norm = lambda ds: (ds.data.float().div_(255).sub_(0.5).div_(0.5).view(-1, 784), ds.targets)
    X, Y = norm(train)
    Xte, Yte = norm(test)
    net = Net(a.hidden)
    p, wd = net.parameters(), a.weight_decay
    opt = {"sgd": lambda: torch.optim.SGD(p, lr=a.lr, momentum=a.momentum, weight_decay=wd),
           "nesterov": lambda: torch.optim.SGD(p, lr=a.lr, momentum=a.momentum, weight_decay=wd, nesterov=True),
           "adam": lambda: torch.optim.Adam(p, lr=a.lr, weight_decay=wd),
           "adamw": lambda: torch.optim.AdamW(p, lr=a.lr, weight_decay=wd)}[a.optimizer]()
    crit = nn.CrossEntropyLoss()
    accs, losses, times = [], [], []
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        perm, tot = torch.randperm(X.shape[0]), 0.0
        for i in range(0, X.shape[0], a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = crit(net(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        times.append(time.perf_counter() - t0)
        losses.append(tot / X.shape[0])
        with torch.no_grad():
            accs.append((net(Xte).argmax(1) == Yte).float().mean().item())
        print("epoch %d  train loss %.4f  test acc %.2f%%  %.1fs" % (ep + 1, losses[-1], 100 * accs[-1], times[-1]), flush=True)
    print(json.dumps({"optimizer": a.optimizer, "lr": a.lr, "seed": a.seed, "torch": torch.__version__,
                      "train_loss": [round(l, 4) for l in losses], "test_acc": [round(x, 4) for x in accs],
                      "epoch_s": [round(t, 2) for t in times]}))


if __name__ == "__main__":
    main()
