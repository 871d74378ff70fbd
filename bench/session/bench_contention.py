#!/usr/bin/env python3
"""How much wall time the engine loses to a competing thread, independent of recording: runs
`mnemo record --capture none` (SmolLM2, ~540-token prompt + 64 steps) alone and next to a burner
process that takes `--duty` of one core in short bursts, interleaved rep by rep, and prints the
wall-time increase per CPU-second the burner used. A recording's writer thread competes the
same way, so this bounds what any writer CPU costs on this machine (docs/PERFORMANCE.md).

  .venv/bin/python bench/session/bench_contention.py [--reps 5] [--duty 0.15]"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"

BURNER = """
import sys, time
duty, seconds = float(sys.argv[1]), float(sys.argv[2])
period, busy, end = 0.01, 0.0, time.time() + seconds
while time.time() < end:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duty * period:
        pass
    busy += time.perf_counter() - t0
    time.sleep(period * (1 - duty))
print(busy)
"""


def record(mnemo: str, prompt: Path, out: Path) -> float:
    for suffix in ("", "-wal", "-shm"):
        Path(str(out) + suffix).unlink(missing_ok=True)
    r = subprocess.run([mnemo, "record", "-q", "--model", str(MODEL), "--prompt-file", str(prompt), "-n", "64",
                        "--ignore-eos", "--out", str(out), "--capture", "none"], capture_output=True, text=True, check=True)
    return float(re.search(r"in ([0-9.]+) s \(prefill", r.stderr).group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnemo", default=str(ROOT / "build/bin/mnemo"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--duty", type=float, default=0.15, help="share of one core the burner takes")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mnemo-contention-") as d:
        tmp = Path(d)
        base = (ROOT / "assets/prompts/long_context.txt").read_text() + (ROOT / "assets/prompts/story.txt").read_text()
        prompt = tmp / "prompt.txt"
        prompt.write_text(base * 2)
        alone, shared, burned = [], [], []
        for _ in range(a.reps):
            alone.append(record(a.mnemo, prompt, tmp / "s.mnemo"))
            # The burner runs a little longer than the recording it competes with; only the CPU it
            # used while the recording ran counts, estimated from its duty over the recording's wall.
            burner = subprocess.Popen([sys.executable, "-c", BURNER, str(a.duty), str(alone[-1] * 1.5)],
                                      stdout=subprocess.PIPE, text=True)
            time.sleep(0.05)
            shared.append(record(a.mnemo, prompt, tmp / "s.mnemo"))
            burner.communicate()
            burned.append(a.duty * shared[-1])
        lost = [s - w for s, w in zip(shared, alone)]
        print(f"alone {statistics.median(alone):.2f} s, with a {a.duty:.0%} burner {statistics.median(shared):.2f} s; "
              f"wall lost per burner CPU-second: median {statistics.median(l / b for l, b in zip(lost, burned)):.2f} "
              f"(range {min(l / b for l, b in zip(lost, burned)):.2f} .. {max(l / b for l, b in zip(lost, burned)):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
