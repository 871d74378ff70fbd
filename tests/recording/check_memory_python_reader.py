#!/usr/bin/env python3
"""Checks tools/mnemo_session.py (the Python session reader, float64 numpy) against the C++ reader
(`mnemo tile`, float32) on a recurrent memory transformer's session: each tiny rmt model of
memory.write_models is recorded with `mnemo record` across several segments, then every layer's and
head's level-0 and level-1 tiles at the last step must agree (relative to the tile's largest value:
1e-5), under the mask "segments" (no token attends to a token of another segment), and the memory
snapshots must be one per memory the run read or left. One line per check; exits 1 on any failure.

Usage: check_memory_python_reader.py --mnemo MNEMO --models MEMORY_MODELS_DIR --repo REPO
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

import numpy as np

MODELS = ["rmt_gpt2", "rmt_llama"]
PROMPT = "The capital of France is Paris. The quick brown fox jumps over the lazy dog. Again and again."
TOL = 1e-5


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--repo", required=True)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.repo, "tools"))
    import mnemo_session  # noqa: E402

    failed = passed = 0

    def check(ok, what):
        nonlocal failed, passed
        print(f"{'ok' if ok else 'FAIL'} {what}")
        passed, failed = passed + ok, failed + (not ok)

    with tempfile.TemporaryDirectory(prefix="mnemo-memory-py-") as tmp:
        for name in MODELS:
            model = os.path.join(a.models, name)
            segment = json.load(open(os.path.join(model, "config.json"), encoding="utf-8"))["segment_size"]
            session = os.path.join(tmp, name + ".mnemo")
            subprocess.run([a.mnemo, "record", "-m", model, "-p", PROMPT, "-n", "12", "-o", session], check=True,
                           capture_output=True)
            with sqlite3.connect(session) as db:
                layers = db.execute("SELECT layer, n_heads, mask, window FROM _layer WHERE run_id = 1 ORDER BY layer").fetchall()
                last = db.execute("SELECT max(step) FROM _step WHERE run_id = 1").fetchone()[0]
                n_tokens = db.execute("SELECT count(*) FROM _token WHERE run_id = 1").fetchone()[0]
                memories = db.execute("SELECT count(*) FROM _memory_snapshot WHERE run_id = 1 AND kind = 'memory_tokens'"
                                      ).fetchone()[0]
            check(all(m == "segments" and w == segment for _, _, m, w in layers),
                  f"{name}: every layer recorded under mask 'segments' of {segment}: {[(m, w) for _, _, m, w in layers]}")
            check(memories == (n_tokens - 1) // segment + 1,
                  f"{name}: {memories} memory snapshots for {n_tokens - 1} tokens fed in segments of {segment}")
            s = mnemo_session.Session(session)
            for layer, n_heads, _, _ in layers:
                for head in range(n_heads):
                    for level in (0, 1):
                        out = os.path.join(tmp, f"{name}-{layer}-{head}-{level}.npy")
                        r = subprocess.run([a.mnemo, "tile", session, "--layer", str(layer), "--head", str(head),
                                            "--step", str(last), "--level", str(level), "--npy", out], check=True,
                                           capture_output=True, text=True)
                        want = np.load(out).astype(np.float64)
                        got = s.tile(1, last, layer, head, level)
                        scale = max(float(np.abs(want).max()), 1e-30)
                        err = float(np.abs(got - want).max()) / scale if got.shape == want.shape else float("inf")
                        crossing = 0.0
                        if level == 0:  # cells from a token to a token of an earlier segment
                            i, j = np.indices(want.shape)
                            crossing = float(np.abs(want[(i // segment) != (j // segment)]).max(initial=0.0))
                        label = s.map_label(1, layer)
                        check(err <= TOL and crossing == 0.0 and r.stderr.startswith(label + ", tile level")
                              and label.endswith("within each segment (the rest went to memory slots)"),
                              f"{name} layer {layer} head {head} level {level}: {got.shape} relative max "
                              f"|python - C++| {err:.1e}, across segments {crossing}, label {label!r}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
