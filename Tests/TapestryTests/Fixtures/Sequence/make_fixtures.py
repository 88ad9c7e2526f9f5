"""Reference values for Tapestry's sequence layers (RNN, LSTM, GRU), from PyTorch.

Run with a Python that has torch (any 2.x) and safetensors:

    python Tests/TapestryTests/Fixtures/Sequence/make_fixtures.py

It writes layers.json next to this file, and lstm.safetensors: the `state_dict()` of the
"lstm-2-layers-bidirectional" case's nn.LSTM, which the tests load by name into an LSTM. For each
case a module (nn.RNN, nn.LSTM or nn.GRU with the case's options) is run over a T-step batch from
a random initial state, and the loss sum(output * w) + sum(h_n * w_h) (+ sum(c_n * w_c)), with
fixed random weights, is differentiated with autograd with respect to every parameter, the input
and the initial state. The "lengths" case runs a padded batch through pack_padded_sequence and
pad_packed_sequence. Everything is float64 and seeded; doubles are written with Python's shortest
round-trip repr, so Swift reads the same numbers. SequenceLayerTests.swift loads the parameters by
their PyTorch names and matches every value and gradient to 1e-9 relative.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = Path(__file__).resolve().parent
I, H, B, T = 3, 4, 2, 5

torch.manual_seed(20261121)


def stored(tensor):
    return {"shape": list(tensor.shape), "values": [float(v) for v in tensor.reshape(-1)]}


MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def make_case(name, options, state_dict_file=None):
    kind = options["layer"]
    kwargs = {
        "num_layers": options.get("layers", 1),
        "bias": options.get("bias", True),
        "bidirectional": options.get("bidirectional", False),
        "batch_first": options.get("batchFirst", False),
    }
    if kind == "rnn":
        kwargs["nonlinearity"] = options.get("nonlinearity", "tanh")
    module = MODULES[kind](I, H, **kwargs).double()
    if state_dict_file:
        save_file(module.state_dict(), HERE / state_dict_file)
    parameters = dict(module.named_parameters())
    states = kwargs["num_layers"] * (2 if kwargs["bidirectional"] else 1)
    shape = (B, T, I) if kwargs["batch_first"] else (T, B, I)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(states, B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(states, B, H, dtype=torch.float64, requires_grad=True)
    state = (h0, c0) if kind == "lstm" else h0
    lengths = options.get("lengths")
    if lengths:
        packed = pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=kwargs["batch_first"], enforce_sorted=False
        )
        output, final = module(packed, state)
        output, _ = pad_packed_sequence(output, batch_first=kwargs["batch_first"], total_length=T)
    else:
        output, final = module(x, state)
    h_n, c_n = final if kind == "lstm" else (final, None)
    output_weights = torch.randn(output.shape, dtype=torch.float64)
    h_weights = torch.randn(h_n.shape, dtype=torch.float64)
    loss = (output * output_weights).sum() + (h_n * h_weights).sum()
    c_weights = None
    if kind == "lstm":
        c_weights = torch.randn(c_n.shape, dtype=torch.float64)
        loss = loss + (c_n * c_weights).sum()
    leaves = {"input": x, "h0": h0}
    if kind == "lstm":
        leaves["c0"] = c0
    leaves.update(parameters)
    gradients = torch.autograd.grad(loss, list(leaves.values()))

    case = {
        "name": name,
        "options": options,
        "parameters": {key: stored(value.detach()) for key, value in parameters.items()},
        "input": stored(x.detach()),
        "h0": stored(h0.detach()),
        "outputWeights": stored(output_weights),
        "hWeights": stored(h_weights),
        "outputs": stored(output.detach()),
        "hN": stored(h_n.detach()),
        "loss": float(loss.detach()),
        "gradients": {key: stored(g) for key, g in zip(leaves, gradients)},
    }
    if kind == "lstm":
        case["c0"] = stored(c0.detach())
        case["cWeights"] = stored(c_weights)
        case["cN"] = stored(c_n.detach())
    return case


cases = [
    make_case("rnn-tanh", {"layer": "rnn"}),
    make_case("rnn-relu", {"layer": "rnn", "nonlinearity": "relu"}),
    make_case("lstm", {"layer": "lstm"}),
    make_case("gru", {"layer": "gru"}),
    make_case("rnn-2-layers", {"layer": "rnn", "layers": 2}),
    make_case("lstm-2-layers", {"layer": "lstm", "layers": 2}),
    make_case("gru-bidirectional", {"layer": "gru", "bidirectional": True}),
    make_case("lstm-bidirectional", {"layer": "lstm", "bidirectional": True}),
    make_case(
        "lstm-2-layers-bidirectional",
        {"layer": "lstm", "layers": 2, "bidirectional": True},
        state_dict_file="lstm.safetensors",
    ),
    make_case("gru-2-layers-bidirectional", {"layer": "gru", "layers": 2, "bidirectional": True}),
    make_case(
        "rnn-relu-2-layers-bidirectional-batch-first",
        {"layer": "rnn", "nonlinearity": "relu", "layers": 2, "bidirectional": True,
         "batchFirst": True},
    ),
    make_case("rnn-no-bias", {"layer": "rnn", "bias": False}),
    make_case("lstm-no-bias", {"layer": "lstm", "bias": False, "layers": 2}),
    make_case("gru-no-bias", {"layer": "gru", "bias": False, "bidirectional": True}),
    make_case(
        "lstm-2-layers-bidirectional-lengths",
        {"layer": "lstm", "layers": 2, "bidirectional": True, "lengths": [3, 5]},
    ),
    make_case(
        "gru-bidirectional-batch-first-lengths",
        {"layer": "gru", "bidirectional": True, "batchFirst": True, "lengths": [5, 2]},
    ),
]
fixture = {"inputSize": I, "hiddenSize": H, "batchSize": B, "steps": T, "cases": cases}
(HERE / "layers.json").write_text(json.dumps(fixture) + "\n")
print(f"wrote {len(cases)} cases to {HERE / 'layers.json'}")
