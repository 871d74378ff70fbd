"""Float32 NumPy forwards for GPT-2, Llama-family decoders and the BERT encoder.

`forward(model, ids, cache)` returns a ForwardResult with logits for every
input position (decoders) or final hidden states (BERT), plus the residual
stream after the last block (before the final norm) for inspection goldens.
Decoders take an optional KVCache so prefill + incremental decode can be
checked against the engine's cached path.
"""

from dataclasses import dataclass, field

import numpy as np

from . import ops

F32 = np.float32


@dataclass
class KVCache:
    """Per-layer keys/values [S, Hkv, D] accumulated across calls."""

    keys: list = field(default_factory=list)
    values: list = field(default_factory=list)

    @property
    def length(self):
        return 0 if not self.keys else self.keys[0].shape[0]

    def extend(self, layer, k, v):
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = np.concatenate([self.keys[layer], k], axis=0)
            self.values[layer] = np.concatenate([self.values[layer], v], axis=0)
        return self.keys[layer], self.values[layer]


@dataclass
class ForwardResult:
    logits: np.ndarray | None          # [T, vocab] for decoders
    hidden: np.ndarray                 # [T, d]: BERT output; decoders: after final norm
    last_layer_residual: np.ndarray    # [T, d]: residual stream after the last block


def _attend(q, k, v, cache, layer, causal, offset):
    if cache is not None:
        k, v = cache.extend(layer, k, v)
    return ops.attention(q, k, v, causal=causal, q_offset=offset)


def gpt2_forward(model, ids, cache=None):
    c, W = model.config, model.weights
    offset = cache.length if cache is not None else 0
    t = len(ids)
    if offset + t > c.n_ctx:
        raise ValueError("sequence exceeds the context length")
    x = (W["token_embd.weight"][ids] + W["position_embd.weight"][offset:offset + t]).astype(F32)
    hd = c.head_dim
    for i in range(c.n_layer):
        p = f"blk.{i}."
        h = ops.layer_norm(x, W[p + "attn_norm.weight"], W[p + "attn_norm.bias"], c.norm_eps)
        qkv = ops.linear(h, W[p + "attn_qkv.weight"], W[p + "attn_qkv.bias"])
        q, k, v = (a.reshape(t, c.n_head, hd) for a in np.split(qkv, 3, axis=-1))
        a = _attend(q, k, v, cache, i, True, offset)
        x = x + ops.linear(a, W[p + "attn_output.weight"], W[p + "attn_output.bias"])
        h = ops.layer_norm(x, W[p + "ffn_norm.weight"], W[p + "ffn_norm.bias"], c.norm_eps)
        h = ops.gelu_tanh(ops.linear(h, W[p + "ffn_up.weight"], W[p + "ffn_up.bias"]))
        x = x + ops.linear(h, W[p + "ffn_down.weight"], W[p + "ffn_down.bias"])
    final = ops.layer_norm(x, W["output_norm.weight"], W["output_norm.bias"], c.norm_eps)
    return ForwardResult(ops.linear(final, model.output_weight()), final, x)


def llama_forward(model, ids, cache=None):
    c, W = model.config, model.weights
    offset = cache.length if cache is not None else 0
    t = len(ids)
    hd = c.head_dim
    cos, sin = ops.rope_cos_sin(np.arange(offset, offset + t), hd, c.rope_theta)
    x = W["token_embd.weight"][ids].astype(F32)
    for i in range(c.n_layer):
        p = f"blk.{i}."
        h = ops.rms_norm(x, W[p + "attn_norm.weight"], c.norm_eps)
        q = ops.linear(h, W[p + "attn_q.weight"]).reshape(t, c.n_head, hd)
        k = ops.linear(h, W[p + "attn_k.weight"]).reshape(t, c.n_head_kv, hd)
        v = ops.linear(h, W[p + "attn_v.weight"]).reshape(t, c.n_head_kv, hd)
        q = ops.apply_rope(q, cos, sin, c.rope_style)
        k = ops.apply_rope(k, cos, sin, c.rope_style)
        a = _attend(q, k, v, cache, i, True, offset)
        x = x + ops.linear(a, W[p + "attn_output.weight"])
        h = ops.rms_norm(x, W[p + "ffn_norm.weight"], c.norm_eps)
        gate = ops.silu(ops.linear(h, W[p + "ffn_gate.weight"]))
        up = ops.linear(h, W[p + "ffn_up.weight"])
        x = x + ops.linear((gate * up).astype(F32), W[p + "ffn_down.weight"])
    final = ops.rms_norm(x, W["output_norm.weight"], c.norm_eps)
    return ForwardResult(ops.linear(final, model.output_weight()), final, x)


def bert_forward(model, ids, cache=None):
    """Post-LN BERT encoder, token type 0, absolute positions 0..T-1, no padding mask."""
    if cache is not None:
        raise ValueError("BERT is an encoder; it takes no KV cache")
    c, W = model.config, model.weights
    t = len(ids)
    hd = c.head_dim
    x = W["token_embd.weight"][ids] + W["position_embd.weight"][:t] + W["token_types.weight"][0]
    x = ops.layer_norm(x.astype(F32), W["token_embd_norm.weight"], W["token_embd_norm.bias"], c.norm_eps)
    for i in range(c.n_layer):
        p = f"blk.{i}."
        q = ops.linear(x, W[p + "attn_q.weight"], W[p + "attn_q.bias"]).reshape(t, c.n_head, hd)
        k = ops.linear(x, W[p + "attn_k.weight"], W[p + "attn_k.bias"]).reshape(t, c.n_head, hd)
        v = ops.linear(x, W[p + "attn_v.weight"], W[p + "attn_v.bias"]).reshape(t, c.n_head, hd)
        a = ops.attention(q, k, v, causal=False)
        a = ops.linear(a, W[p + "attn_output.weight"], W[p + "attn_output.bias"])
        x = ops.layer_norm(x + a, W[p + "attn_output_norm.weight"], W[p + "attn_output_norm.bias"], c.norm_eps)
        h = ops.gelu_erf(ops.linear(x, W[p + "ffn_up.weight"], W[p + "ffn_up.bias"]))
        h = ops.linear(h, W[p + "ffn_down.weight"], W[p + "ffn_down.bias"])
        x = ops.layer_norm(x + h, W[p + "layer_output_norm.weight"], W[p + "layer_output_norm.bias"], c.norm_eps)
    return ForwardResult(None, x, x)


FORWARDS = {"gpt2": gpt2_forward, "llama": llama_forward, "bert": bert_forward}


def forward(model, ids, cache=None):
    ids = np.asarray(ids, dtype=np.int64)
    return FORWARDS[model.config.arch](model, ids, cache)


def mean_pool(hidden):
    """Sentence embedding as sentence-transformers' mean pooling (no padding here)."""
    return hidden.mean(axis=0).astype(F32)


def greedy_generate(model, prompt_ids, n_new, eos_id=None):
    """Prefill the prompt, then decode one token at a time through the KV cache.

    Returns (new_ids, step_logits) where step_logits[i] are the logits that chose new_ids[i].
    Stops early at eos_id (the eos id is included).
    """
    cache = KVCache()
    logits = forward(model, prompt_ids, cache).logits[-1]
    new_ids, step_logits = [], []
    for _ in range(n_new):
        next_id = int(np.argmax(logits))
        new_ids.append(next_id)
        step_logits.append(logits)
        if eos_id is not None and next_id == eos_id:
            break
        logits = forward(model, [next_id], cache).logits[-1]
    return new_ids, step_logits
