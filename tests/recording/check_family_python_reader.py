#!/usr/bin/env python3
"""Checks tools/mnemo_session.py (the Python session reader, float64 numpy) against the C++ reader
(`mnemo tile`, float32) on the recurrent families: each tiny model of families.write_models is
recorded with `mnemo record` (a prefill and decode steps), then every layer's and head's level-0 and
level-1 tiles at the last step, and the map label, must agree (relative to the tile's largest value:
1e-5). Mamba-1's channel maps too (`mnemo tile --channel C` against the Python reader's, the label
naming the channel, and the mean of a head's channel maps against its map: 1e-6), and `--channel`
refused by name where a layer has no such channel (out of range on Mamba-1, any on GLA). The CSV
export holds the layers' mixers and every state statistic. One line per check; exits 1 on any
failure.

Usage: check_family_python_reader.py --mnemo MNEMO --models FAMILY_MODELS_DIR --repo REPO
"""

import argparse
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile

import numpy as np

FAMILIES = ["linear_attn", "retnet", "gla", "delta_net", "gated_deltanet", "hybrid_gated_deltanet", "mamba", "mamba2"]
TOL = 1e-5


def check_channels(a, s, session, tmp, name, layer, last, channels, check) -> None:
    """Every channel of head 0 at level 0 (and the first and last at level 1) through `mnemo tile
    --channel`, against the Python reader; their mean against the head's map; a channel past the last
    refused by both."""
    head = 0
    total = None
    for c in range(channels):
        for level in ((0, 1) if c in (0, channels - 1) else (0,)):
            out = os.path.join(tmp, f"{name}-{layer}-{head}-c{c}-{level}.npy")
            r = subprocess.run([a.mnemo, "tile", session, "--layer", str(layer), "--head", str(head), "--step", str(last),
                                "--level", str(level), "--channel", str(c), "--npy", out],
                               check=True, capture_output=True, text=True)
            want = np.load(out).astype(np.float64)
            got = s.tile(1, last, layer, head, level, channel=c)
            scale = max(float(np.abs(want).max()), 1e-30)
            err = float(np.abs(got - want).max()) / scale if got.shape == want.shape else float("inf")
            label = f"implicit attention, exact, channel {c} of head {head}"
            ok = (err <= TOL and r.stderr.startswith(label + ", tile level")
                  and s.map_label(1, layer, head, c) == label)
            check(ok, f"{name} layer {layer} head {head} channel {c} level {level}: relative max |python - C++| "
                      f"{err:.1e}, label {r.stderr.split(', tile level')[0]!r}")
            if level == 0:
                total = got if total is None else total + got  # float64: the mean's own error is nil
    head_map = s.tile(1, last, layer, head, 0)
    err = float(np.abs(total / channels - head_map).max()) / max(float(np.abs(head_map).max()), 1e-30)
    check(err <= 1e-6, f"{name} layer {layer} head {head}: mean of the {channels} channel maps vs the head's map, "
                       f"relative {err:.1e}")
    r = subprocess.run([a.mnemo, "tile", session, "--layer", str(layer), "--head", str(head), "--step", str(last),
                        "--channel", str(channels), "--npy", os.path.join(tmp, "bad.npy")], capture_output=True, text=True)
    check(r.returncode == 2 and f"--channel: {channels} is out of range (0..{channels - 1}" in r.stderr
          and f"{channels} channels per head" in r.stderr,
          f"{name} layer {layer}: mnemo tile --channel {channels} refused (exit {r.returncode}: {r.stderr.strip()!r})")
    try:
        s.tile(1, last, layer, head, channel=channels)
        check(False, f"{name} layer {layer}: the Python reader gave channel {channels} of {channels}")
    except LookupError as e:
        check(f"has no channel {channels}" in str(e), f"{name} layer {layer}: Python reader refuses channel {channels} ({e})")


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
    with tempfile.TemporaryDirectory(prefix="mnemo-family-py-") as tmp:
        for name in FAMILIES:
            session = os.path.join(tmp, name + ".mnemo")
            subprocess.run([a.mnemo, "record", "-m", os.path.join(a.models, name), "-p", "the state keeps what it saw",
                            "-n", "4", "-o", session], check=True, capture_output=True)
            with sqlite3.connect(session) as db:
                layers = db.execute("SELECT l.layer, l.n_heads, m.name FROM _layer AS l JOIN _mixer_kind AS m "
                                    "ON m.kind = l.mixer WHERE run_id = 1 ORDER BY layer").fetchall()
                last = db.execute("SELECT max(step) FROM _step WHERE run_id = 1").fetchone()[0]
            s = mnemo_session.Session(session)
            for layer, n_heads, mixer in layers:
                if mixer == "softmax":
                    continue  # checked by session.python_reader
                for head in range(n_heads):
                    for level in (0, 1):
                        out = os.path.join(tmp, f"{name}-{layer}-{head}-{level}.npy")
                        r = subprocess.run([a.mnemo, "tile", session, "--layer", str(layer), "--head", str(head), "--step",
                                            str(last), "--level", str(level), "--npy", out],
                                           check=True, capture_output=True, text=True)
                        want = np.load(out).astype(np.float64)
                        got = s.tile(1, last, layer, head, level)
                        scale = max(float(np.abs(want).max()), 1e-30)
                        err = float(np.abs(got - want).max()) / scale if got.shape == want.shape else float("inf")
                        label = s.map_label(1, layer)
                        ok = err <= TOL and r.stderr.startswith(label + ", tile level")
                        print(f"{'ok' if ok else 'FAIL'} {name} layer {layer} ({mixer}) head {head} level {level}: "
                              f"{got.shape} relative max |python - C++| {err:.1e}, label {label!r}")
                        passed, failed = passed + ok, failed + (not ok)
                channels = s.channels_per_head(1, layer)
                check(channels == (int(s.layer(1, layer)["state_rows"]) if mixer == "mamba1" else 0),
                      f"{name} layer {layer} ({mixer}): {channels} channel maps per head")
                if channels:
                    check_channels(a, s, session, tmp, name, layer, last, channels, check)
                else:
                    r = subprocess.run([a.mnemo, "tile", session, "--layer", str(layer), "--head", "0", "--step", str(last),
                                        "--channel", "0", "--npy", os.path.join(tmp, "none.npy")],
                                       capture_output=True, text=True)
                    check(r.returncode == 2 and "--channel" in r.stderr and "has no channel maps" in r.stderr
                          and f"layer {layer}" in r.stderr, f"{name} layer {layer} ({mixer}): mnemo tile --channel 0 "
                          f"refused (exit {r.returncode}: {r.stderr.strip()!r})")
                    try:
                        s.tile(1, last, layer, 0, channel=0)
                        check(False, f"{name} layer {layer}: the Python reader gave a channel map of a layer without any")
                    except LookupError as e:
                        check("has no channel maps" in str(e), f"{name} layer {layer}: Python reader refuses channel 0 "
                              f"({e})")
            # The CSV export carries the family's layers and state statistics (schema v2 views).
            out = os.path.join(tmp, name + "-csv")
            subprocess.run([a.mnemo, "export", session, "--format", "csv", "--out", out], check=True, capture_output=True)
            with sqlite3.connect(session) as db:
                n_stats = db.execute("SELECT count(*) FROM _state_stat").fetchone()[0]
            with open(os.path.join(out, "state_stat.csv"), newline="", encoding="utf-8") as f:
                stat_rows = list(csv.DictReader(f))
            with open(os.path.join(out, "layer.csv"), newline="", encoding="utf-8") as f:
                csv_mixers = [r["mixer"] for r in csv.DictReader(f)]
            ok = (n_stats > 0 and len(stat_rows) == n_stats and all(float(r["norm"]) >= 0 for r in stat_rows)
                  and csv_mixers == [m for _, _, m in layers])
            check(ok, f"{name} csv export: {len(stat_rows)} state_stat rows of {n_stats}, layers {csv_mixers}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
