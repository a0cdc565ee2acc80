"""A stand-in for torchvision, for bench/gpu-check.sh only: enough of torchvision.datasets.MNIST and
torchvision.transforms for ../shared/anchors/torch_mnist.py's resident and graph modes, which read the
raw IDX files into .data and .targets and never apply the transform. gpu-check.sh puts it on PYTHONPATH
only when `import torchvision` fails. It is not torchvision: no downloads, no other data sets, and its
transforms do nothing.
"""
from . import datasets, transforms  # noqa: F401
