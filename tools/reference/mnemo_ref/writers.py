"""Write models in both formats from one set of HF-named float32 weights.

`hf_to_gguf_weights` performs the same transformations as llama.cpp's
convert_hf_to_gguf.py (renames, GPT-2 Conv1D transpose, llama q/k row
permutation for interleaved RoPE), so a GGUF written here and the HF folder
written from the same weights must give the same logits.
"""

import json
from pathlib import Path

import numpy as np
import gguf
from safetensors.numpy import save_file

from .hf_reader import GPT2_RULES, GPT2_CONV1D, LLAMA_RULES, BERT_RULES, _rename

Q = gguf.GGMLQuantizationType


def permute_for_interleaved_rope(w, n_head):
    """llama.cpp's LlamaModel.permute: reorder rows of each head from halves to pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_to_gguf_weights(arch, hf_weights, n_head=None, n_head_kv=None):
    rules = {"gpt2": GPT2_RULES, "llama": LLAMA_RULES, "bert": BERT_RULES}[arch]
    out = _rename(hf_weights, rules, GPT2_CONV1D if arch == "gpt2" else ())
    if arch == "llama":
        for name in list(out):
            if name.endswith("attn_q.weight"):
                out[name] = permute_for_interleaved_rope(out[name], n_head)
            elif name.endswith("attn_k.weight"):
                out[name] = permute_for_interleaved_rope(out[name], n_head_kv)
    if arch == "gpt2" and "output.weight" not in out:
        out["output.weight"] = out["token_embd.weight"]  # llama.cpp's GPT-2 converter duplicates it
    return out


def _encode(name, array, dtype):
    """Return (data, raw_dtype) for GGUFWriter.add_tensor. 1-D tensors always stay f32."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim == 1 or dtype == "f32":
        return array, None
    if dtype == "f16":
        return array.astype(np.float16), None
    qtype = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0}[dtype]
    if array.shape[-1] % 32:
        return array, None
    return gguf.quants.quantize(array, qtype), qtype


def write_gguf(path, arch, config, gguf_weights, tokenizer_meta, dtype="f32", name="mnemoscope-tiny"):
    """config: ModelConfig; tokenizer_meta: dict from tokenizer_gguf_meta()."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(name)
    w.add_file_type({"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[dtype])
    w.add_context_length(config.n_ctx)
    w.add_embedding_length(config.d_model)
    w.add_feed_forward_length(config.d_ff)
    w.add_block_count(config.n_layer)
    w.add_head_count(config.n_head)
    if arch == "llama":
        w.add_head_count_kv(config.n_head_kv)
        w.add_layer_norm_rms_eps(config.norm_eps)
        w.add_rope_freq_base(config.rope_theta)
        w.add_rope_dimension_count(config.head_dim)
        w.add_vocab_size(config.vocab_size)
    else:
        w.add_layer_norm_eps(config.norm_eps)
    if arch == "bert":
        w.add_causal_attention(False)
        w.add_pooling_type(gguf.PoolingType.MEAN)
        w.add_token_type_count(config.type_vocab_size)
    _add_tokenizer(w, tokenizer_meta)
    for tname in sorted(gguf_weights, key=_tensor_order):
        data, raw = _encode(tname, gguf_weights[tname], dtype)
        w.add_tensor(tname, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _tensor_order(name):
    parts = name.split(".")
    if parts[0] == "blk":
        return (1, int(parts[1]), name)
    return (0 if "embd" in name or "token_types" in name else 2, 0, name)


def _add_tokenizer(w, meta):
    w.add_tokenizer_model(meta["model"])
    if meta.get("pre"):
        w.add_tokenizer_pre(meta["pre"])
    w.add_token_list(meta["tokens"])
    w.add_token_types(meta["token_types"])
    if "merges" in meta:
        w.add_token_merges(meta["merges"])
    for key, fn in (("bos", w.add_bos_token_id), ("eos", w.add_eos_token_id), ("unk", w.add_unk_token_id),
                    ("sep", w.add_sep_token_id), ("pad", w.add_pad_token_id), ("mask", w.add_mask_token_id)):
        if meta.get(key) is not None:
            fn(meta[key])
    w.add_add_bos_token(meta.get("add_bos", False))
    if "add_eos" in meta:
        w.add_add_eos_token(meta["add_eos"])


def write_hf(folder, hf_config, hf_weights, n_shards=1):
    """config.json + model.safetensors, or n_shards shards plus model.safetensors.index.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in hf_weights.items()}
    if n_shards == 1:
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return
    names = sorted(tensors)
    weight_map, chunk = {}, -(-len(names) // n_shards)
    for s in range(n_shards):
        shard_name = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s * chunk:(s + 1) * chunk]}
        save_file(part, str(folder / shard_name), metadata={"format": "pt"})
        weight_map.update({n: shard_name for n in part})
    total = int(sum(t.nbytes for t in tensors.values()))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
