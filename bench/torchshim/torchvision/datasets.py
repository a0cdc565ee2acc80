"""torchvision.datasets.MNIST as the resident and graph modes of torch_mnist.py use it (see __init__.py)."""
import gzip
import os

import numpy as np
import torch


def _idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")) as f:
                data = f.read()
            ndim = data[3]
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()
    raise FileNotFoundError(path)


class MNIST:
    def __init__(self, root, train=True, download=False, transform=None):
        raw = os.path.join(root, "MNIST", "raw")
        prefix = "train" if train else "t10k"
        self.data = torch.from_numpy(_idx(os.path.join(raw, prefix + "-images-idx3-ubyte")))
        self.targets = torch.from_numpy(_idx(os.path.join(raw, prefix + "-labels-idx1-ubyte"))).long()
        self.transform = transform

    def __len__(self):
        return len(self.targets)
