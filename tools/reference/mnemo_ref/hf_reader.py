"""Read a Hugging Face folder (config.json + safetensors, optionally sharded) into
the same canonical form as the GGUF reader: float32 weights keyed by the
llama.cpp GGUF tensor names, matrices [out, in].

HF llama q/k are left un-permuted, so such models use rope_style "half"
(rotate_half); GPT-2's Conv1D weights ([in, out]) are transposed here.
"""

import json
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from .config import ModelConfig


def read_safetensors(folder):
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(load_file(str(folder / shard)))
        missing = set(weight_map) - set(tensors)
        if missing:
            raise ValueError(f"index names tensors missing from shards: {sorted(missing)[:5]}")
        return tensors
    return load_file(str(folder / "model.safetensors"))


def _strip_prefix(tensors, prefixes):
    out = {}
    for name, value in tensors.items():
        for prefix in prefixes:
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        out[name] = value.astype(np.float32)
    return out


def _rename(tensors, rules, transpose=()):
    """Apply regex renames; names listed in `transpose` (after renaming) are transposed."""
    out = {}
    for name, value in tensors.items():
        for pattern, target in rules:
            m = re.fullmatch(pattern, name)
            if m:
                new = m.expand(target)
                out[new] = np.ascontiguousarray(value.T) if new.split(".", 2)[-1] in transpose or new in transpose else value
                break
    return out


GPT2_RULES = [
    (r"wte\.weight", "token_embd.weight"),
    (r"wpe\.weight", "position_embd.weight"),
    (r"h\.(\d+)\.ln_1\.(weight|bias)", r"blk.\1.attn_norm.\2"),
    (r"h\.(\d+)\.attn\.c_attn\.(weight|bias)", r"blk.\1.attn_qkv.\2"),
    (r"h\.(\d+)\.attn\.c_proj\.(weight|bias)", r"blk.\1.attn_output.\2"),
    (r"h\.(\d+)\.ln_2\.(weight|bias)", r"blk.\1.ffn_norm.\2"),
    (r"h\.(\d+)\.mlp\.c_fc\.(weight|bias)", r"blk.\1.ffn_up.\2"),
    (r"h\.(\d+)\.mlp\.c_proj\.(weight|bias)", r"blk.\1.ffn_down.\2"),
    (r"ln_f\.(weight|bias)", r"output_norm.\1"),
    (r"lm_head\.weight", "output.weight"),
]
GPT2_CONV1D = {"attn_qkv.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight"}

LLAMA_RULES = [
    (r"model\.embed_tokens\.weight", "token_embd.weight"),
    (r"model\.layers\.(\d+)\.input_layernorm\.weight", r"blk.\1.attn_norm.weight"),
    (r"model\.layers\.(\d+)\.self_attn\.q_proj\.weight", r"blk.\1.attn_q.weight"),
    (r"model\.layers\.(\d+)\.self_attn\.k_proj\.weight", r"blk.\1.attn_k.weight"),
    (r"model\.layers\.(\d+)\.self_attn\.v_proj\.weight", r"blk.\1.attn_v.weight"),
    (r"model\.layers\.(\d+)\.self_attn\.o_proj\.weight", r"blk.\1.attn_output.weight"),
    (r"model\.layers\.(\d+)\.post_attention_layernorm\.weight", r"blk.\1.ffn_norm.weight"),
    (r"model\.layers\.(\d+)\.mlp\.gate_proj\.weight", r"blk.\1.ffn_gate.weight"),
    (r"model\.layers\.(\d+)\.mlp\.up_proj\.weight", r"blk.\1.ffn_up.weight"),
    (r"model\.layers\.(\d+)\.mlp\.down_proj\.weight", r"blk.\1.ffn_down.weight"),
    (r"model\.norm\.weight", "output_norm.weight"),
    (r"lm_head\.weight", "output.weight"),
]

_LN = r"(?:weight|bias|gamma|beta)"
BERT_RULES = [
    (r"embeddings\.word_embeddings\.weight", "token_embd.weight"),
    (r"embeddings\.token_type_embeddings\.weight", "token_types.weight"),
    (r"embeddings\.position_embeddings\.weight", "position_embd.weight"),
    (r"embeddings\.LayerNorm\.(weight|gamma)", "token_embd_norm.weight"),
    (r"embeddings\.LayerNorm\.(bias|beta)", "token_embd_norm.bias"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.query\.(weight|bias)", r"blk.\1.attn_q.\2"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.key\.(weight|bias)", r"blk.\1.attn_k.\2"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.value\.(weight|bias)", r"blk.\1.attn_v.\2"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)", r"blk.\1.attn_output.\2"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(?:weight|gamma)", r"blk.\1.attn_output_norm.weight"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(?:bias|beta)", r"blk.\1.attn_output_norm.bias"),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)", r"blk.\1.ffn_up.\2"),
    (r"encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)", r"blk.\1.ffn_down.\2"),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.(?:weight|gamma)", r"blk.\1.layer_output_norm.weight"),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.(?:bias|beta)", r"blk.\1.layer_output_norm.bias"),
]


def load_hf(folder):
    """Returns (config, weights, hf_config_dict)."""
    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    raw = read_safetensors(folder)
    model_type = cfg["model_type"]
    if model_type == "gpt2":
        weights = _rename(_strip_prefix(raw, ["transformer."]), GPT2_RULES, GPT2_CONV1D)
        n_head = cfg["n_head"]
        config = ModelConfig(
            arch="gpt2", n_layer=cfg["n_layer"], d_model=cfg["n_embd"], n_head=n_head,
            n_head_kv=n_head, d_ff=cfg.get("n_inner") or 4 * cfg["n_embd"], n_ctx=cfg["n_positions"],
            vocab_size=cfg["vocab_size"], norm_eps=cfg.get("layer_norm_epsilon", 1e-5))
    elif model_type == "llama":
        weights = _rename(_strip_prefix(raw, []), LLAMA_RULES)
        n_head = cfg["num_attention_heads"]
        config = ModelConfig(
            arch="llama", n_layer=cfg["num_hidden_layers"], d_model=cfg["hidden_size"], n_head=n_head,
            n_head_kv=cfg.get("num_key_value_heads", n_head), d_ff=cfg["intermediate_size"],
            n_ctx=cfg.get("max_position_embeddings", 2048), vocab_size=cfg["vocab_size"],
            norm_eps=cfg.get("rms_norm_eps", 1e-6), rope_theta=cfg.get("rope_theta", 10000.0),
            rope_style="half")
    elif model_type == "bert":
        weights = _rename(_strip_prefix(raw, ["bert."]), BERT_RULES)
        n_head = cfg["num_attention_heads"]
        config = ModelConfig(
            arch="bert", n_layer=cfg["num_hidden_layers"], d_model=cfg["hidden_size"], n_head=n_head,
            n_head_kv=n_head, d_ff=cfg["intermediate_size"], n_ctx=cfg["max_position_embeddings"],
            vocab_size=cfg["vocab_size"], norm_eps=cfg.get("layer_norm_eps", 1e-12),
            type_vocab_size=cfg.get("type_vocab_size", 2))
    else:
        raise ValueError(f"unsupported HF model_type {model_type!r}")
    return config, weights, cfg
