"""Elementary float32 operations used by the forwards (written from their definitions)."""

import math

import numpy as np

F32 = np.float32


def layer_norm(x, weight, bias, eps):
    """LayerNorm over the last axis with biased variance (as GPT-2/BERT define it)."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    return (centered / np.sqrt(var + F32(eps)) * weight + bias).astype(F32)


def rms_norm(x, weight, eps):
    """RMSNorm: x / sqrt(mean(x^2) + eps) * weight (Llama)."""
    ms = (x * x).mean(axis=-1, keepdims=True)
    return (x / np.sqrt(ms + F32(eps)) * weight).astype(F32)


def gelu_tanh(x):
    """GPT-2's tanh approximation of GELU."""
    c = F32(math.sqrt(2.0 / math.pi))
    return (F32(0.5) * x * (F32(1.0) + np.tanh(c * (x + F32(0.044715) * x * x * x)))).astype(F32)


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_erf(x):
    """Exact GELU, x * Phi(x), via math.erf in float64 (numpy has no erf; no scipy here)."""
    phi = 0.5 * (1.0 + _erf(x.astype(np.float64) / math.sqrt(2.0)).astype(np.float64))
    return (x.astype(np.float64) * phi).astype(F32)


def silu(x):
    return (x / (F32(1.0) + np.exp(-x))).astype(F32)


def softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return (e / e.sum(axis=axis, keepdims=True)).astype(F32)


def linear(x, weight, bias=None):
    """y = x W^T (+ b) with W stored [out, in] as nn.Linear and GGUF (numpy order) store it."""
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return y.astype(F32)


def rope_cos_sin(positions, head_dim, theta):
    """cos/sin tables [T, head_dim/2]; freq_i = theta^(-2i/head_dim), computed in float64."""
    inv_freq = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angles).astype(F32), np.sin(angles).astype(F32)


def apply_rope(x, cos, sin, style):
    """Rotate x [T, H, D] by position.

    style "interleaved": pairs (x[2i], x[2i+1])  — GGUF llama / llama.cpp "normal" rope.
    style "half":        pairs (x[i], x[i+D/2])  — HF rotate_half / "neox" rope.
    """
    c = cos[:, None, :]
    s = sin[:, None, :]
    out = np.empty_like(x)
    if style == "interleaved":
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
    elif style == "half":
        half = x.shape[-1] // 2
        x0, x1 = x[..., :half], x[..., half:]
        out[..., :half] = x0 * c - x1 * s
        out[..., half:] = x0 * s + x1 * c
    else:
        raise ValueError(f"unknown rope style {style!r}")
    return out


def attention(q, k, v, causal, q_offset=0):
    """Scaled dot-product attention with GQA/MQA.

    q [T, H, D]; k, v [S, Hkv, D]. Query head h reads KV head h // (H / Hkv),
    as llama.cpp and HF's repeat_kv do. With causal=True query i (absolute
    position q_offset + i) sees keys 0..q_offset + i.
    Returns [T, H*D].
    """
    t, n_head, d = q.shape
    s, n_kv, _ = k.shape
    group = n_head // n_kv
    if group > 1:
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
    qh = q.transpose(1, 0, 2)               # [H, T, D]
    kh = k.transpose(1, 2, 0)               # [H, D, S]
    vh = v.transpose(1, 0, 2)               # [H, S, D]
    scores = (qh @ kh) * F32(1.0 / math.sqrt(d))
    if causal:
        qpos = q_offset + np.arange(t)[:, None]
        kpos = np.arange(s)[None, :]
        scores = np.where(kpos <= qpos, scores, F32(-np.inf))
    probs = softmax(scores.astype(F32), axis=-1)
    out = probs @ vh                         # [H, T, D]
    return out.transpose(1, 0, 2).reshape(t, n_head * d).astype(F32)
