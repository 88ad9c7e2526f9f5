#!/usr/bin/env python3
"""Writes eigenvalues.json: test matrices with their eigenvalue moduli, spectral radius and
spectral norm from NumPy (LAPACK dgeev / dgesvd), for LinearAlgebraTests.swift.

Run from this folder: python3 make_fixtures.py (NumPy 2.x; the seed is fixed, so the output is
reproducible). Matrices are stored sparsely as [row, column, value] triples, values printed with
Python's shortest round-trip repr, so Swift reads back the exact same doubles.
"""
import json

import numpy as np

rng = np.random.default_rng(20261121)


def reservoir(n, density):
    """A sparse random matrix like an echo state network's reservoir: uniform(-1, 1) entries."""
    mask = rng.random((n, n)) < density
    return np.where(mask, rng.uniform(-1, 1, (n, n)), 0.0)


def rotation_blocks(pairs):
    """Block-diagonal 2x2 rotations scaled by decreasing radii, made non-normal by a random
    similarity: every eigenvalue is complex and the dominant ones are a conjugate pair, where
    power iteration oscillates instead of converging."""
    n = 2 * pairs
    blocks = np.zeros((n, n))
    for k in range(pairs):
        radius, angle = 1.5 - 0.1 * k, rng.uniform(0.3, 2.8)
        c, s = np.cos(angle), np.sin(angle)
        blocks[2 * k:2 * k + 2, 2 * k:2 * k + 2] = radius * np.array([[c, -s], [s, c]])
    similarity = np.eye(n) + 0.3 * rng.standard_normal((n, n))
    return similarity @ blocks @ np.linalg.inv(similarity)


def repeated_eigenvalues(n):
    """S D S^-1 with eigenvalues 2 (four times), -2 (three times), 0.5 (twice), and distinct
    others: diagonalisable, so the repeated ones stay well-conditioned."""
    diagonal = np.array([2, 2, 2, 2, -2, -2, -2, 0.5, 0.5] + list(rng.uniform(-1, 1, n - 9)))
    similarity = np.eye(n) + 0.2 * rng.standard_normal((n, n))
    return similarity @ np.diag(diagonal) @ np.linalg.inv(similarity)


def upper_triangular(n):
    return np.triu(rng.uniform(-3, 3, (n, n)))


def dense(n):
    return rng.standard_normal((n, n)) / np.sqrt(n)


def entries(matrix):
    rows, columns = np.nonzero(matrix)
    return [[int(i), int(j), float(matrix[i, j])] for i, j in zip(rows, columns)]


def case(name, matrix):
    # Store what Swift will read: the matrix after a round trip through the printed doubles.
    moduli = np.sort(np.abs(np.linalg.eigvals(matrix)))
    return {
        "name": name,
        "size": matrix.shape[0],
        "entries": entries(matrix),
        "moduli": [float(m) for m in moduli],
        "spectralRadius": float(moduli[-1]),
        "spectralNorm": float(np.linalg.norm(matrix, 2)),
    }


cases = [
    case("reservoir50", reservoir(50, 0.2)),
    case("reservoir100", reservoir(100, 0.1)),
    case("reservoir200", reservoir(200, 0.05)),
    case("rotationBlocks", rotation_blocks(10)),
    case("repeatedEigenvalues", repeated_eigenvalues(16)),
    case("upperTriangular", upper_triangular(12)),
    case("dense30", dense(30)),
]

with open("eigenvalues.json", "w") as f:
    json.dump({"generator": "make_fixtures.py, numpy " + np.__version__, "cases": cases}, f)
    f.write("\n")
