#!/usr/bin/env python3
"""Write tiny random gpt2 / llama / bert models in GGUF and HF form plus expected outputs.

Usage: make_tiny_models.py OUTDIR

Layout (all deterministic, fixed seeds):
  OUTDIR/gpt2-gguf/model.gguf         f32, tied head duplicated as output.weight (as llama.cpp does)
  OUTDIR/gpt2-hf/                     config.json, model.safetensors, tokenizer.json, vocab.json, merges.txt
  OUTDIR/llama-gguf/model.gguf        f32 (q/k rows permuted for interleaved RoPE), separate output head
  OUTDIR/llama-gguf-q8_0/model.gguf   Q8_0 matrices, f32 norms
  OUTDIR/llama-hf/, OUTDIR/llama-hf-sharded/ (2 shards + model.safetensors.index.json)
  OUTDIR/bert-gguf/model.gguf         f16 matrices, f32 norms/biases, WordPiece as tokenizer.ggml.model "bert"
  OUTDIR/bert-hf/                     config.json, model.safetensors, tokenizer.json, vocab.txt
  OUTDIR/expected.json, OUTDIR/expected/<variant>.{logits,hidden,mean_pooled}.npy

Weights are drawn rounded to float16-representable values so that the f16
GGUF holds exactly the same numbers as the f32 files.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnemo_ref  # noqa: E402
from mnemo_ref import ModelConfig, load_model, forward, greedy_generate  # noqa: E402
from mnemo_ref.forward import mean_pool  # noqa: E402
from mnemo_ref.writers import hf_to_gguf_weights, write_gguf, write_hf  # noqa: E402
import tiny_tokenizers  # noqa: E402

PROMPT_TEXT = "The capital of France is Paris. The quick brown fox jumps over the lazy dog."
N_PROMPT = 12
N_GREEDY = 8


class WeightMaker:
    """Seeded normal weights rounded through float16."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, shape, std, mean=0.0):
        a = self.rng.normal(mean, std, size=shape)
        return a.astype(np.float16).astype(np.float32)

    def linear(self, n_out, n_in, gain=1.0):
        return self.normal((n_out, n_in), gain / np.sqrt(n_in))

    def norm(self, n):
        return self.normal((n,), 0.1, mean=1.0)

    def bias(self, n):
        return self.normal((n,), 0.05)


def gpt2_weights(c: ModelConfig, seed=1):
    m, d, f = WeightMaker(seed), c.d_model, c.d_ff
    w = {"wte.weight": m.normal((c.vocab_size, d), 1.0), "wpe.weight": m.normal((c.n_ctx, d), 0.5),
         "ln_f.weight": m.norm(d), "ln_f.bias": m.bias(d)}
    for i in range(c.n_layer):
        p = f"h.{i}."
        # Conv1D stores [in, out]
        w.update({p + "ln_1.weight": m.norm(d), p + "ln_1.bias": m.bias(d),
                  p + "attn.c_attn.weight": m.linear(3 * d, d, gain=2.0).T.copy(), p + "attn.c_attn.bias": m.bias(3 * d),
                  p + "attn.c_proj.weight": m.linear(d, d).T.copy(), p + "attn.c_proj.bias": m.bias(d),
                  p + "ln_2.weight": m.norm(d), p + "ln_2.bias": m.bias(d),
                  p + "mlp.c_fc.weight": m.linear(f, d, gain=2.0).T.copy(), p + "mlp.c_fc.bias": m.bias(f),
                  p + "mlp.c_proj.weight": m.linear(d, f).T.copy(), p + "mlp.c_proj.bias": m.bias(d)})
    return w


def llama_weights(c: ModelConfig, seed=2):
    m, d, f, hd = WeightMaker(seed), c.d_model, c.d_ff, c.head_dim
    w = {"model.embed_tokens.weight": m.normal((c.vocab_size, d), 1.0), "model.norm.weight": m.norm(d),
         "lm_head.weight": m.linear(c.vocab_size, d, gain=3.0)}
    for i in range(c.n_layer):
        p = f"model.layers.{i}."
        w.update({p + "input_layernorm.weight": m.norm(d),
                  p + "self_attn.q_proj.weight": m.linear(c.n_head * hd, d, gain=2.0),
                  p + "self_attn.k_proj.weight": m.linear(c.n_head_kv * hd, d, gain=2.0),
                  p + "self_attn.v_proj.weight": m.linear(c.n_head_kv * hd, d),
                  p + "self_attn.o_proj.weight": m.linear(d, c.n_head * hd),
                  p + "post_attention_layernorm.weight": m.norm(d),
                  p + "mlp.gate_proj.weight": m.linear(f, d), p + "mlp.up_proj.weight": m.linear(f, d),
                  p + "mlp.down_proj.weight": m.linear(d, f)})
    return w


def bert_weights(c: ModelConfig, seed=3):
    m, d, f = WeightMaker(seed), c.d_model, c.d_ff
    w = {"embeddings.word_embeddings.weight": m.normal((c.vocab_size, d), 0.5),
         "embeddings.position_embeddings.weight": m.normal((c.n_ctx, d), 0.2),
         "embeddings.token_type_embeddings.weight": m.normal((c.type_vocab_size, d), 0.2),
         "embeddings.LayerNorm.weight": m.norm(d), "embeddings.LayerNorm.bias": m.bias(d)}
    for i in range(c.n_layer):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            w[p + f"attention.self.{name}.weight"] = m.linear(d, d, gain=1.5)
            w[p + f"attention.self.{name}.bias"] = m.bias(d)
        w.update({p + "attention.output.dense.weight": m.linear(d, d), p + "attention.output.dense.bias": m.bias(d),
                  p + "attention.output.LayerNorm.weight": m.norm(d), p + "attention.output.LayerNorm.bias": m.bias(d),
                  p + "intermediate.dense.weight": m.linear(f, d), p + "intermediate.dense.bias": m.bias(f),
                  p + "output.dense.weight": m.linear(d, f), p + "output.dense.bias": m.bias(d),
                  p + "output.LayerNorm.weight": m.norm(d), p + "output.LayerNorm.bias": m.bias(d)})
    return w


def hf_config(c: ModelConfig, extra):
    if c.arch == "gpt2":
        cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": c.d_model, "n_layer": c.n_layer,
               "n_head": c.n_head, "n_inner": c.d_ff, "n_positions": c.n_ctx, "n_ctx": c.n_ctx,
               "vocab_size": c.vocab_size, "layer_norm_epsilon": c.norm_eps, "activation_function": "gelu_new",
               "tie_word_embeddings": True}
    elif c.arch == "llama":
        cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": c.d_model,
               "intermediate_size": c.d_ff, "num_hidden_layers": c.n_layer, "num_attention_heads": c.n_head,
               "num_key_value_heads": c.n_head_kv, "head_dim": c.head_dim, "max_position_embeddings": c.n_ctx,
               "rms_norm_eps": c.norm_eps, "rope_theta": c.rope_theta, "vocab_size": c.vocab_size,
               "hidden_act": "silu", "tie_word_embeddings": False}
    else:
        cfg = {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": c.d_model,
               "num_hidden_layers": c.n_layer, "num_attention_heads": c.n_head, "intermediate_size": c.d_ff,
               "max_position_embeddings": c.n_ctx, "type_vocab_size": c.type_vocab_size,
               "layer_norm_eps": c.norm_eps, "hidden_act": "gelu", "vocab_size": c.vocab_size,
               "position_embedding_type": "absolute", "pad_token_id": 0}
    cfg.update({"torch_dtype": "float32"}, **extra)
    return cfg


def write_tokenizer_files(folder, tok, arch):
    tok.save(str(folder / "tokenizer.json"))
    if arch in ("gpt2", "bert"):
        tok.model.save(str(folder))  # vocab.json + merges.txt (BPE) or vocab.txt (WordPiece)


def build(outdir: Path):
    bpe, wordpiece = tiny_tokenizers.train_bpe(), tiny_tokenizers.train_wordpiece()
    bpe_meta, wp_meta = tiny_tokenizers.bpe_gguf_meta(bpe), tiny_tokenizers.wordpiece_gguf_meta(wordpiece)
    eot = bpe.token_to_id("<|endoftext|>")
    common = dict(n_layer=2, d_model=64, d_ff=128, n_ctx=128)
    configs = {
        "gpt2": ModelConfig(arch="gpt2", n_head=4, n_head_kv=4, vocab_size=bpe.get_vocab_size(), norm_eps=1e-5, **common),
        "llama": ModelConfig(arch="llama", n_head=4, n_head_kv=2, vocab_size=bpe.get_vocab_size(), norm_eps=1e-5,
                             rope_theta=10000.0, **common),
        "bert": ModelConfig(arch="bert", n_head=4, n_head_kv=4, vocab_size=wordpiece.get_vocab_size(), norm_eps=1e-12,
                            type_vocab_size=2, **common),
    }
    makers = {"gpt2": gpt2_weights, "llama": llama_weights, "bert": bert_weights}
    variants = {}  # name -> (arch, relative path, format, dtype)
    for arch, c in configs.items():
        hf_w = makers[arch](c)
        tok, meta = (wordpiece, wp_meta) if arch == "bert" else (bpe, bpe_meta)
        extra = {} if arch == "bert" else {"bos_token_id": eot, "eos_token_id": eot}
        gguf_w = hf_to_gguf_weights(arch, hf_w, c.n_head, c.n_head_kv)
        dtypes = {"gpt2": ["f32"], "llama": ["f32", "q8_0"], "bert": ["f16"]}[arch]
        for dtype in dtypes:
            name = f"{arch}-gguf" if dtype == dtypes[0] else f"{arch}-gguf-{dtype}"
            write_gguf(outdir / name / "model.gguf", arch, c, gguf_w, meta, dtype=dtype, name=f"mnemoscope-tiny-{arch}")
            variants[name] = (arch, f"{name}/model.gguf", "gguf", dtype)
        shard_counts = {"hf": 1, "hf-sharded": 2} if arch == "llama" else {"hf": 1}
        for suffix, n_shards in shard_counts.items():
            name = f"{arch}-{suffix}"
            write_hf(outdir / name, hf_config(c, extra), hf_w, n_shards=n_shards)
            write_tokenizer_files(outdir / name, tok, arch)
            variants[name] = (arch, name, "hf", "f32")
    return variants, bpe, wordpiece


def expected_outputs(outdir, variants, bpe, wordpiece):
    (outdir / "expected").mkdir(exist_ok=True)
    bpe_ids = bpe.encode(PROMPT_TEXT).ids
    wp_ids = wordpiece.encode(PROMPT_TEXT).ids
    entries = {}
    for name, (arch, rel, fmt, dtype) in variants.items():
        model = load_model(outdir / rel)
        entry = {"arch": arch, "format": fmt, "weight_dtype": dtype, "path": rel, "config": model.config.to_dict()}
        if arch == "bert":
            ids = wp_ids[:N_PROMPT - 1] + [wp_ids[-1]]  # keep [CLS] ... [SEP]
            hidden = forward(model, ids).hidden
            np.save(outdir / "expected" / f"{name}.hidden.npy", hidden)
            np.save(outdir / "expected" / f"{name}.mean_pooled.npy", mean_pool(hidden))
            entry.update({"input_ids": ids, "hidden": f"expected/{name}.hidden.npy", "hidden_shape": list(hidden.shape),
                          "mean_pooled": f"expected/{name}.mean_pooled.npy"})
        else:
            ids = bpe_ids[:N_PROMPT]
            logits = forward(model, ids).logits
            greedy, steps = greedy_generate(model, ids, N_GREEDY)
            np.save(outdir / "expected" / f"{name}.logits.npy", logits)
            margins = [float(np.diff(np.partition(s, -2)[-2:])[0]) for s in steps]
            entry.update({"input_ids": ids, "logits": f"expected/{name}.logits.npy", "logits_shape": list(logits.shape),
                          "greedy_ids": greedy, "greedy_text": bpe.decode(greedy),
                          "greedy_min_margin": round(min(margins), 5)})
        entries[name] = entry
    return {
        "format_version": 1,
        "generator": {"script": "tools/reference/make_tiny_models.py", "mnemo_ref_version": mnemo_ref.__version__},
        "prompt_text": PROMPT_TEXT,
        "prompt_text_ids": {"bpe": bpe_ids, "wordpiece": wp_ids},
        "greedy": {"n_new": N_GREEDY, "method": "prefill + 1-token decode steps with KV cache, argmax, no eos stop"},
        "tolerances": {"f32_or_f16_weights": {"max_abs": 1e-4, "rel": 1e-4},
                       "q8_0_weights_engine_f32_compute": {"max_abs": 1e-3},
                       "q8_0_weights_engine_quantized_activations": {"max_abs": 0.05},
                       "greedy": "exact ids"},
        "models": entries,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    variants, bpe, wordpiece = build(args.outdir)
    expected = expected_outputs(args.outdir, variants, bpe, wordpiece)
    (args.outdir / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(variants)} tiny model variants to {args.outdir}")


if __name__ == "__main__":
    main()
