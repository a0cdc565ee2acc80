# torch_optim.py: three steps of PyTorch 1.13's optimizers in float64 on fixed parameters and
# gradients, printed as Go literals for TestOptimizersMatchPyTorch (internal/ref/ref_test.go).
# Run: /usr/bin/python3 internal/ref/testdata/torch_optim.py
import torch
torch.set_default_dtype(torch.float64)
P0 = [0.5, -1.5, 2.0, 0.0]
G = [[0.1, -0.2, 0.3, 0.0], [-0.4, 0.05, 0.2, 1e-3], [0.3, 0.3, -0.1, -2.0]]
cases = [
    ("sgd", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01), ["momentum_buffer"]),
    ("sgd-nomomentum", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0, weight_decay=0.01), []),
    ("nesterov", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True), ["momentum_buffer"]),
    ("adam", lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), ["exp_avg", "exp_avg_sq"]),
    ("adamw", lambda p: torch.optim.AdamW([p], lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), ["exp_avg", "exp_avg_sq"]),
]
for name, make, state in cases:
    p = torch.nn.Parameter(torch.tensor(P0))
    opt = make(p)
    for g in G:
        p.grad = torch.tensor(g)
        opt.step()
    vals = [p.detach().tolist()] + [opt.state[p][k].tolist() for k in state]
    print('\t"%s": {%s},' % (name, ", ".join("{" + ", ".join(repr(x) for x in v) + "}" for v in vals)))
