"""Checks dltrain's exports with real Python readers (Debian's python3-torch and python3-onnx):

  1. onnx.checker.check_model(full_check=True) on the ONNX export, and its opset, IR version and
     input/output signature;
  2. the seed's PyTorch Net loads the safetensors export with load_state_dict (strict) and scores the
     10k MNIST test set; the accuracy must equal what `dltrain eval` reported.

usage: interop.py MODEL.onnx WEIGHTS.safetensors DATA_DIR EVAL.json
"""
import gzip
import json
import struct
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):  # the seed's model, as in ../shared/anchors/torch_mnist.py
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def load_safetensors(path):
    """A plain reader of the safetensors format: 8-byte header length, JSON header, raw data."""
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    hdr = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        s, e = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[s:e], dtype="<f4").reshape(t["shape"]).copy())
    return out, hdr.get("__metadata__", {})


def idx(path, images):
    with gzip.open(path, "rb") as f:
        b = f.read()
    if images:
        n = struct.unpack(">I", b[4:8])[0]
        return np.frombuffer(b[16:], dtype=np.uint8).reshape(n, 784)
    return np.frombuffer(b[8:], dtype=np.uint8)


def main():
    onnx_path, st_path, data, eval_json = sys.argv[1:5]
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m, full_check=True)
    ins = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
    outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
    print(f"onnx {onnx.__version__}: check_model(full_check=True) passed; ir_version {m.ir_version}, "
          f"opset {m.opset_import[0].version}, producer {m.producer_name}, inputs {ins}, outputs {outs}")

    sd, meta = load_safetensors(st_path)
    net = Net()
    net.load_state_dict(sd, strict=True)
    x = idx(f"{data}/t10k-images-idx3-ubyte.gz", True)
    y = idx(f"{data}/t10k-labels-idx1-ubyte.gz", False)
    xt = torch.from_numpy(x.astype(np.float32)).div_(255).sub_(0.5).div_(0.5)
    with torch.no_grad():
        pred = net(xt).argmax(1).numpy()
    acc = float((pred == y).mean())
    want = json.load(open(eval_json))["accuracy"]
    print(f"torch {torch.__version__}: the seed's Net loaded {sorted(sd)} with load_state_dict(strict=True); "
          f"test accuracy {acc:.4f}, dltrain eval {want:.4f}")
    if abs(acc - want) > 1e-9:
        sys.exit(f"accuracy differs: torch {acc} vs dltrain {want}")
    print("interop: OK")


if __name__ == "__main__":
    main()
