#!/usr/bin/env python3
"""Engine vs PyTorch on the same GPT-2-small-shaped random weights, in one run, plus SmolLM2 and the
cost of probes. Writes a JSON report and prints the Markdown table used in docs/PERFORMANCE.md.

  .venv/bin/python bench/engine/compare_pytorch.py [--mnemo build/bin/mnemo] [--reps 3] [--out FILE]

PyTorch runs at its best thread setting (1 and 2 threads are both measured; the best is kept),
with OMP/OpenBLAS threads pinned to the same count. The engine's figures are medians of --reps
runs, PyTorch's are the best of --reps, so ratios lean against the engine."""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mnemo_bench(mnemo, model, prefill, decode, reps, probes="none"):
    out = subprocess.run([mnemo, "bench", "--model", str(model), "--prefill", str(prefill), "--decode", str(decode),
                          "--repeat", str(reps), "--probes", probes, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnemo", default=str(ROOT / "build" / "bin" / "mnemo"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        torch = json.loads(subprocess.run([sys.executable, str(ROOT / "bench" / "pytorch_reference.py"), "--reps", str(a.reps),
                                           "--write-model", d], check=True, capture_output=True, text=True).stdout)
        f32, f16 = Path(d) / "gguf-f32" / "model.gguf", Path(d) / "gguf-f16" / "model.gguf"
        engine = {"prefill": {}, "decode": {}}
        for t in (128, 512, 1024):
            engine["prefill"][str(t)] = mnemo_bench(a.mnemo, f32, t, 0, a.reps)["prefill_tokens_per_s"]
        engine["decode"]["f32"] = mnemo_bench(a.mnemo, f32, 128, 64, a.reps)["decode_tokens_per_s"]
        engine["decode"]["f16"] = mnemo_bench(a.mnemo, f16, 128, 64, a.reps)["decode_tokens_per_s"]

    smol = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    plain = mnemo_bench(a.mnemo, smol, 512, 64, a.reps)
    probed = mnemo_bench(a.mnemo, smol, 512, 64, a.reps, probes="all")
    report = {"pytorch": torch, "engine_gpt2": engine,
              "smollm2": {"no_probes": plain, "all_probes": probed}}
    if a.out:
        a.out.write_text(json.dumps(report, indent=2))

    best = {t: max(r["prefill"][t]["tokens_per_s"] for r in torch["runs"]) for t in ("128", "512", "1024")}
    best_decode = max(r["decode"]["tokens_per_s"] for r in torch["runs"])
    print("| GPT-2-small fp32, random weights | engine tok/s | PyTorch tok/s (best threads) | engine / PyTorch |")
    print("|---|---:|---:|---:|")
    for t in ("128", "512", "1024"):
        e = engine["prefill"][t]
        print(f"| prefill T = {t} | {e:.0f} | {best[t]:.0f} | {e / best[t]:.2f}× |")
    print(f"| decode, fp32 weights | {engine['decode']['f32']:.1f} | {best_decode:.1f} | {engine['decode']['f32'] / best_decode:.2f}× |")
    print(f"| decode, f16 weights | {engine['decode']['f16']:.1f} | – | {engine['decode']['f16'] / best_decode:.2f}× (vs fp32 PyTorch) |")
    print()
    print("| SmolLM2-135M Q4_1 | no probes | every probe subscribed | probes / none |")
    print("|---|---:|---:|---:|")
    for key, label in (("prefill_tokens_per_s", "prefill T = 512, tok/s"), ("decode_tokens_per_s", "decode, tok/s")):
        print(f"| {label} | {plain[key]:.1f} | {probed[key]:.1f} | {probed[key] / plain[key]:.2f} |")


if __name__ == "__main__":
    main()
