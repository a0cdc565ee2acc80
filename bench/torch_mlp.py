"""The PyTorch anchor (../shared/anchors/torch_mnist.py) with a configurable net: --hidden 800 gives
the 784-800-10 MLP of the augmentation recipe, --act tanh or sigmoid the other activations. It
loads the anchor and replaces only its Net class, so the timing loop is the anchor's own; every
other flag goes to the anchor unchanged. Used by bench/bench.sh; the shared anchor is not edited.

    /usr/bin/python3 bench/torch_mlp.py --anchor ../shared/anchors/torch_mnist.py --hidden 800 \\
        --root DIR --mode resident --epochs 3
"""
import argparse
import importlib.util
import sys

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


anchor.Net = Net
sys.argv = [a.anchor] + rest
anchor.main()
