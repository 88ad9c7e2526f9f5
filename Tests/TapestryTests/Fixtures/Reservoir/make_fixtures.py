"""Reference values for Tapestry's echo state network, from NumPy and SciPy (no reservoirpy needed).

Run with a Python that has numpy and scipy:

    python3 Tests/TapestryTests/Fixtures/Reservoir/make_fixtures.py

It writes, next to this file:

- reservoir.safetensors: a small reservoir (N = 50, 10% + normal weights rescaled to spectral
  radius 0.9 with numpy.linalg.eigvals, ±1 input weights x 0.5, ±1 bias x 0.2, leak 0.3, two
  inputs), a 200-step input sequence, the states NumPy's loop produces from x = 0 (the update of
  /work/shared/bench/esn_defs.py, `harvest_dense`), two target sequences, and the ridge readout
  (lambda = 1e-6, washout 20) computed exactly as reservoirpy's Ridge(fit_bias=True) /
  esn_defs.ridge_fit: centred normal equations solved with scipy.linalg.solve(assume_a="sym"),
  bias = mean(Y) - mean(X) @ W.
- spectral.safetensors + reservoir.json: non-symmetric matrices (dense normal, sparse normal,
  uniform, a rotation-dominated one whose largest eigenvalues are a complex pair) and their
  spectral radii from numpy.linalg.eigvals and from ARPACK (scipy.sparse.linalg.eigs, v0 = ones).
- reservoir.json also holds Mackey-Glass samples from esn_defs.mackey_glass's recipe (RK4,
  dt 0.1, subsample 10, transient 1000, signal tanh(x - 1)): the first 50 and the last 85 of the
  W5 series of 14,185.

All float64; safetensors is written by hand (8-byte little-endian header length, JSON header,
raw little-endian bytes), doubles in JSON with Python's shortest round-trip repr.
"""

import json
import struct
from pathlib import Path

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

HERE = Path(__file__).resolve().parent


def save_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f8")
        header[name] = {"dtype": "F64", "shape": list(data.shape),
                        "data_offsets": [offset, offset + data.nbytes]}
        offset += data.nbytes
        blobs.append(data.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def mackey_glass_signal(n_samples, tau=17.0, a=0.2, b=0.1, n=10, x0=1.2, dt=0.1, subsample=10,
                        transient=1000):
    """esn_defs.mackey_glass followed by tanh(x - 1)."""
    d = int(round(tau / dt))
    total = (transient + n_samples) * subsample
    x = np.empty(total + 1 + d)
    x[: d + 1] = x0
    f = lambda xt, xd: a * xd / (1.0 + xd**n) - b * xt
    for i in range(d, d + total):
        xt, xd0, xd1 = x[i], x[i - d], x[i - d + 1]
        xdh = 0.5 * (xd0 + xd1)
        k1 = f(xt, xd0)
        k2 = f(xt + 0.5 * dt * k1, xdh)
        k3 = f(xt + 0.5 * dt * k2, xdh)
        k4 = f(xt + dt * k3, xd1)
        x[i + 1] = xt + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    series = x[d::subsample][transient: transient + n_samples]
    return np.tanh(series - 1.0)


def main():
    rng = np.random.default_rng(20261121)
    N, I, T, O, washout, leak, ridge = 50, 2, 200, 2, 20, 0.3, 1e-6
    W = np.where(rng.random((N, N)) < 0.1, rng.standard_normal((N, N)), 0.0)
    W *= 0.9 / np.max(np.abs(np.linalg.eigvals(W)))
    Win = np.where(rng.random((N, I)) < 0.5, -1.0, 1.0) * 0.5
    b = np.where(rng.random(N) < 0.5, -1.0, 1.0) * 0.2
    u = rng.uniform(-1, 1, (T, I))
    states = np.empty((T, N))
    x = np.zeros(N)
    for t in range(T):
        x = (1 - leak) * x + leak * np.tanh(W @ x + Win @ u[t] + b)
        states[t] = x
    # Targets: a delayed input and a nonlinear function of the inputs.
    y = np.stack([np.roll(u[:, 0], 3), u[:, 0] * u[:, 1]], axis=1)
    X, Y = states[washout:], y[washout:]
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    XXT = X.T @ X - len(X) * np.outer(xm, xm)
    YXT = X.T @ Y - len(X) * np.outer(xm, ym)
    Wout = sla.solve(XXT + ridge * np.eye(N), YXT, assume_a="sym")
    bias = ym - xm @ Wout
    save_safetensors({"weight": W, "input_weight": Win, "bias": b, "inputs": u, "states": states,
                      "targets": y, "readout_weight": Wout.T, "readout_bias": bias},
                     HERE / "reservoir.safetensors")

    matrices = {
        "dense_normal": rng.standard_normal((30, 30)),
        "sparse_normal": np.where(rng.random((120, 120)) < 0.05, rng.standard_normal((120, 120)), 0.0),
        "uniform": rng.uniform(-1, 1, (40, 40)),
        # A scaled rotation block plus noise: the dominant eigenvalues are a complex pair.
        "complex_pair": np.kron(np.eye(20), [[0.0, -2.0], [2.0, 0.0]]) + 0.1 * rng.standard_normal((40, 40)),
    }
    save_safetensors(matrices, HERE / "spectral.safetensors")
    radii = {}
    for name, m in matrices.items():
        arpack = abs(spla.eigs(sp.csr_matrix(m), k=1, which="LM", v0=np.ones(len(m)), tol=1e-12,
                               return_eigenvectors=False)[0])
        radii[name] = {"numpy": float(np.max(np.abs(np.linalg.eigvals(m)))), "arpack": float(arpack)}

    mg = mackey_glass_signal(14185)
    fixture = {"leak_rate": leak, "ridge": ridge, "washout": washout, "spectral_radii": radii,
               "mackey_glass_first": [float(v) for v in mg[:50]],
               "mackey_glass_last": [float(v) for v in mg[-85:]]}
    (HERE / "reservoir.json").write_text(json.dumps(fixture, indent=1) + "\n")


if __name__ == "__main__":
    main()
