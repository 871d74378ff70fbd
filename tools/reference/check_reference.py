#!/usr/bin/env python3
"""Self-checks of the NumPy reference, run by the test suite (non-zero exit on failure).

- tiny models: GGUF and HF variants of the same weights agree (< 1e-4),
  sharded == unsharded, Q8_0 stays close to f32, KV-cache decode == full forward,
  and expected.json is reproduced;
- the NumPy Llama, GPT-2 and BERT match the torch implementations in
  torch_crosscheck.py on the tiny models, and the NumPy BERT matches torch on
  all-MiniLM-L6-v2 (< 1e-4) when models/ has it (skipped otherwise).

Usage: check_reference.py [--tiny-dir DIR] [--repo DIR]
  Without --tiny-dir the tiny models are generated into a temporary folder.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mnemo_ref import load_model, forward, KVCache  # noqa: E402
from mnemo_ref.hf_reader import read_safetensors  # noqa: E402

RESULTS = {"passed": 0, "failed": 0, "skipped": 0}


def check(name, fn):
    try:
        detail = fn()
        if detail == "skip":
            RESULTS["skipped"] += 1
            print(f"SKIP {name}")
            return
        RESULTS["passed"] += 1
        print(f"PASS {name}" + (f" ({detail})" if detail else ""))
    except Exception as exc:  # noqa: BLE001 — every failure is reported, then counted
        RESULTS["failed"] += 1
        print(f"FAIL {name}: {exc}")
        traceback.print_exc(limit=2)


def max_diff(a, b):
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def expect_close(a, b, tol, what=""):
    d = max_diff(a, b)
    assert d < tol, f"{what} max |diff| {d:.3g} >= {tol}"
    return f"max |diff| {d:.2e}"


def output(model, ids):
    r = forward(model, ids)
    return r.logits if r.logits is not None else r.hidden


def run_checks(tiny, repo):
    expected = json.loads((tiny / "expected.json").read_text())
    entries = expected["models"]
    models = {name: load_model(tiny / e["path"]) for name, e in entries.items()}

    for arch, a, b in [("gpt2", "gpt2-gguf", "gpt2-hf"), ("llama", "llama-gguf", "llama-hf"),
                       ("bert", "bert-gguf", "bert-hf")]:
        ids = entries[a]["input_ids"]
        check(f"{arch}: GGUF vs HF agree", lambda a=a, b=b, ids=ids:
              expect_close(output(models[a], ids), output(models[b], ids), 1e-4))

    check("llama: sharded == unsharded weights", lambda: _same_weights(tiny / "llama-hf", tiny / "llama-hf-sharded"))
    ids = entries["llama-gguf"]["input_ids"]
    check("llama: Q8_0 close to f32", lambda: _q8_close(output(models["llama-gguf-q8_0"], ids),
                                                       output(models["llama-gguf"], ids)))
    for name in ("gpt2-gguf", "llama-gguf", "llama-hf"):
        check(f"{name}: KV-cache decode == full forward", lambda name=name: _cache_consistent(models[name], ids))

    for name, e in entries.items():
        key = "logits" if "logits" in e else "hidden"
        check(f"{name}: reproduces expected.json", lambda name=name, e=e, key=key:
              expect_close(output(models[name], e["input_ids"]), np.load(tiny / e[key]), 1e-6))

    import torch_crosscheck as tc
    for arch, fn in (("llama", tc.llama_logits), ("gpt2", tc.gpt2_logits), ("bert", tc.bert_hidden)):
        folder = tiny / f"{arch}-hf"
        ids = entries[f"{arch}-hf"]["input_ids"]
        check(f"{arch}: NumPy vs torch (tiny)", lambda folder=folder, ids=ids, fn=fn, name=f"{arch}-hf":
              expect_close(output(models[name], ids),
                           fn(read_safetensors(folder), json.loads((folder / "config.json").read_text()), ids), 1e-4))

    check("MiniLM: NumPy BERT vs torch", lambda: _minilm_vs_torch(repo / "models" / "all-MiniLM-L6-v2", tc))


def _same_weights(a, b):
    wa, wb = load_model(a).weights, load_model(b).weights
    assert wa.keys() == wb.keys(), "tensor names differ"
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), f"{k} differs"
    return f"{len(wa)} tensors identical"


def _q8_close(q, f):
    rel = float(np.linalg.norm(q - f) / np.linalg.norm(f))
    assert rel < 0.05, f"relative L2 {rel:.3g}"
    top2 = np.sort(f, axis=-1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 0.1  # quantization may flip near-ties only
    assert np.array_equal(q.argmax(-1)[clear], f.argmax(-1)[clear]), "argmax differs at a clear position"
    return f"relative L2 {rel:.2e}, argmax equal at {int(clear.sum())}/{len(clear)} clear positions"


def _cache_consistent(model, ids):
    full = forward(model, ids).logits
    cache = KVCache()
    parts = [forward(model, ids[:5], cache).logits]
    parts += [forward(model, [i], cache).logits for i in ids[5:]]
    return expect_close(np.concatenate(parts), full, 1e-4)


def _minilm_vs_torch(folder, tc):
    if not (folder / "model.safetensors").exists():
        return "skip"
    from tokenizers import Tokenizer
    model = load_model(folder)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    cfg = json.loads((folder / "config.json").read_text())
    raw = read_safetensors(folder)
    worst = 0.0
    for text in ("The cat sits on the mat.", "Mnemoscope inspects transformer internals, layer by layer!"):
        ids = tok.encode(text).ids
        d = max_diff(forward(model, ids).hidden, tc.bert_hidden(raw, cfg, ids))
        assert d < 1e-4, f"max |diff| {d:.3g} on {text!r}"
        worst = max(worst, d)
    return f"max |diff| {worst:.2e}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny-dir", type=Path)
    parser.add_argument("--repo", type=Path, default=HERE.parents[1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = args.tiny_dir
        if tiny is None or not (tiny / "expected.json").exists():
            tiny = tiny or Path(tmp)
            subprocess.run([sys.executable, str(HERE / "make_tiny_models.py"), str(tiny)], check=True)
        run_checks(tiny, args.repo)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed, {RESULTS['skipped']} skipped")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
