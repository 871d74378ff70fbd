#!/usr/bin/env python3
"""Cost by sequence length of every family of the task models (issue 14), through the C++ engine:
random weights of the trained shapes (tools/train/train.py's SIZES, the task vocabulary), and at
each prompt length T: prefill time, decode time per token after T tokens, the process's peak
memory, and the bytes the model's memories hold (KV caches, or recurrent states and convolution
windows). All families run in one process tree, interleaved rep by rep, so the ratios between
them are measured under the same load.

    .venv/bin/python bench/engine/bench_families.py [--mnemo build/bin/mnemo] [--lengths 256,1024,4096,16384]
        [--families transformer,gla,...] [--reps 3] [--decode 128] [--threads 2] [--out FILE.json]

Decode is reported twice: the mean over the run (tokens per second inverted) and the median of
every single step, which preemptions on a shared machine do not move (the best of the reps: see
the summary below). Prints a Markdown table
(with the CPU model) and writes the figures as JSON, which
tools/plot_architectures.py turns into docs/ARCHITECTURES.md's plots and tables. Targets from
issue 14: the recurrent families' decode time per token flat within +-10% from T = 256 to 16k, and
their prefill at 16k at least 3x faster than the softmax transformer of the same width and depth."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "train"))
import models  # noqa: E402
import tasks  # noqa: E402
import train  # noqa: E402


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def write_random_model(folder: Path, family: str, context: int):
    """A task model of `family` at its trained size with its initial (random) weights."""
    model = models.build(family, len(tasks.VOCAB), train.SIZES[family], seed=train.SEED)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(model.config(), max_position_embeddings=context)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(model.tensors(), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "tokenizer.json").write_bytes((tasks.TASKS_DIR / "tokenizer.json").read_bytes())
    return models.parameter_count(model)


def run_bench(mnemo, model, length, decode, threads):
    """One `mnemo bench` process: its JSON, with the process's peak resident memory (wait4)."""
    proc = subprocess.Popen([mnemo, "bench", "--model", str(model), "--prefill", str(length), "--decode", str(decode),
                             "--repeat", "1", "--threads", str(threads), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench_families: mnemo bench on {model} at T = {length} failed: {err.strip()}")
    j = json.loads(out)
    j["peak_rss_bytes"] = usage.ru_maxrss * 1024
    return j


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnemo", default=str(ROOT / "build" / "bin" / "mnemo"))
    ap.add_argument("--lengths", default="256,1024,4096,16384")
    ap.add_argument("--families", default=",".join(models.FAMILIES))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    lengths = [int(t) for t in a.lengths.split(",")]
    families = a.families.split(",")
    unknown = set(families) - set(models.FAMILIES)
    if unknown:
        raise SystemExit(f"bench_families: no family {', '.join(sorted(unknown))} ({', '.join(models.FAMILIES)})")
    torch.set_num_threads(1)
    results = {"cpu": cpu_model(), "threads": a.threads, "decode_tokens": a.decode, "reps": a.reps, "lengths": lengths,
               "families": {}}
    with tempfile.TemporaryDirectory() as d:
        folders = {}
        for family in families:
            folders[family] = Path(d) / family
            params = write_random_model(folders[family], family, max(lengths) + a.decode + 1)
            results["families"][family] = {"parameters": params, "by_length": {str(t): [] for t in lengths}}
        # Interleaved: every family at every length once per rep, so load changes hit all alike.
        for rep in range(a.reps):
            for t in lengths:
                for family in families:
                    j = run_bench(a.mnemo, folders[family], t, a.decode, a.threads)
                    results["families"][family]["by_length"][str(t)].append(
                        {"prefill_s": t / j["prefill_tokens_per_s"], "decode_ms_per_token": 1e3 / j["decode_tokens_per_s"],
                         "decode_step_ms_median": j["decode_step_ms_median"],
                         "peak_rss_bytes": j["peak_rss_bytes"], "memory_bytes": j["memory_bytes_used"]})
                print(f"rep {rep + 1}/{a.reps}: T = {t} done", file=sys.stderr, flush=True)
    # Medians over the reps; for the median decode step, the best rep: a process lands in one of
    # two speeds for its whole life (measured: the same model at the same T gave a median step of
    # 0.025 or 0.039 ms in 8 processes, on either core, whatever T), so the slower mode says where
    # the process landed, not what the step costs.
    for fam in results["families"].values():
        fam["median"] = {t: {k: (min if k == "decode_step_ms_median" else statistics.median)(r[k] for r in runs)
                             for k in runs[0]}
                         for t, runs in fam["by_length"].items()}
    print_table(results)
    if a.out:
        a.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def print_table(results):
    lengths = results["lengths"]
    print(f"CPU: {results['cpu']}, {results['threads']} threads; medians of {results['reps']} interleaved reps; "
          f"decode: {results['decode_tokens']} tokens after the prefill\n")
    base = results["families"].get("transformer", {}).get("median")
    print("| family | T | prefill s | softmax's prefill ÷ this | decode ms/token | median step ms | median step vs T=" +
          str(lengths[0]) + " | state or KV | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, fam in results["families"].items():
        m = fam["median"]
        first = m[str(lengths[0])]["decode_step_ms_median"]
        for t in lengths:
            r = m[str(t)]
            speedup = f"{base[str(t)]['prefill_s'] / r['prefill_s']:.2f}x" if base and name != "transformer" else ""
            print(f"| {name} | {t} | {r['prefill_s']:.3f} | {speedup} | {r['decode_ms_per_token']:.3f} | "
                  f"{r['decode_step_ms_median']:.4f} | {(r['decode_step_ms_median'] / first - 1) * 100:+.1f}% | "
                  f"{r['memory_bytes'] / 1024:.0f} KiB | "
                  f"{r['peak_rss_bytes'] / 2**20:.0f} MiB |")


if __name__ == "__main__":
    sys.exit(main())
