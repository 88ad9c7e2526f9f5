#!/usr/bin/env bash
# One measuring session, everything in sequence (never two jobs at once): Tapestry's bench and
# the anchors' Python references, at 1 thread (pinned to CPU 0) and at 2 threads, then the ratio
# tables. Run it on a quiet machine; it takes about half an hour.
#
#   Tests/TapestryTests/Fixtures/Bench/measure_all.sh OUT_DIR [PYTHON]
#
# PYTHON is an interpreter with the references' packages (torch, jax, numpy, reservoirpy; see
# ../shared/bench/README.md); default `python3`. The references are expected in ../shared/bench
# beside this repository. OUT_DIR receives every JSON file and the two tables (ratios_1t.md,
# ratios_2t.md).
set -euo pipefail
out=${1:?usage: measure_all.sh OUT_DIR [PYTHON]}
python=${2:-python3}
repo="$(cd "$(dirname "$0")/../../../.." && pwd)"
anchors="$repo/../shared/bench"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$repo"
swift build -c release --product tapestry
tapestry="$repo/.build/release/tapestry"
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }
for threads in 1 2; do
  pin=()
  if [ "$threads" = 1 ]; then pin=(taskset -c 0); fi
  stamp "tapestry bench, $threads thread(s)"
  "$tapestry" bench --threads "$threads" --json "$out/swift_${threads}t.json" \
    | tee "$out/swift_${threads}t.txt"
  references=()
  for script in w0_matmul rnn_torch rnn_jax w6_torch w5_esn; do
    stamp "$script, $threads thread(s)"
    # A reference that fails is reported and left out of the ratios, not fatal: w0_matmul.py
    # measures the FMA peak with AVX-512 inline assembly last, which dies with SIGILL on an
    # AVX2-only machine before the script writes its JSON.
    if (cd "$anchors" && "${pin[@]}" "$python" "$script.py" --threads "$threads" \
      --out "$out/${script}_${threads}t.json") > "$out/${script}_${threads}t.log" 2>&1; then
      references+=("$out/${script}_${threads}t.json")
    else
      stamp "$script failed, see $out/${script}_${threads}t.log"
    fi
  done
  "$python" "$repo/Tests/TapestryTests/Fixtures/Bench/compare.py" \
    --tapestry "$out/swift_${threads}t.json" --reference "${references[@]}" \
    > "$out/ratios_${threads}t.md"
  stamp "ratios: $out/ratios_${threads}t.md"
done
