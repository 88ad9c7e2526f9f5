"""Dumps the data and weights of the W1-W4 anchor workloads (/work/shared/bench/README.md) to
safetensors, so that the Swift cells can be fed exactly what PyTorch and JAX were fed.

numpy's default_rng (PCG64) has no Swift counterpart, so the arrays are generated here with the
recipe of the anchors' rnn_defs.py (copied below, so this script needs only numpy) and stored.

    python make_fixtures.py                       # S for all four cells, next to this file
    python make_fixtures.py --sizes M,L --out /tmp/ref/fixtures   # for tapestry bench --reference-dir

One file per cell and size, `<cell>_<size>.safetensors`, holding `x` [T,B,I], `y` [T,B,H] and the
parameters in the anchors' row-vector layout (`Wx` [I,GH], `Wh` [H,GH], `b` or `bx`/`bh` [GH],
peepholes `pi`/`pf`/`po` [H]), all F32. The metadata carries the reference loss and |dL/dWh| that
PyTorch reported for the same arrays (results/rnn_torch_1t.json of the anchors, identical for
every variant to ~1e-6), and a float64 numpy forward pass as a cross-check of the loss.
"""
import argparse
import json
import math
import struct
from pathlib import Path

import numpy as np

# name: (T, B, I, H), as rnn_defs.SIZES
SIZES = {"S": (100, 1, 1, 32), "M": (100, 32, 32, 128), "L": (50, 64, 128, 512)}
GATES = {"rnn": 1, "lstm": 4, "gru": 3, "peephole": 4}
CELL_SIZES = {"lstm": "SML", "rnn": "SML", "gru": "SML", "peephole": "SM"}

# PyTorch's loss and |dL/dWh| for these arrays (anchors' results/rnn_torch_1t.json, fused variant;
# composed for the peephole LSTM, which has no fused one).
REFERENCE = {
    ("lstm", "S"): (0.33177462220191956, 0.0033835757058113813),
    ("lstm", "M"): (0.34038615226745605, 0.001001890515908599),
    ("lstm", "L"): (0.3398699164390564, 0.000652182090561837),
    ("rnn", "S"): (0.35325121879577637, 0.03608692064881325),
    ("rnn", "M"): (0.43098732829093933, 0.018621183931827545),
    ("rnn", "L"): (0.4283323585987091, 0.011193905025720596),
    ("gru", "S"): (0.3500445485115051, 0.020280377939343452),
    ("gru", "M"): (0.3621581196784973, 0.0042721242643892765),
    ("gru", "L"): (0.3598059117794037, 0.0018004885641857982),
    ("peephole", "S"): (0.3317772150039673, 0.0033795221243053675),
    ("peephole", "M"): (0.3403862714767456, 0.001001684577204287),
}


def make_data(T, B, I, H):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    y = rng.uniform(-1.0, 1.0, (T, B, H)).astype(np.float32)
    return x, y


def make_params(cell, I, H):
    rng = np.random.default_rng(1)
    k = 1.0 / math.sqrt(H)

    def u(*shape):
        return rng.uniform(-k, k, shape).astype(np.float32)

    G = GATES[cell]
    p = {"Wx": u(I, G * H), "Wh": u(H, G * H)}
    if cell == "gru":
        p["bx"] = u(G * H)
        p["bh"] = u(G * H)
    else:
        p["b"] = u(G * H)
    if cell == "peephole":
        p["pi"] = u(H)
        p["pf"] = u(H)
        p["po"] = u(H)
    return p


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def loss64(cell, x, y, p):
    """The README's forward pass and MSE in float64."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    T, B, _ = x.shape
    H = p["Wh"].shape[0]
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    total = 0.0
    for t in range(T):
        xt = x[t].astype(np.float64)
        if cell == "gru":
            rx, zx, nx = np.split(xt @ p["Wx"] + p["bx"], 3, axis=1)
            rh, zh, nh = np.split(h @ p["Wh"] + p["bh"], 3, axis=1)
            r, z = sigmoid(rx + rh), sigmoid(zx + zh)
            h = (1 - z) * np.tanh(nx + r * nh) + z * h
        elif cell == "rnn":
            h = np.tanh(xt @ p["Wx"] + h @ p["Wh"] + p["b"])
        else:
            gi, gf, gg, go = np.split(xt @ p["Wx"] + h @ p["Wh"] + p["b"], 4, axis=1)
            if cell == "peephole":
                gi, gf = gi + p["pi"] * c, gf + p["pf"] * c
            c = sigmoid(gf) * c + sigmoid(gi) * np.tanh(gg)
            if cell == "peephole":
                go = go + p["po"] * c
            h = sigmoid(go) * np.tanh(c)
        total += ((h - y[t].astype(np.float64)) ** 2).sum()
    return total / y.size


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header length, JSON header, raw little-endian data."""
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="S")
    parser.add_argument("--cells", default="lstm,rnn,gru,peephole")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for cell in args.cells.split(","):
        for size in args.sizes.split(","):
            if size not in CELL_SIZES[cell]:
                continue
            T, B, I, H = SIZES[size]
            x, y = make_data(T, B, I, H)
            params = make_params(cell, I, H)
            loss, grad_norm = REFERENCE[(cell, size)]
            numpy_loss = loss64(cell, x, y, params)
            assert abs(numpy_loss - loss) < 1e-5 * loss, (cell, size, numpy_loss, loss)
            metadata = {"cell": cell, "size": size, "loss": repr(loss),
                        "grad_norm_Wh": repr(grad_norm), "loss_float64": repr(numpy_loss)}
            path = out / f"{cell}_{size}.safetensors"
            write_safetensors(path, {"x": x, "y": y, **params}, metadata)
            print(f"{path}: loss {loss:.7f} (float64 {numpy_loss:.7f}) |dWh| {grad_norm:.6f}")


if __name__ == "__main__":
    main()
