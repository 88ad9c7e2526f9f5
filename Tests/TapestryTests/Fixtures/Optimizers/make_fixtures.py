"""Reference values for Tapestry's optimisers, learning-rate schedules and gradient clipping,
from PyTorch.

Run from anywhere with a Python that has torch (any 2.x):

    python Tests/TapestryTests/Fixtures/Optimizers/make_fixtures.py

It writes optimizers.json, schedules.json and clipping.json next to this file. Everything is
float64 and seeded, so the output is the same on every run. The Swift tests (OptimizerTests.swift
and ClippingTests.swift) replay the stored gradients through Tapestry and compare every step to
1e-10.

Option names are Tapestry's initialiser labels, so the tests pass them straight through.
"""

import json
import math
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
STEPS = 10
SHAPES = [[3, 2], [2]]

torch.manual_seed(20261121)
INITIAL = [torch.randn(shape, dtype=torch.float64) for shape in SHAPES]
GRADIENTS = [
    [torch.randn(shape, dtype=torch.float64) for shape in SHAPES] for _ in range(STEPS)
]

# (case name, Tapestry optimiser, Tapestry options, PyTorch constructor)
OPTIMIZER_CASES = [
    ("sgd", "SGD", {"learningRate": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),
    (
        "sgd-momentum",
        "SGD",
        {"learningRate": 0.1, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    ),
    (
        "sgd-momentum-dampening-decay",
        "SGD",
        {"learningRate": 0.05, "momentum": 0.8, "dampening": 0.3, "weightDecay": 0.01},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    ),
    (
        "sgd-nesterov",
        "SGD",
        {"learningRate": 0.1, "momentum": 0.9, "nesterov": 1, "weightDecay": 0.001},
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.001),
    ),
    ("adam", "Adam", {}, lambda p: torch.optim.Adam(p)),
    (
        "adam-lr-betas-decay",
        "Adam",
        {"learningRate": 0.05, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6, "weightDecay": 0.1},
        lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
    ),
    (
        "adam-amsgrad",
        "Adam",
        {"learningRate": 0.05, "amsgrad": 1},
        lambda p: torch.optim.Adam(p, lr=0.05, amsgrad=True),
    ),
    ("adamw", "AdamW", {}, lambda p: torch.optim.AdamW(p)),
    (
        "adamw-decay-amsgrad",
        "AdamW",
        {"learningRate": 0.05, "weightDecay": 0.5, "amsgrad": 1},
        lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.5, amsgrad=True),
    ),
    ("rmsprop", "RMSprop", {}, lambda p: torch.optim.RMSprop(p)),
    (
        "rmsprop-centered-momentum-decay",
        "RMSprop",
        {"learningRate": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": 1, "weightDecay": 0.1},
        lambda p: torch.optim.RMSprop(
            p, lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1
        ),
    ),
    (
        "rmsprop-centered",
        "RMSprop",
        {"learningRate": 0.001, "epsilon": 1e-4, "centered": 1},
        lambda p: torch.optim.RMSprop(p, lr=0.001, eps=1e-4, centered=True),
    ),
    ("adagrad", "Adagrad", {}, lambda p: torch.optim.Adagrad(p)),
    (
        "adagrad-decay-accumulator",
        "Adagrad",
        {
            "learningRate": 0.1,
            "learningRateDecay": 0.05,
            "initialAccumulatorValue": 0.5,
            "weightDecay": 0.02,
            "epsilon": 1e-6,
        },
        lambda p: torch.optim.Adagrad(
            p, lr=0.1, lr_decay=0.05, initial_accumulator_value=0.5, weight_decay=0.02, eps=1e-6
        ),
    ),
]


def flat(tensor):
    return tensor.detach().reshape(-1).tolist()


def trajectory(make):
    params = [t.clone().requires_grad_(True) for t in INITIAL]
    optimizer = make(params)
    # The single-tensor loop is the reference implementation the documented formulas describe.
    for group in optimizer.param_groups:
        group["foreach"] = False
    steps = []
    for grads in GRADIENTS:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
        steps.append([flat(p) for p in params])
    return steps


def tensor_json(t):
    return {"shape": list(t.shape), "values": flat(t)}


optimizers = {
    "initial": [tensor_json(t) for t in INITIAL],
    "gradients": [[tensor_json(g) for g in grads] for grads in GRADIENTS],
    "cases": [
        {"name": name, "optimizer": kind, "options": options, "trajectory": trajectory(make)}
        for name, kind, options, make in OPTIMIZER_CASES
    ],
}

EPOCHS = 25
BASE_LR = 0.1
S = torch.optim.lr_scheduler


def warmup_then(inner_make, steps, start_factor):
    def make(opt):
        warm = S.LinearLR(opt, start_factor=start_factor, end_factor=1.0, total_iters=steps)
        return S.SequentialLR(opt, [warm, inner_make(opt)], milestones=[steps])

    return make


SCHEDULE_CASES = [
    ("step", {"stepSize": 7, "gamma": 0.5}, lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
    ("exponential", {"gamma": 0.9}, lambda o: S.ExponentialLR(o, gamma=0.9)),
    ("cosine", {"tMax": 10, "etaMin": 0.001}, lambda o: S.CosineAnnealingLR(o, 10, 0.001)),
    (
        "warmup-constant",
        {"warmupSteps": 5, "startFactor": 0.2},
        lambda o: S.LinearLR(o, start_factor=0.2, end_factor=1.0, total_iters=5),
    ),
    (
        "warmup-cosine",
        {"warmupSteps": 4, "startFactor": 0.25, "tMax": 12, "etaMin": 0.0},
        warmup_then(lambda o: S.CosineAnnealingLR(o, 12, 0.0), 4, 0.25),
    ),
]


def rates(make):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=BASE_LR)
    scheduler = make(opt)
    values = []
    for _ in range(EPOCHS):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return values


schedules = {
    "baseLearningRate": BASE_LR,
    "cases": [
        {"name": name, "options": options, "rates": rates(make)}
        for name, options, make in SCHEDULE_CASES
    ],
}

# The recursive forms PyTorch steps by should agree with the closed forms Tapestry uses.
cosine = schedules["cases"][2]["rates"]
assert all(
    math.isclose(r, 0.001 + (BASE_LR - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2, abs_tol=1e-12)
    for e, r in enumerate(cosine[:11])
)



def clipped(norm_type, max_norm):
    grads = [g.clone() for g in GRADIENTS[0]]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    return {
        "normType": "inf" if math.isinf(norm_type) else norm_type,
        "maxNorm": max_norm,
        "norm": total.item(),
        "gradients": [flat(p.grad) for p in params],
    }


clipping = {
    "gradients": [tensor_json(g) for g in GRADIENTS[0]],
    "globalNorm": [clipped(2.0, 1.0), clipped(1.0, 2.5), clipped(math.inf, 0.5), clipped(2.0, 100)],
}

for name, content in [
    ("optimizers.json", optimizers),
    ("schedules.json", schedules),
    ("clipping.json", clipping),
]:
    (HERE / name).write_text(json.dumps(content, indent=1) + "\n")
    print("wrote", HERE / name)
