"""Makes and checks the safetensors fixtures of SafetensorsTests.swift.

Run from anywhere with a Python that has torch and safetensors:

    python Tests/TapestryTests/Fixtures/Safetensors/make_fixtures.py

It writes, next to itself:
  torch_model.safetensors  `save_file(model.state_dict())` of TinyNet below, whose parameter
                           names match the Tapestry test model (layer.weight, blocks.0.bias, ...)
  torch_model.json         the expected values: {name: {"shape": [...], "values": [...]}}
  float16.safetensors,     half-precision tensors (special values included), and the values
  bfloat16.safetensors     torch widens them to, as float32 bit patterns in float16.json and
                           bfloat16.json ({name: {"shape": [...], "float32_bits": [...]}})

and checks the other direction: tapestry_float32.safetensors and tapestry_float64.safetensors
(written by Tapestry; the Swift test re-writes them and compares bytes) load with `load_file` to
the values the Swift test wrote, and `safetensors.torch.save` of those values gives the same bytes.
"""

import json
import pathlib
import struct

import torch
from safetensors.torch import load_file, save, save_file

HERE = pathlib.Path(__file__).resolve().parent


class TinyNet(torch.nn.Module):
    """Names: layer.{weight,bias}, blocks.0.{weight,bias}, scale (frozen, still in state_dict)."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2)])
        self.scale = torch.nn.Parameter(torch.randn(2), requires_grad=False)


def float32_bits(tensor):
    return [struct.unpack("<I", struct.pack("<f", x))[0] for x in tensor.float().flatten().tolist()]


def write_json(name, content):
    (HERE / name).write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")


def make_torch_model():
    torch.manual_seed(0)
    model = TinyNet()
    state = model.state_dict()
    save_file(state, HERE / "torch_model.safetensors")
    write_json(
        "torch_model.json",
        {
            name: {"shape": list(t.shape), "values": t.flatten().tolist()}
            for name, t in state.items()
        },
    )


def make_half(dtype, file_stem):
    special = torch.tensor(
        [0.0, -0.0, 1.0, -2.5, 0.1, 65504.0, 6.103515625e-05, 5.960464477539063e-08,
         1e-40, 3.0e38, float("inf"), float("-inf"), float("nan")],
        dtype=torch.float32,
    ).to(dtype)
    torch.manual_seed(1)
    tensors = {"special": special, "random": torch.randn(2, 3).to(dtype)}
    save_file(tensors, HERE / f"{file_stem}.safetensors")
    write_json(
        f"{file_stem}.json",
        {name: {"shape": list(t.shape), "float32_bits": float32_bits(t)}
         for name, t in tensors.items()},
    )


def tapestry_values(dtype):
    """The tensors the Swift test writes: element i of each is i * 0.25 - 1."""

    def ramp(*shape):
        count = 1
        for size in shape:
            count *= size
        return (torch.arange(count, dtype=dtype) * 0.25 - 1).reshape(shape)

    return {
        "encoder.weight": ramp(2, 3),
        "encoder.bias": ramp(3),
        "step": torch.tensor(7, dtype=dtype),
        "empty": ramp(0, 2),
    }


def check_tapestry_file(dtype, file_stem):
    path = HERE / f"{file_stem}.safetensors"
    if not path.exists():
        print(f"{path.name} missing: run the Swift tests with TAPESTRY_RECORD_FIXTURES=1")
        return
    loaded = load_file(path)
    expected = tapestry_values(dtype)
    assert loaded.keys() == expected.keys(), (loaded.keys(), expected.keys())
    for name, tensor in expected.items():
        assert loaded[name].dtype == dtype, (name, loaded[name].dtype)
        assert torch.equal(loaded[name], tensor), (name, loaded[name], tensor)
    reference = save(expected, metadata={"source": "Tapestry"})
    assert reference == path.read_bytes(), f"{path.name}: bytes differ from safetensors.torch.save"
    print(f"{path.name}: loads in PyTorch, identical to safetensors.torch.save")


if __name__ == "__main__":
    make_torch_model()
    make_half(torch.float16, "float16")
    make_half(torch.bfloat16, "bfloat16")
    check_tapestry_file(torch.float32, "tapestry_float32")
    check_tapestry_file(torch.float64, "tapestry_float64")
