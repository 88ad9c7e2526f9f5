"""Reference values for Tapestry's recurrent cells and unroller, from PyTorch.

Run with a Python that has torch (any 2.x):

    python Tests/TapestryTests/Fixtures/Recurrent/make_fixtures.py

It writes cells.json next to this file, and lstm_cell.safetensors: the `state_dict()` of the
"lstm" case's nn.LSTMCell, which the tests load by name into an LSTMCell. For each case, a cell (nn.RNNCell with tanh, nn.RNNCell
with relu and no biases, nn.LSTMCell, nn.GRUCell, and a peephole LSTM written below with torch
primitives, since PyTorch has none) is unrolled over T steps from a random initial state, and the
loss sum_t sum(h_t * weights_t) with fixed random weights is differentiated with autograd with
respect to every parameter, the input and the initial state. Everything is float64 and seeded;
doubles are written with Python's shortest round-trip repr, so Swift reads the same numbers.
RecurrentCellTests.swift loads the parameters by their PyTorch names and matches every value and
gradient to 1e-9 relative.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
I, H, B, T = 3, 4, 2, 5

torch.manual_seed(20261121)


def stored(tensor):
    return {"shape": list(tensor.shape), "values": [float(v) for v in tensor.reshape(-1)]}


def peephole_lstm_step(p, x, state):
    """Graves (2013) LSTM with diagonal peepholes: i and f see c_{t-1}, o sees c_t."""
    h, c = state
    gates = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    gi, gf, gg, go = gates.chunk(4, dim=1)
    i = torch.sigmoid(gi + p["weight_ci"] * c)
    f = torch.sigmoid(gf + p["weight_cf"] * c)
    g = torch.tanh(gg)
    c = f * c + i * g
    o = torch.sigmoid(go + p["weight_co"] * c)
    return o * torch.tanh(c), c


def make_case(name, cell, options, peepholes=False, state_dict_file=None):
    if state_dict_file:
        save_file(cell.state_dict(), HERE / state_dict_file)
    parameters = dict(cell.named_parameters())
    if peepholes:
        bound = 1 / H**0.5
        for key in ["weight_ci", "weight_cf", "weight_co"]:
            parameters[key] = torch.empty(H, dtype=torch.float64).uniform_(-bound, bound)
            parameters[key].requires_grad_(True)
    is_lstm = isinstance(cell, torch.nn.LSTMCell) or peepholes
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True) if is_lstm else None
    weights = torch.randn(T, B, H, dtype=torch.float64)

    outputs, cell_states = [], []
    state = (h0, c0) if is_lstm else h0
    for t in range(T):
        if peepholes:
            state = peephole_lstm_step(parameters, x[t], state)
        else:
            state = cell(x[t], state)
        if is_lstm:
            outputs.append(state[0])
            cell_states.append(state[1])
        else:
            outputs.append(state)
    outputs = torch.stack(outputs)
    loss = (outputs * weights).sum()
    leaves = {"input": x, "h0": h0}
    if is_lstm:
        leaves["c0"] = c0
    leaves.update(parameters)
    gradients = torch.autograd.grad(loss, list(leaves.values()))

    case = {
        "name": name,
        "options": options,
        "parameters": {key: stored(value.detach()) for key, value in parameters.items()},
        "input": stored(x.detach()),
        "h0": stored(h0.detach()),
        "lossWeights": stored(weights),
        "outputs": stored(outputs.detach()),
        "loss": float(loss.detach()),
        "gradients": {key: stored(g) for key, g in zip(leaves, gradients)},
    }
    if is_lstm:
        case["c0"] = stored(c0.detach())
        case["cellStates"] = stored(torch.stack(cell_states).detach())
    return case


def check_peephole_reference():
    """With zero peepholes the hand-written step must be nn.LSTMCell: checks the reference."""
    cell = torch.nn.LSTMCell(I, H).double()
    p = dict(cell.named_parameters())
    for key in ["weight_ci", "weight_cf", "weight_co"]:
        p[key] = torch.zeros(H, dtype=torch.float64)
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))
    expected = cell(x, (h, c))
    actual = peephole_lstm_step(p, x, (h, c))
    assert all(torch.allclose(a, e, rtol=1e-14, atol=1e-15) for a, e in zip(actual, expected))


check_peephole_reference()
cases = [
    make_case(
        "rnn-tanh", torch.nn.RNNCell(I, H).double(), {"cell": "rnn", "nonlinearity": "tanh"}
    ),
    make_case(
        "rnn-relu-no-bias",
        torch.nn.RNNCell(I, H, bias=False, nonlinearity="relu").double(),
        {"cell": "rnn", "nonlinearity": "relu", "bias": False},
    ),
    make_case(
        "lstm",
        torch.nn.LSTMCell(I, H).double(),
        {"cell": "lstm"},
        state_dict_file="lstm_cell.safetensors",
    ),
    make_case(
        "lstm-peepholes",
        torch.nn.LSTMCell(I, H).double(),
        {"cell": "lstm", "peepholes": True},
        peepholes=True,
    ),
    make_case("gru", torch.nn.GRUCell(I, H).double(), {"cell": "gru"}),
    make_case(
        "gru-no-bias",
        torch.nn.GRUCell(I, H, bias=False).double(),
        {"cell": "gru", "bias": False},
    ),
]
fixture = {"inputSize": I, "hiddenSize": H, "batchSize": B, "steps": T, "cases": cases}
(HERE / "cells.json").write_text(json.dumps(fixture, indent=1) + "\n")
print(f"wrote {len(cases)} cases to {HERE / 'cells.json'}")
