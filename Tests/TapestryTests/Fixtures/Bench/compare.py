"""Lines up `tapestry bench --json` records with the anchors' JSON files and prints the ratios
time_reference / time_tapestry (> 1: Tapestry is faster), as a Markdown table.

    python compare.py --tapestry swift_1t.json --reference rnn_torch_1t.json rnn_jax_1t.json \
        w0_matmul_1t.json w6_torch_1t.json w5_esn_1t.json

W1-W4 rows are matched on (workload, cell, size), W0 on n, W5 on N (`run`/`fit`), W6 on the
element count and whether a, b are recorded (and the matmul chain). Only numpy/torch/jax/
reservoirpy results are read; the fields are those written by ../shared/bench/common.py.
"""
import argparse
import json
from collections import defaultdict


def load(path):
    data = json.load(open(path))
    return data["results"] if isinstance(data, dict) else data


def reference_key(r):
    wl = r.get("workload")
    if wl in ("W1", "W2", "W3", "W4"):
        return (wl, r["cell"], r["size"])
    if wl == "W0":
        return ("W0", "matmul", str(r["n"]))
    if wl == "W5":
        return ("W5", "esn", str(r["N"]))
    if wl == "W6b":
        return ("W6", "elementwise", str(r["numel"]),
                "a,b recorded" if r["shared_params_require_grad"] else "only x recorded")
    if wl == "W6c":
        return ("W6", "matmul_chain", "128")
    return None


def tapestry_key(r):
    if r["workload"] == "W6" and r["cell"] == "elementwise":
        return ("W6", "elementwise", r["size"], r["variant"])
    return (r["workload"], r["cell"], r["size"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tapestry", required=True)
    p.add_argument("--reference", nargs="+", required=True)
    args = p.parse_args()
    refs = defaultdict(list)
    for path in args.reference:
        for r in load(path):
            key = reference_key(r)
            if key is None:
                continue
            if r.get("workload") == "W5":
                if r.get("hp_set", "default") != "default":
                    continue
                for phase in ("run", "fit"):
                    refs[key + (phase,)].append((r["variant"], r[phase]["median_ms"]))
            else:
                refs[key].append((f'{r["lib"]} {r.get("variant", "")}'.strip(), r["median_ms"]))
    print("| workload | size | variant | Tapestry ms | reference | ref ms | ratio ref/Tapestry |")
    print("|---|---|---|---|---|---|---|")
    for r in load(args.tapestry):
        key = tapestry_key(r)
        if r["workload"] == "W5":
            key = key + ("run" if r["variant"].startswith("run") else "fit",)
        for name, ms in refs.get(key, []):
            print(f'| {r["workload"]} {r["cell"]} | {r["size"]} | {r["variant"]} | '
                  f'{r["median_ms"]:.3g} | {name} | {ms:.3g} | {ms / r["median_ms"]:.2f} |')


if __name__ == "__main__":
    main()
