#!/usr/bin/env python3
"""Recording benchmarks on SmolLM2 (docs/PERFORMANCE.md, "Sessions"), each against a baseline
measured in the same run:

  overhead   prefill ~512 tokens + 64 decode steps, every capture set against --capture none
             (wall time of the recording, from the first forward to the closed file), each rep
             against the baseline run of the same rep, median over reps
  writer     SessionWriter bulk throughput against raw write() of the same bytes (bench_session)
  size       a ~2048-token prefill recorded with every capture: file size against the dense fp16
             attention maps of the same run (what a notebook tool would keep)
  tiles      level-0 tile fetch latency on that session, cold (fresh reader) and warm
  open       open + list runs of a ~1 GB session (bench_session make/open)
  long       (--long) an ~8k-token prefill with every capture: peak memory and time against
             --capture none

  .venv/bin/python bench/session/bench_recording.py [--reps 3] [--long] [--overhead-only] [--threads N]
                   [--sets "none;all;all@compete"] [--out report.json]

A set named old:SET runs --old-mnemo (an earlier build) and is measured against old:none of the
same rep, so one run compares two builds' overheads and their --capture none speeds.
--model takes any model mnemo reads (a GGUF file or a safetensors folder), e.g. the recurrent
families' bench-size models (tools/reference/make_family_models.py --size bench)."""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def prompt_file(tmp: Path, approx_tokens: int) -> Path:
    # The repository's prompts, repeated: long_context.txt is ~246 SmolLM2 tokens.
    base = (ROOT / "assets/prompts/long_context.txt").read_text() + (ROOT / "assets/prompts/story.txt").read_text()
    text = base * max(1, round(approx_tokens / 270))
    p = tmp / f"prompt{approx_tokens}.txt"
    p.write_text(text)
    return p


def record(mnemo, out: Path, prompt: Path, n, capture, extra=(), model=MODEL):
    for suffix in ("", "-wal", "-shm"):
        Path(str(out) + suffix).unlink(missing_ok=True)
    r = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", mnemo, "record", "-q", "--model", str(model), "--prompt-file",
                        str(prompt), "-n", str(n), "--ignore-eos", "--out", str(out), "--capture", capture, *extra],
                       capture_output=True, text=True, errors="replace", check=True)  # a random model's text need not be UTF-8
    m = re.search(r"in ([0-9.]+) s \(prefill ([0-9.]+) s\); writer thread ([0-9.]+) s CPU \(([^)]*)\); back-pressure: (\d+) waits .*; "
                  r"closing ([0-9.]+) s", r.stderr)
    rss = int(re.search(r"MAXRSS (\d+)", r.stderr).group(1))
    wall, prefill, closing = float(m.group(1)), float(m.group(2)), float(m.group(6))
    return {"wall_s": wall, "prefill_s": prefill, "decode_s": round(wall - prefill - closing, 3), "closing_s": closing,
            "writer_cpu_s": float(m.group(3)), "writer_core": m.group(4), "backpressure_waits": int(m.group(5)),
            "max_rss_mb": rss / 1024, "file_mb": out.stat().st_size / 1e6}


def cpu_model():
    return next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                 if l.startswith("Model name")), "unknown")


def info(mnemo, path):
    return json.loads(subprocess.run([mnemo, "info", str(path), "--json"], check=True, capture_output=True, text=True).stdout)


def bench_session(tool, *args):
    r = subprocess.run([tool, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnemo", default=str(ROOT / "build/bin/mnemo"))
    ap.add_argument("--old-mnemo", help="an earlier build's mnemo, for sets named old:SET")
    ap.add_argument("--model", default=str(MODEL), help="the model recorded by the overhead benchmark")
    ap.add_argument("--bench-session", default=str(ROOT / "build/bin/bench_session"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--overhead-only", action="store_true", help="only the overhead benchmark")
    ap.add_argument("--sets", default="none;attention;attention,metrics;attention,metrics,pyramids;all",
                    help="capture sets for the overhead benchmark, ';'-separated, starting with none; "
                         "SET@compete records SET with --writer-core compete (the writer not on a lent core)")
    ap.add_argument("--threads", type=int, default=0,
                    help="engine threads for the overhead runs (default: all cores); 1 leaves the writer a core on a 2-vCPU machine")
    ap.add_argument("--tmp", default=None, help="folder for the sessions (default: a temporary one)")
    ap.add_argument("--out")
    a = ap.parse_args()
    report = {}
    with tempfile.TemporaryDirectory(prefix="mnemo-bench-", dir=a.tmp) as d:
        tmp = Path(d)
        # Overhead: capture sets interleaved rep by rep, so drift hits all alike.
        p512 = prompt_file(tmp, 512)
        sets = a.sets.split(";")
        if sets[0] != "none":
            ap.error("--sets must start with none (the baseline)")
        if any(s.startswith("old:") for s in sets) and not (a.old_mnemo and "old:none" in sets):
            ap.error("sets named old:SET need --old-mnemo and an old:none set (their baseline)")
        runs = {s: [] for s in sets}
        for _ in range(a.reps):
            for s in sets:
                old, _, name = s.rpartition("old:")
                capture, _, writer_core = name.partition("@")
                extra = (("--threads", str(a.threads)) if a.threads else ()) + (("--writer-core", writer_core) if writer_core else ())
                runs[s].append(record(a.old_mnemo if s.startswith("old:") else a.mnemo, tmp / "o.mnemo", p512, 64, capture,
                                      extra, a.model))
        j = info(a.mnemo, tmp / "o.mnemo")["runs"][0]
        base = statistics.median(r["wall_s"] for r in runs["none"])

        def against(s):  # each set's own build's baseline
            return runs["old:none" if s.startswith("old:") else "none"]
        report["overhead"] = {"cpu": cpu_model(), "model": Path(a.model).name, "engine_threads": a.threads or "all cores",
                              "prompt_tokens": j["n_tokens"] - 64, "decode_steps": 63, "baseline_wall_s": base, "sets": {
            # Overhead per rep against that rep's own baseline (runs of one rep are back to back, so
            # the machine's drift cancels), then the median over reps.
            s: {"wall_s": statistics.median(r["wall_s"] for r in v),
                "walls_s": [r["wall_s"] for r in v],  # every rep, in order
                "overhead": statistics.median(r["wall_s"] / b["wall_s"] - 1 for r, b in zip(v, against(s))),
                "overhead_min_max": [min(r["wall_s"] / b["wall_s"] - 1 for r, b in zip(v, against(s))),
                                     max(r["wall_s"] / b["wall_s"] - 1 for r, b in zip(v, against(s)))],
                # The fastest run of the set against the fastest baseline: a process runs at one of
                # two speeds for its whole life (bench_families: 0.025 or 0.039 ms per decode step,
                # whatever the work), so pairs of one rep can mix the two; the best of each side
                # compares like with like.
                "overhead_best_of_reps": min(r["wall_s"] for r in v) / min(b["wall_s"] for b in against(s)) - 1,
                # This build against the other, rep by rep (only with old: sets): wall(new) / wall(old) - 1
                **({"new_vs_old": statistics.median(r["wall_s"] / o["wall_s"] - 1 for r, o in zip(v, runs["old:" + s]))}
                   if "old:" + s in runs else {}),
                "writer_cpu_s": statistics.median(r["writer_cpu_s"] for r in v),
                # Where the wall time goes: the prompt's forward, the decode steps, closing the file.
                "prefill_s": statistics.median(r["prefill_s"] for r in v),
                "decode_s": statistics.median(r["decode_s"] for r in v),
                "closing_s": statistics.median(r["closing_s"] for r in v),
                "file_mb": v[-1]["file_mb"], "backpressure_waits": max(r["backpressure_waits"] for r in v)}
            for s, v in runs.items()}}
        print(json.dumps(report["overhead"], indent=1), flush=True)

    if a.overhead_only:
        if a.out:
            Path(a.out).write_text(json.dumps(report, indent=1))
        return 0
    with tempfile.TemporaryDirectory(prefix="mnemo-bench-", dir=a.tmp) as d:
        tmp = Path(d)
        report["writer"] = bench_session(a.bench_session, "writer", tmp, 512)
        print(json.dumps(report["writer"]), flush=True)

        p2048 = prompt_file(tmp, 2048)
        s2048 = tmp / "t2048.mnemo"
        r = record(a.mnemo, s2048, p2048, 1, "all")
        j = info(a.mnemo, s2048)["runs"][0]
        T = j["n_tokens"] - 1
        dense = j["n_layers"] * j["n_heads"] * T * T * 2
        report["size"] = {"positions": T, "file_mb": r["file_mb"], "dense_fp16_mb": dense / 1e6,
                          "ratio": r["file_mb"] * 1e6 / dense, "wall_s": r["wall_s"]}
        print(json.dumps(report["size"]), flush=True)
        report["tiles"] = bench_session(a.bench_session, "tiles", s2048, 300)
        print(json.dumps(report["tiles"]), flush=True)

        big = tmp / "big.mnemo"
        report["make_1gb"] = bench_session(a.bench_session, "make", big, 1024)
        report["open"] = bench_session(a.bench_session, "open", big, 20)
        print(json.dumps(report["open"]), flush=True)
        big.unlink()

        if a.long:
            p8k = prompt_file(tmp, 7900)
            none = record(a.mnemo, tmp / "l.mnemo", p8k, 1, "none")
            full = record(a.mnemo, tmp / "l.mnemo", p8k, 1, "all")
            j = info(a.mnemo, tmp / "l.mnemo")["runs"][0]
            report["long"] = {"positions": j["n_tokens"] - 1, "none": none, "all": full,
                              "rss_ratio": full["max_rss_mb"] / none["max_rss_mb"], "wall_ratio": full["wall_s"] / none["wall_s"]}
            print(json.dumps(report["long"]), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
