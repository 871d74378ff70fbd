#!/usr/bin/env python3
"""`mnemo eval` on a trained task model (assets/models/<family>-<task>) reproduces the held-out
accuracy its card reports (reference.json, measured by PyTorch at the end of training) within 0.5
points at every length, on the committed held-out sets.

    check_eval.py --mnemo BUILD/bin/mnemo --model assets/models/NAME [--model ...]
    check_eval.py --mnemo BUILD/bin/mnemo --models-dir DIR     every model folder in DIR"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

TOLERANCE_POINTS = 0.5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", required=True)
    ap.add_argument("--model", action="append", type=Path, default=[])
    ap.add_argument("--models-dir", type=Path)
    args = ap.parse_args()
    models = list(args.model)
    if args.models_dir:
        models += sorted(p for p in args.models_dir.iterdir() if (p / "reference.json").exists())
    if not models:
        print("check_eval: no models", file=sys.stderr)
        return 1
    failures = []
    for model in models:
        failures += check(args.mnemo, model)
    if failures:
        print("; ".join(failures), file=sys.stderr)
        return 1
    return 0


def check(mnemo, model):
    """The failures of one model: `mnemo eval` at each length of its card, against the card."""
    card = json.loads((model / "reference.json").read_text())["card"]
    lengths = ",".join(str(length) for length in card["heldout"])
    r = subprocess.run([mnemo, "eval", "--model", str(model), "--task", card["task"], "--length", lengths, "--json",
                        "--threads", "1"], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"{model.name}: mnemo eval failed: {r.stderr.strip()}"]
    got = {row["length"]: row for row in json.loads(r.stdout)["lengths"]}
    failures = []
    for length, want in card["heldout"].items():
        row = got.get(int(length))
        if row is None:
            failures.append(f"length {length}: not evaluated")
            continue
        for key, engine_key in (("answers", "answer_accuracy"), ("examples", "example_accuracy")):
            delta = (row[engine_key] - want[key]) * 100
            status = "ok" if abs(delta) <= TOLERANCE_POINTS else "FAIL"
            print(f"{model.name} length {length:>4} {key:8s}: engine {row[engine_key] * 100:6.2f}%  "
                  f"card {want[key] * 100:6.2f}%  ({delta:+.2f} points) {status}")
            if status != "ok":
                failures.append(f"{model.name} length {length} {key}: {delta:+.2f} points")
    return failures


if __name__ == "__main__":
    sys.exit(main())
