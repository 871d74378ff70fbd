#!/usr/bin/env python3
"""make_family_models.py [--size test|bench] OUTDIR: tiny random models of the recurrent families, in the layouts the
linear and mamba plugins read (flash-linear-attention's model names and fla's model_type names;
Hugging Face's Mamba and Mamba-2 names), with the reference's outputs.

The reference assembles each model in plain torch (pre-norm blocks, RMSNorm, SwiGLU, the
projections and output norms of each layer) around the field's own mixer references, loaded by
family_references.py: fla-core's naive recurrent forms (linear attention, retention, GLA, delta
rule, gated delta rule) and mamba_ssm's selective_scan_ref and ssd_minimal_discrete.

OUTDIR/<name>/            config.json, model.safetensors, tokenizer.json
OUTDIR/expected/<name>.logits.npy     [T][vocab], every position, one pass from a zero state
OUTDIR/expected/<name>.residual.npy   [layers][T][d], the residual stream after each block
OUTDIR/expected/<name>.hf_logits.npy  mamba, mamba2: Hugging Face's own MambaForCausalLM /
                          Mamba2ForCausalLM on the same folder (a second, independent reference),
                          when transformers is importable (.venv/hf-reference, see
                          tools/reference/requirements-hf.txt)
OUTDIR/expected.json      per model: path, input ids, files.

--size bench writes wider models (SIZES) with no expected outputs, for benchmarks."""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import family_references as refs  # noqa: E402
import tiny_tokenizers  # noqa: E402
from mnemo_ref.writers import write_hf  # noqa: E402

PROMPT_TEXT = "The capital of France is Paris. The quick brown fox jumps over the lazy dog."
N_TOKENS = 80  # more than one 64-token chunk, so the chunked prefill passes state between chunks
EPS = 1e-6
# Sizes: "test" models are tiny, so the tests that compare them with the references run in
# seconds; "bench" models have the widths of small published models of these families (head
# dimensions 64-128, Mamba's 16 states per channel, Mamba-2's 64) at 8 layers, so that recording
# overhead is measured on kernels of a realistic shape (bench/session/bench_recording.py). HS and DS
# multiply each family's head count and head (and state) dimensions.
SIZES = {"test": dict(D=32, LAYERS=2, D_FF=64, HS=1, DS=1), "bench": dict(D=512, LAYERS=8, D_FF=1024, HS=2, DS=8)}
D, LAYERS, D_FF, HS, DS = SIZES["test"].values()


class Maker:
    """Seeded normal weights."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0, mean=0.0):
        return mean + std * torch.randn(*shape, generator=self.g)

    def linear(self, n_out, n_in, gain=1.0):
        return self.normal(n_out, n_in, std=gain / n_in ** 0.5)

    def norm(self, n):
        return self.normal(n, std=0.1, mean=1.0)


def rms(x, w, eps=EPS):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def l2(x):  # fla's l2norm: x / sqrt(Σx² + 1e-6)
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-6)


def rope_neox(x, theta=10000.0):
    """x [B][T][H][d], rotate-half RoPE at positions 0..T-1."""
    T, d = x.shape[-3], x.shape[-1]
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]
    cos, sin = ang.cos().float()[:, None], ang.sin().float()[:, None]
    a, b = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)


def swiglu(w, p, x):
    return (F.silu(x @ w[p + "gate_proj.weight"].T) * (x @ w[p + "up_proj.weight"].T)) @ w[p + "down_proj.weight"].T


# --- the linear plugin's architectures (fla layout) ---------------------------------------------

def fla_frame(m, vocab, attn_layers=()):
    w = {"model.embeddings.weight": m.normal(vocab, D), "model.norm.weight": m.norm(D),
         "lm_head.weight": m.linear(vocab, D, gain=2.0)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w.update({p + "attn_norm.weight": m.norm(D), p + "mlp_norm.weight": m.norm(D),
                  p + "mlp.gate_proj.weight": m.linear(D_FF, D), p + "mlp.up_proj.weight": m.linear(D_FF, D),
                  p + "mlp.down_proj.weight": m.linear(D, D_FF)})
    return w


def qkvo(m, w, p, H, dk, dv):
    w.update({p + "q_proj.weight": m.linear(H * dk, D, gain=2.0), p + "k_proj.weight": m.linear(H * dk, D, gain=2.0),
              p + "v_proj.weight": m.linear(H * dv, D), p + "o_proj.weight": m.linear(D, H * dv)})


def project(w, p, x, H, dk, dv):
    lead = x.shape[:-1]  # [B][T]
    q = (x @ w[p + "q_proj.weight"].T).view(*lead, H, dk)
    k = (x @ w[p + "k_proj.weight"].T).view(*lead, H, dk)
    v = (x @ w[p + "v_proj.weight"].T).view(*lead, H, dv)
    return q, k, v


def out_norm(w, p, o, name, x=None):
    """Per-head RMSNorm of o [B][T][H][dv], times silu(g_proj x) when gated; then o_proj."""
    o = rms(o, w[p + name + ".weight"]).flatten(-2)
    if x is not None:
        o = o * F.silu(x @ w[p + "g_proj.weight"].T)
    return o @ w[p + "o_proj.weight"].T


def softmax_attention(w, p, x, H, KV, window=0):
    """Causal softmax attention (GQA, rotate-half RoPE); with `window`, each query sees the last
    `window` positions, its own included (transformers' Mistral: key > query - window)."""
    B, T, d = x.shape
    hd = d // H
    q = rope_neox((x @ w[p + "q_proj.weight"].T).view(B, T, H, hd))
    k = rope_neox((x @ w[p + "k_proj.weight"].T).view(B, T, KV, hd)).repeat_interleave(H // KV, 2)
    v = (x @ w[p + "v_proj.weight"].T).view(B, T, KV, hd).repeat_interleave(H // KV, 2)
    s = torch.einsum("bihd,bjhd->bhij", q, k) * hd ** -0.5
    hidden = torch.ones(T, T, dtype=torch.bool).triu(1)
    if window:
        hidden |= torch.ones(T, T, dtype=torch.bool).tril(-window)
    s = s.masked_fill(hidden, float("-inf"))
    o = torch.einsum("bhij,bjhd->bihd", s.softmax(-1), v).reshape(B, T, H * hd)
    return o @ w[p + "o_proj.weight"].T


def linear_attn_model(m, vocab):
    H, dk, dv = 4 * HS, 8 * DS, 8 * DS
    cfg = {"model_type": "linear_attn", "hidden_size": D, "num_hidden_layers": LAYERS, "num_heads": H, "expand_k": 1,
           "expand_v": 1, "feature_map": "elu", "norm_eps": EPS, "vocab_size": vocab, "tie_word_embeddings": False}
    w = fla_frame(m, vocab)
    for i in range(LAYERS):
        p = f"model.layers.{i}.attn."
        qkvo(m, w, p, H, dk, dv)
        w[p + "norm.weight"] = m.norm(dv)

    attend = _FORMS.get("linear_attn") or refs.fla_naive("linear_attn").naive_recurrent_linear_attn

    def mixer(i, x):
        p = f"model.layers.{i}.attn."
        q, k, v = project(w, p, x, H, dk, dv)
        o, _ = attend(F.elu(q) + 1, F.elu(k) + 1, v, scale=dk ** -0.5)
        return out_norm(w, p, o, "norm")
    return cfg, w, mixer


def retnet_model(m, vocab):
    H, dk, dv = 4 * HS, 8 * DS, 16 * DS
    cfg = {"model_type": "retnet", "hidden_size": D, "num_hidden_layers": LAYERS, "num_heads": H, "expand_k": 1,
           "expand_v": 2, "norm_eps": EPS, "vocab_size": vocab, "tie_word_embeddings": False}
    w = fla_frame(m, vocab)
    for i in range(LAYERS):
        p = f"model.layers.{i}.attn."
        qkvo(m, w, p, H, dk, dv)
        w[p + "g_proj.weight"] = m.linear(H * dv, D)
        w[p + "g_norm_swish_gate.weight"] = m.norm(dv)

    def mixer(i, x):
        p = f"model.layers.{i}.attn."
        q, k, v = project(w, p, x, H, dk, dv)
        q, k = rope_neox(q), rope_neox(k)
        o = refs.fla_naive("retention").naive_retention(*(t.transpose(1, 2) for t in (q, k, v)))
        return out_norm(w, p, o.transpose(1, 2), "g_norm_swish_gate", x)
    return cfg, w, mixer


def gla_model(m, vocab, short_conv=False):
    H, dk, dv, rank, K = 4 * HS, 4 * DS, 8 * DS, 8 * DS, 4
    cfg = {"model_type": "gla", "hidden_size": D, "num_hidden_layers": LAYERS, "num_heads": H, "expand_k": 0.5,
           "expand_v": 1, "use_short_conv": short_conv, "norm_eps": EPS, "vocab_size": vocab, "tie_word_embeddings": False}
    if short_conv:
        cfg["conv_size"] = K
    w = fla_frame(m, vocab)
    for i in range(LAYERS):
        p = f"model.layers.{i}.attn."
        qkvo(m, w, p, H, dk, dv)
        w.update({p + "gk_proj.0.weight": m.linear(rank, D), p + "gk_proj.1.weight": m.linear(H * dk, rank, gain=2.0),
                  p + "gk_proj.1.bias": m.normal(H * dk, std=0.5), p + "g_proj.weight": m.linear(H * dv, D),
                  p + "g_norm_swish_gate.weight": m.norm(dv)})
        if short_conv:
            short_convs(m, w, p, K, H * dk, H * dv)

    attend = _FORMS.get("gla") or refs.fla_naive("gla").naive_recurrent_gla

    def mixer(i, x):
        p = f"model.layers.{i}.attn."
        q, k, v = project(w, p, x, H, dk, dv)
        if short_conv:
            q, k, v = short_conv_qkv(w, p, q, k, v)
        gk = F.logsigmoid((x @ w[p + "gk_proj.0.weight"].T) @ w[p + "gk_proj.1.weight"].T + w[p + "gk_proj.1.bias"]) / 16
        o, _ = attend(q, k, v, gk.view(*x.shape[:-1], H, dk))
        return out_norm(w, p, o, "g_norm_swish_gate", x)
    return cfg, w, mixer


def delta_net_model(m, vocab):
    H, dk, dv, K = 4 * HS, 8 * DS, 8 * DS, 4
    cfg = {"model_type": "delta_net", "hidden_size": D, "num_hidden_layers": LAYERS, "num_heads": H, "expand_k": 1,
           "expand_v": 1, "use_short_conv": True, "conv_size": K, "use_gate": False, "qk_activation": "silu", "qk_norm": "l2",
           "norm_eps": EPS, "vocab_size": vocab, "tie_word_embeddings": True}
    w = fla_frame(m, vocab)
    del w["lm_head.weight"]
    for i in range(LAYERS):
        p = f"model.layers.{i}.attn."
        qkvo(m, w, p, H, dk, dv)
        w.update({p + "b_proj.weight": m.linear(H, D), p + "o_norm.weight": m.norm(dv)})
        short_convs(m, w, p, K, H * dk, H * dv)

    attend = _FORMS.get("delta_rule") or refs.fla_naive("delta_rule").delta_rule_recurrence

    def mixer(i, x):
        p = f"model.layers.{i}.attn."
        q, k, v = qkv_activations(w, p, *project(w, p, x, H, dk, dv), short_conv=True)
        beta = torch.sigmoid(x @ w[p + "b_proj.weight"].T)
        o, _ = attend(*(t.transpose(1, 2) for t in (q, k, v, beta)))
        return out_norm(w, p, o.transpose(1, 2), "o_norm")
    return cfg, w, mixer


def gated_deltanet_model(m, vocab, attn_layers=(), short_conv=True):
    H, dk, dv, K = 2 * HS, 8 * DS, 16 * DS, 4
    cfg = {"model_type": "gated_deltanet", "hidden_size": D, "num_hidden_layers": LAYERS, "num_heads": H,
           "head_dim": dk, "expand_v": 2, "use_gate": True, "use_short_conv": short_conv, "conv_size": K, "norm_eps": EPS,
           "vocab_size": vocab, "tie_word_embeddings": False}
    if attn_layers:
        cfg["attn"] = {"layers": list(attn_layers), "num_heads": 4, "num_kv_heads": 2, "rope_theta": 10000.0}
    w = fla_frame(m, vocab)
    for i in range(LAYERS):
        p = f"model.layers.{i}.attn."
        if i in attn_layers:
            w.update({p + "q_proj.weight": m.linear(D, D, gain=2.0), p + "k_proj.weight": m.linear(D // 2, D, gain=2.0),
                      p + "v_proj.weight": m.linear(D // 2, D), p + "o_proj.weight": m.linear(D, D)})
            continue
        qkvo(m, w, p, H, dk, dv)
        w.update({p + "a_proj.weight": m.linear(H, D), p + "b_proj.weight": m.linear(H, D),
                  p + "A_log": torch.log(torch.empty(H).uniform_(1, 16, generator=m.g)),
                  p + "dt_bias": m.normal(H, std=0.5) - 2, p + "g_proj.weight": m.linear(H * dv, D),
                  p + "o_norm.weight": m.norm(dv)})
        if short_conv:
            short_convs(m, w, p, K, H * dk, H * dv)

    attend = _FORMS.get("gated_delta_rule") or refs.fla_naive("gated_delta_rule").naive_recurrent_gated_delta_rule

    def mixer(i, x):
        p = f"model.layers.{i}.attn."
        if i in attn_layers:
            return softmax_attention(w, p, x, 4, 2)
        q, k, v = qkv_activations(w, p, *project(w, p, x, H, dk, dv), short_conv)
        beta = torch.sigmoid(x @ w[p + "b_proj.weight"].T)
        g = -w[p + "A_log"].exp() * F.softplus(x @ w[p + "a_proj.weight"].T + w[p + "dt_bias"])
        o, _ = attend(q, k, v, beta, g, scale=dk ** -0.5)
        return out_norm(w, p, o, "o_norm", x)
    return cfg, w, mixer


def short_convs(m, w, p, K, kd, vd):
    w.update({p + "q_conv1d.weight": m.normal(kd, 1, K, std=0.5), p + "k_conv1d.weight": m.normal(kd, 1, K, std=0.5),
              p + "v_conv1d.weight": m.normal(vd, 1, K, std=0.5)})


def short_conv_qkv(w, p, q, k, v):
    """fla's ShortConvolution on each of q, k, v [B][T][H][d]: causal depthwise conv, then SiLU."""
    B, T, H = q.shape[:3]
    return (causal_conv(t.reshape(B, T, -1), w[p + f"{n}_conv1d.weight"], None).view(B, T, H, -1)
            for t, n in ((q, "q"), (k, "k"), (v, "v")))


def qkv_activations(w, p, q, k, v, short_conv):
    """fla's DeltaNet / GatedDeltaNet: SiLU on q, k, v (inside the short convolutions when there
    are some: causal depthwise conv then SiLU), then q and k L2-normalised."""
    if short_conv:
        q, k, v = short_conv_qkv(w, p, q, k, v)
    else:
        q, k, v = F.silu(q), F.silu(k), F.silu(v)
    return l2(q), l2(k), v


def layer_count(w, prefix):
    """Blocks in a weight dict: prefix0., prefix1., ... until one is missing."""
    n = 0
    while any(name.startswith(f"{prefix}{n}.") for name in w):
        n += 1
    return n


def fla_forward(w, mixer, ids):
    """ids [B][T] -> logits [B][T][vocab], and the residual stream after each block [layers][B][T][d]."""
    x = w["model.embeddings.weight"][ids]
    residual = []
    for i in range(layer_count(w, "model.layers.")):
        p = f"model.layers.{i}."
        x = x + mixer(i, rms(x, w[p + "attn_norm.weight"]))
        x = x + swiglu(w, p + "mlp.", rms(x, w[p + "mlp_norm.weight"]))
        residual.append(x)
    head = w.get("lm_head.weight", w["model.embeddings.weight"])
    return rms(x, w["model.norm.weight"]) @ head.T, torch.stack(residual)


# --- the mamba plugin's architectures (Hugging Face layout) -------------------------------------

def causal_conv(x, weight, bias):
    """x [B][T][C], weight [C][1][K]: depthwise causal conv then SiLU, as HF's slow path."""
    K = weight.shape[-1]
    y = F.conv1d(F.pad(x.transpose(1, 2), (K - 1, 0)), weight, bias, groups=x.shape[-1])
    return F.silu(y.transpose(1, 2))


def mamba_frame(m, vocab):
    return {"backbone.embeddings.weight": m.normal(vocab, D), "backbone.norm_f.weight": m.norm(D)}


def mamba1_model(m, vocab):
    di, N, K, R = 2 * D, 8 * HS, 4, 4 * DS
    cfg = {"model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": D, "state_size": N,
           "num_hidden_layers": LAYERS, "expand": 2, "intermediate_size": di, "conv_kernel": K, "time_step_rank": R,
           "use_conv_bias": True, "use_bias": False, "layer_norm_epsilon": EPS, "vocab_size": vocab,
           "tie_word_embeddings": True}
    w = mamba_frame(m, vocab)
    for i in range(LAYERS):
        p = f"backbone.layers.{i}."
        w.update({p + "norm.weight": m.norm(D), p + "mixer.in_proj.weight": m.linear(2 * di, D, gain=2.0),
                  p + "mixer.conv1d.weight": m.normal(di, 1, K, std=0.5), p + "mixer.conv1d.bias": m.normal(di, std=0.1),
                  p + "mixer.x_proj.weight": m.linear(R + 2 * N, di, gain=2.0),
                  p + "mixer.dt_proj.weight": m.linear(di, R), p + "mixer.dt_proj.bias": m.normal(di, std=0.5) - 2,
                  p + "mixer.A_log": torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(di, 1),
                  p + "mixer.D": torch.ones(di) + m.normal(di, std=0.1), p + "mixer.out_proj.weight": m.linear(D, di)})
    scan = _FORMS.get("selective_scan") or refs.mamba_references()[0]

    def mixer(i, h):
        p = f"backbone.layers.{i}.mixer."
        xz = h @ w[p + "in_proj.weight"].T
        x, z = xz[..., :di], xz[..., di:]
        x = causal_conv(x, w[p + "conv1d.weight"], w[p + "conv1d.bias"])
        dbc = x @ w[p + "x_proj.weight"].T
        dt = dbc[..., :R] @ w[p + "dt_proj.weight"].T
        B, C = dbc[..., R:R + N], dbc[..., R + N:]
        # selective_scan_ref takes channels before time: u, Δ, z [B][D][L]; B, C [B][G][N][L].
        y = scan(x.transpose(1, 2), dt.transpose(1, 2), -w[p + "A_log"].exp(), B.transpose(1, 2)[:, None],
                 C.transpose(1, 2)[:, None], w[p + "D"], z.transpose(1, 2), w[p + "dt_proj.bias"], delta_softplus=True)
        return y.transpose(1, 2) @ w[p + "out_proj.weight"].T
    return cfg, w, mixer


def mamba2_model(m, vocab):
    H, P, N, G, K = 4 * HS, 16 * DS, 8 * DS, 1, 4
    di = H * P
    conv_dim = di + 2 * G * N
    cfg = {"model_type": "mamba2", "architectures": ["Mamba2ForCausalLM"], "hidden_size": D, "state_size": N,
           "num_hidden_layers": LAYERS, "expand": di // D, "head_dim": P, "num_heads": H, "n_groups": G,
           "conv_kernel": K, "use_conv_bias": True, "use_bias": False, "layer_norm_epsilon": EPS, "vocab_size": vocab,
           "tie_word_embeddings": False, "chunk_size": 64,
           # transformers 4.47 (the last for torch 1.x) clamps Δ ≥ time_step_min in its torch path;
           # mamba_ssm and later transformers clamp to time_step_limit, (0, inf) by default. 0 here
           # makes the two references the same model; the plugin follows mamba_ssm.
           "time_step_min": 0.0}
    w = mamba_frame(m, vocab)
    w["lm_head.weight"] = m.linear(vocab, D, gain=2.0)
    for i in range(LAYERS):
        p = f"backbone.layers.{i}."
        w.update({p + "norm.weight": m.norm(D), p + "mixer.in_proj.weight": m.linear(2 * di + 2 * G * N + H, D, gain=2.0),
                  p + "mixer.conv1d.weight": m.normal(conv_dim, 1, K, std=0.5),
                  p + "mixer.conv1d.bias": m.normal(conv_dim, std=0.1),
                  p + "mixer.dt_bias": m.normal(H, std=0.5) - 2,
                  p + "mixer.A_log": torch.log(torch.empty(H).uniform_(1, 16, generator=m.g)),
                  p + "mixer.D": torch.ones(H) + m.normal(H, std=0.1), p + "mixer.norm.weight": m.norm(di),
                  p + "mixer.out_proj.weight": m.linear(D, di)})
    _, ssd = refs.mamba_references()

    def mixer(i, h):
        p = f"backbone.layers.{i}.mixer."
        Bsz, T = h.shape[:2]
        proj = h @ w[p + "in_proj.weight"].T
        z, xbc, dt = proj[..., :di], proj[..., di:di + conv_dim], proj[..., di + conv_dim:]
        xbc = causal_conv(xbc, w[p + "conv1d.weight"], w[p + "conv1d.bias"])
        x, B, C = xbc[..., :di].view(Bsz, T, H, P), xbc[..., di:di + G * N], xbc[..., di + G * N:]
        dt = F.softplus(dt + w[p + "dt_bias"])
        A = -w[p + "A_log"].exp()
        group = torch.arange(H) // (H // G)
        Bh, Ch = B.view(Bsz, T, G, N)[:, :, group], C.view(Bsz, T, G, N)[:, :, group]
        # The SSD reference needs T to be a multiple of its block: pad the end with zeros (the scan
        # is causal, so the first T outputs do not change) rather than shrink the block to a
        # divisor of T, which for a prime T (selective copying's 73-token batches) is one token:
        # ~2 s a training step instead of ~0.5.
        block = min(32, T)
        pad = -T % block

        def padded(t):
            return F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) if pad else t
        y, _ = ssd(padded(x * dt[..., None]), padded(A * dt), padded(Bh), padded(Ch), block)
        y = y[:, :T]
        y = (y + x * w[p + "D"][:, None]).reshape(Bsz, T, di)
        y = rms(y * F.silu(z), w[p + "norm.weight"])
        return y @ w[p + "out_proj.weight"].T
    return cfg, w, mixer


def mamba_forward(w, mixer, ids):
    """As fla_forward, for the Hugging Face Mamba layout."""
    x = w["backbone.embeddings.weight"][ids]
    residual = []
    for i in range(layer_count(w, "backbone.layers.")):
        x = x + mixer(i, rms(x, w[f"backbone.layers.{i}.norm.weight"]))
        residual.append(x)
    head = w.get("lm_head.weight", w["backbone.embeddings.weight"])
    return rms(x, w["backbone.norm_f.weight"]) @ head.T, torch.stack(residual)


# Replacements of reference recurrences by name ("selective_scan", "gla", ...), taken by the model makers when
# they build a mixer: tools/train's training-speed forms, each checked against the reference.
_FORMS = {}


def build_model(name, vocab, seed, size, forms=None):
    """(config, weights, mixer, forward) of one family at `size` (keys as SIZES's entries, and
    lower-case keys for the family's maker, such as GLA's short_conv), for tools/train/models.py:
    the task models are these same assemblies with trainable weights. `forms` replaces reference
    recurrences by name in this model's mixers."""
    global D, LAYERS, D_FF, HS, DS
    saved = D, LAYERS, D_FF, HS, DS
    D, LAYERS, D_FF, HS, DS = (size[k] for k in ("D", "LAYERS", "D_FF", "HS", "DS"))
    _FORMS.update(forms or {})
    try:
        make, forward = MODELS[name]
        cfg, w, mixer = make(Maker(seed), vocab, **{k: v for k, v in size.items() if k.islower()})
    finally:
        D, LAYERS, D_FF, HS, DS = saved
        _FORMS.clear()
    return cfg, w, mixer, forward


MODELS = {
    "linear_attn": (linear_attn_model, fla_forward),
    "retnet": (retnet_model, fla_forward),
    "gla": (gla_model, fla_forward),
    "delta_net": (delta_net_model, fla_forward),
    "gated_deltanet": (gated_deltanet_model, fla_forward),
    # without short convolutions, so that path is checked too
    "hybrid_gated_deltanet": (lambda m, v, short_conv=False: gated_deltanet_model(m, v, attn_layers=(1,), short_conv=short_conv),
                              fla_forward),
    "mamba": (mamba1_model, mamba_forward),
    "mamba2": (mamba2_model, mamba_forward),
}


HF_CLASSES = {"mamba": "MambaForCausalLM", "mamba2": "Mamba2ForCausalLM"}


def hf_logits(name, folder, ids):
    """Logits of Hugging Face's own class for this folder, or None without transformers. The
    transformers that works with Debian's torch 1.13 lives apart, in .venv/hf-reference."""
    if name not in HF_CLASSES:
        return None
    hf_dir = Path(__file__).resolve().parents[2] / ".venv" / "hf-reference"
    if hf_dir.is_dir() and str(hf_dir) not in sys.path:
        sys.path.insert(0, str(hf_dir))
    try:
        import transformers
    except ImportError:
        print(f"make_family_models: transformers not importable; {name} is checked against mamba_ssm only")
        return None
    model = getattr(transformers, HF_CLASSES[name]).from_pretrained(str(folder), torch_dtype=torch.float32).eval()
    with torch.no_grad():
        # use_cache=False: HF's MambaCache needs torch 2 (torch._dynamo), and one pass needs no cache.
        return model(torch.tensor([ids]), use_cache=False).logits[0].numpy().astype(np.float32)


def main():
    global D, LAYERS, D_FF, HS, DS
    args = sys.argv[1:]
    size = "test"
    if len(args) == 3 and args[0] == "--size" and args[1] in SIZES:
        size, args = args[1], args[2:]
    if len(args) != 1:
        raise SystemExit(f"usage: make_family_models.py [--size {'|'.join(SIZES)}] OUTDIR")
    D, LAYERS, D_FF, HS, DS = SIZES[size].values()
    out = Path(args[0])
    (out / "expected").mkdir(parents=True, exist_ok=True)
    torch.set_default_dtype(torch.float32)
    bpe = tiny_tokenizers.train_bpe()
    prompt = bpe.encode(PROMPT_TEXT).ids
    ids = [prompt[i % len(prompt)] for i in range(N_TOKENS)]
    vocab = bpe.get_vocab_size()
    entries = {}
    for seed, (name, (make, forward)) in enumerate(MODELS.items()):
        with torch.no_grad():
            cfg, w, mixer = make(Maker(100 + seed), vocab)
            cfg.update({"torch_dtype": "float32", "max_position_embeddings": 4096 if size == "test" else 16384})
            write_hf(out / name, cfg, {k: v.numpy() for k, v in w.items()})
            bpe.save(str(out / name / "tokenizer.json"))
            if size != "test":  # bench models are for timing; the tests check the test size
                entries[name] = {"path": name, "model_type": cfg["model_type"]}
                continue
            logits, residual = forward(w, mixer, torch.tensor([ids]))
            logits, residual = logits[0], residual[:, 0]
        np.save(out / "expected" / f"{name}.logits.npy", logits.numpy().astype(np.float32))
        np.save(out / "expected" / f"{name}.residual.npy", residual.numpy().astype(np.float32))
        entries[name] = {"path": name, "model_type": cfg["model_type"], "input_ids": ids,
                         "logits": f"expected/{name}.logits.npy", "residual": f"expected/{name}.residual.npy"}
        hf = hf_logits(name, out / name, ids)
        if hf is not None:
            # The two references must agree before either is used to judge the engine.
            rel = float(np.linalg.norm(hf - logits.numpy()) / np.linalg.norm(logits.numpy()))
            if rel > 1e-4:
                raise SystemExit(f"make_family_models: {name}: HF and the mamba_ssm assembly differ (rel L2 {rel:.2e})")
            np.save(out / "expected" / f"{name}.hf_logits.npy", hf)
            entries[name].update({"hf_logits": f"expected/{name}.hf_logits.npy", "hf_vs_reference_rel_l2": rel})
    (out / "expected.json").write_text(json.dumps({"generator": "tools/reference/make_family_models.py",
                                                   "models": entries}, indent=1) + "\n")
    print(f"make_family_models: {len(entries)} models in {out}")


if __name__ == "__main__":
    main()
