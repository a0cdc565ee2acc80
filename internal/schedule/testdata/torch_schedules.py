# torch_schedules.py: prints the learning rate PyTorch 1.13's schedulers give each optimizer step, the
# want values of internal/schedule/schedule_test.go. Run: /usr/bin/python3 internal/schedule/testdata/torch_schedules.py
import math, warnings, torch
warnings.simplefilter("ignore")
from torch.optim.lr_scheduler import (StepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, LinearLR, SequentialLR)
SPE, EPOCHS, BASE = 7, 5, 0.1
TOTAL = SPE * EPOCHS
STEPS = [0, 1, 6, 7, 10, 13, 14, 20, 21, 27, 28, 34]
def run(name, make, per_epoch=False):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=BASE, momentum=0.9)
    s = make(opt)
    lrs = []
    for t in range(TOTAL):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if not per_epoch or (t + 1) % SPE == 0:
            s.step()
    print("\t// " + name)
    for t in STEPS:
        print("\t{%s, %d, %r}," % (name, t, lrs[t]))
run("stepP", lambda o: StepLR(o, step_size=2, gamma=0.5), per_epoch=True)
run("expP", lambda o: ExponentialLR(o, gamma=0.97), per_epoch=True)
run("cosineP", lambda o: CosineAnnealingLR(o, T_max=TOTAL, eta_min=0.001))
run("onecycleP", lambda o: OneCycleLR(o, max_lr=BASE, total_steps=TOTAL, cycle_momentum=False))
run("onecycleWarmP", lambda o: OneCycleLR(o, max_lr=BASE, total_steps=TOTAL, pct_start=2/EPOCHS, final_div_factor=(BASE/25)/1e-5, cycle_momentum=False))
W = SPE  # one epoch of warmup
run("warmP", lambda o: LinearLR(o, start_factor=1/W, end_factor=1.0, total_iters=W-1))
run("warmCosineP", lambda o: SequentialLR(o, [LinearLR(o, start_factor=1/W, end_factor=1.0, total_iters=W-1),
                                               CosineAnnealingLR(o, T_max=TOTAL-W, eta_min=0)], milestones=[W]))
