#!/usr/bin/env python3
"""PyTorch (CPU) baseline for Mnemoscope's benchmarks: a GPT-2-small-shaped fp32
model with random weights (12 layers, d=768, 12 heads, ffn 3072, vocab 50257,
ctx 1024), written here as a minimal torch module (no transformers).

Measures, under torch.inference_mode():
  - prefill at T=128, 512, 1024 (tokens/s; logits computed for the last position only),
  - greedy decode with a KV cache (tokens/s over --decode-steps steps after a 128-token prefill),
for torch.set_num_threads 1 and 2, each in a fresh subprocess with
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS set to the same value,
and reports every setting plus the best one as JSON on stdout.

--write-model DIR saves the same random weights (seed --seed) as
DIR/gguf-f32/model.gguf, DIR/gguf-f16/model.gguf and DIR/hf/ (config.json +
model.safetensors) so the C++ engine can be benchmarked on identical weights.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

SHAPE = dict(n_layer=12, d_model=768, n_head=12, d_ff=3072, vocab=50257, n_ctx=1024)
PREFILL_LENGTHS = (128, 512, 1024)


def build_model(seed):
    """Random GPT-2 weights as an HF-named dict (Conv1D weights [in, out]), std 0.02 like GPT-2's init."""
    import torch
    g = torch.Generator().manual_seed(seed)
    s = SHAPE
    d, f = s["d_model"], s["d_ff"]

    def rnd(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    w = {"wte.weight": rnd(s["vocab"], d), "wpe.weight": rnd(s["n_ctx"], d, std=0.01),
         "ln_f.weight": torch.ones(d), "ln_f.bias": torch.zeros(d)}
    for i in range(s["n_layer"]):
        p = f"h.{i}."
        w.update({p + "ln_1.weight": torch.ones(d), p + "ln_1.bias": torch.zeros(d),
                  p + "attn.c_attn.weight": rnd(d, 3 * d), p + "attn.c_attn.bias": torch.zeros(3 * d),
                  p + "attn.c_proj.weight": rnd(d, d), p + "attn.c_proj.bias": torch.zeros(d),
                  p + "ln_2.weight": torch.ones(d), p + "ln_2.bias": torch.zeros(d),
                  p + "mlp.c_fc.weight": rnd(d, f), p + "mlp.c_fc.bias": torch.zeros(f),
                  p + "mlp.c_proj.weight": rnd(f, d), p + "mlp.c_proj.bias": torch.zeros(d)})
    return w


class GPT2:
    """Minimal GPT-2 forward with a KV cache (lists of [H, S, D] tensors per layer)."""

    def __init__(self, w):
        self.w = w
        self.h = SHAPE["n_head"]
        self.d = SHAPE["d_model"]

    def forward(self, ids, cache):
        import torch
        import torch.nn.functional as F
        w, d, h = self.w, self.d, self.h
        t = ids.shape[0]
        past = cache[0][0].shape[1] if cache else 0
        x = w["wte.weight"][ids] + w["wpe.weight"][past:past + t]
        for i in range(SHAPE["n_layer"]):
            p = f"h.{i}."
            a = F.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], 1e-5)
            qkv = torch.addmm(w[p + "attn.c_attn.bias"], a, w[p + "attn.c_attn.weight"])
            q, k, v = (z.view(t, h, d // h).transpose(0, 1) for z in qkv.split(d, dim=-1))
            if len(cache) > i:
                k = torch.cat([cache[i][0], k], dim=1)
                v = torch.cat([cache[i][1], v], dim=1)
                cache[i] = (k, v)
            else:
                cache.append((k, v))
            scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d // h))
            if t > 1:
                mask = torch.ones(t, k.shape[1], dtype=torch.bool).tril(diagonal=past)
                scores = scores.masked_fill(~mask, float("-inf"))
            att = (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(t, d)
            x = x + torch.addmm(w[p + "attn.c_proj.bias"], att, w[p + "attn.c_proj.weight"])
            m = F.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], 1e-5)
            m = F.gelu(torch.addmm(w[p + "mlp.c_fc.bias"], m, w[p + "mlp.c_fc.weight"]), approximate="tanh")
            x = x + torch.addmm(w[p + "mlp.c_proj.bias"], m, w[p + "mlp.c_proj.weight"])
        last = F.layer_norm(x[-1:], (d,), w["ln_f.weight"], w["ln_f.bias"], 1e-5)
        return last @ w["wte.weight"].T  # logits for the last position only


def measure(threads, reps, decode_steps, seed):
    import torch
    torch.set_num_threads(threads)
    model = GPT2(build_model(seed))
    g = torch.Generator().manual_seed(seed + 1)
    out = {"threads": threads, "prefill": {}, "decode": {}}
    with torch.inference_mode():
        model.forward(torch.randint(0, SHAPE["vocab"], (32,), generator=g), [])  # warm-up
        for t in PREFILL_LENGTHS:
            ids = torch.randint(0, SHAPE["vocab"], (t,), generator=g)
            best = math.inf
            for _ in range(reps):
                start = time.perf_counter()
                model.forward(ids, [])
                best = min(best, time.perf_counter() - start)
            out["prefill"][str(t)] = {"seconds": round(best, 4), "tokens_per_s": round(t / best, 1)}
        ids = torch.randint(0, SHAPE["vocab"], (128,), generator=g)
        best = math.inf
        for _ in range(reps):
            cache = []
            logits = model.forward(ids, cache)
            start = time.perf_counter()
            for _ in range(decode_steps):
                next_id = logits[-1].argmax().view(1)
                logits = model.forward(next_id, cache)
            best = min(best, time.perf_counter() - start)
        out["decode"] = {"prompt_tokens": 128, "steps": decode_steps, "seconds": round(best, 4),
                         "tokens_per_s": round(decode_steps / best, 2)}
    return out


def write_model(folder, seed):
    """Same random weights as the benchmark, in GGUF f32/f16 and as an HF folder."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "reference"))
    from mnemo_ref import ModelConfig
    from mnemo_ref.writers import hf_to_gguf_weights, write_gguf, write_hf
    s = SHAPE
    hf = {k: v.numpy() for k, v in build_model(seed).items()}
    config = ModelConfig(arch="gpt2", n_layer=s["n_layer"], d_model=s["d_model"], n_head=s["n_head"],
                         n_head_kv=s["n_head"], d_ff=s["d_ff"], n_ctx=s["n_ctx"], vocab_size=s["vocab"], norm_eps=1e-5)
    # The 256 byte symbols of GPT-2's byte-level alphabet, then placeholders: a valid tokenizer
    # (every text encodes to byte tokens), although the benchmark feeds token ids directly.
    printable = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    extra = iter(range(256, 512))
    byte_symbols = [chr(b) if b in printable else chr(next(extra)) for b in range(256)]
    tokens = byte_symbols + ["\u0120t"] + [f"<tok{i}>" for i in range(257, s["vocab"] - 1)] + ["<|endoftext|>"]
    meta = {"model": "gpt2", "pre": "gpt-2", "tokens": tokens, "merges": ["\u0120 t"],
            "token_types": [1] * (s["vocab"] - 1) + [3], "bos": s["vocab"] - 1, "eos": s["vocab"] - 1, "add_bos": False}
    gguf_w = hf_to_gguf_weights("gpt2", hf)
    for dtype in ("f32", "f16"):
        write_gguf(Path(folder) / f"gguf-{dtype}" / "model.gguf", "gpt2", config, gguf_w, meta, dtype=dtype,
                   name="mnemoscope-bench-gpt2-random")
    hf_cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": s["d_model"], "n_layer": s["n_layer"],
              "n_head": s["n_head"], "n_inner": s["d_ff"], "n_positions": s["n_ctx"], "n_ctx": s["n_ctx"],
              "vocab_size": s["vocab"], "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
              "tie_word_embeddings": True, "torch_dtype": "float32"}
    write_hf(Path(folder) / "hf", hf_cfg, hf)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=2, help="repetitions per measurement; the best is kept")
    ap.add_argument("--decode-steps", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--write-model", type=Path, metavar="DIR")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.reps, args.decode_steps, args.seed)))
        return
    if args.write_model:
        write_model(args.write_model, args.seed)
    import torch
    runs = []
    for n in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
        cmd = [sys.executable, __file__, "--child", str(n), "--reps", str(args.reps),
               "--decode-steps", str(args.decode_steps), "--seed", str(args.seed)]
        runs.append(json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout))
    best = {"prefill": {str(t): max(runs, key=lambda r: r["prefill"][str(t)]["tokens_per_s"])["threads"]
                        for t in PREFILL_LENGTHS},
            "decode": max(runs, key=lambda r: r["decode"]["tokens_per_s"])["threads"]}
    report = {"framework": f"torch {torch.__version__} (CPU)", "model": "gpt2-small-shaped fp32, random weights",
              "shape": SHAPE, "seed": args.seed, "logits": "last position only", "cpu_count": os.cpu_count(),
              "runs": runs, "best_threads": best,
              "best": {"prefill_tokens_per_s": {t: next(r for r in runs if r["threads"] == n)["prefill"][t]["tokens_per_s"]
                                                for t, n in best["prefill"].items()},
                       "decode_tokens_per_s": next(r for r in runs if r["threads"] == best["decode"])["decode"]["tokens_per_s"]},
              "model_files": str(args.write_model) if args.write_model else None}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
