"""Minimal torch implementations used ONLY to cross-check the NumPy reference.

They follow the HF modeling code's formulation (nn.functional ops, HF weight
names, rotate_half RoPE, repeat_kv for GQA) so agreement with mnemo_ref is
evidence that the NumPy math, not just its self-consistency, is right.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F


def _t(weights):
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in weights.items()}


def _sdpa(q, k, v, causal):
    """q [H,T,D], k/v [H,S,D]."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        t = q.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


@torch.inference_mode()
def bert_hidden(hf_weights, cfg, ids):
    W = {k.removeprefix("bert."): v for k, v in _t(hf_weights).items()}
    d, h, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    ids = torch.tensor(ids)
    t = len(ids)
    x = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:t]
         + W["embeddings.token_type_embeddings.weight"][0])
    x = F.layer_norm(x, (d,), W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, inp):
            return F.linear(inp, W[p + name + ".weight"], W[p + name + ".bias"])

        def heads(a):
            return a.view(t, h, d // h).transpose(0, 1)

        q, k, v = (heads(lin(f"attention.self.{n}", x)) for n in ("query", "key", "value"))
        a = _sdpa(q, k, v, causal=False).transpose(0, 1).reshape(t, d)
        x = F.layer_norm(x + lin("attention.output.dense", a), (d,), W[p + "attention.output.LayerNorm.weight"],
                         W[p + "attention.output.LayerNorm.bias"], eps)
        f = lin("output.dense", F.gelu(lin("intermediate.dense", x)))
        x = F.layer_norm(x + f, (d,), W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    return x.numpy()


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


@torch.inference_mode()
def llama_logits(hf_weights, cfg, ids):
    W = _t(hf_weights)
    d, h, hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = d // h, cfg["rms_norm_eps"], cfg["rope_theta"]
    ids = torch.tensor(ids)
    t = len(ids)
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(t, dtype=torch.float64), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    x = W["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        hs = rms(x, W[p + "input_layernorm.weight"])
        q = F.linear(hs, W[p + "self_attn.q_proj.weight"]).view(t, h, hd).transpose(0, 1)
        k = F.linear(hs, W[p + "self_attn.k_proj.weight"]).view(t, hkv, hd).transpose(0, 1)
        v = F.linear(hs, W[p + "self_attn.v_proj.weight"]).view(t, hkv, hd).transpose(0, 1)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k = k.repeat_interleave(h // hkv, dim=0)
        v = v.repeat_interleave(h // hkv, dim=0)
        a = _sdpa(q, k, v, causal=True).transpose(0, 1).reshape(t, d)
        x = x + F.linear(a, W[p + "self_attn.o_proj.weight"])
        hs = rms(x, W[p + "post_attention_layernorm.weight"])
        mlp = F.silu(F.linear(hs, W[p + "mlp.gate_proj.weight"])) * F.linear(hs, W[p + "mlp.up_proj.weight"])
        x = x + F.linear(mlp, W[p + "mlp.down_proj.weight"])
    x = rms(x, W["model.norm.weight"])
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return F.linear(x, head).numpy()


@torch.inference_mode()
def gpt2_logits(hf_weights, cfg, ids):
    W = {k.removeprefix("transformer."): v for k, v in _t(hf_weights).items()}
    d, h, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    ids = torch.tensor(ids)
    t = len(ids)
    x = W["wte.weight"][ids] + W["wpe.weight"][:t]

    def conv1d(name, inp):  # HF Conv1D: x @ W[in,out] + b
        return inp @ W[name + ".weight"] + W[name + ".bias"]

    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        hs = F.layer_norm(x, (d,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        q, k, v = (a.view(t, h, d // h).transpose(0, 1) for a in conv1d(p + "attn.c_attn", hs).split(d, dim=-1))
        a = _sdpa(q, k, v, causal=True).transpose(0, 1).reshape(t, d)
        x = x + conv1d(p + "attn.c_proj", a)
        hs = F.layer_norm(x, (d,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        x = x + conv1d(p + "mlp.c_proj", F.gelu(conv1d(p + "mlp.c_fc", hs), approximate="tanh"))
    x = F.layer_norm(x, (d,), W["ln_f.weight"], W["ln_f.bias"], eps)
    return F.linear(x, W.get("lm_head.weight", W["wte.weight"])).numpy()
