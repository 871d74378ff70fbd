"""Read a GGUF file into a ModelConfig plus float32 weights keyed by GGUF tensor name.

Quantized tensors are dequantized with gguf.quants.dequantize, so the reference
computes with exactly the values the file encodes. Weight matrices come out in
numpy order [out, in] (GGUF lists ne as [in, out]).
"""

import numpy as np
import gguf

from .config import ModelConfig


def read_fields(reader):
    """All key/value metadata as plain Python values."""
    return {name: field.contents() for name, field in reader.fields.items()}


def dequantized_weights(reader):
    weights = {}
    for tensor in reader.tensors:
        qtype = tensor.tensor_type
        shape = tuple(int(n) for n in reversed(tensor.shape))
        if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            array = np.asarray(tensor.data).astype(np.float32).reshape(shape)
        else:
            array = gguf.quants.dequantize(np.asarray(tensor.data), qtype).astype(np.float32).reshape(shape)
        weights[tensor.name] = array
    return weights


def config_from_fields(fields, weights):
    arch = fields["general.architecture"]

    def key(name, default=None):
        return fields.get(f"{arch}.{name}", default)

    n_head = int(key("attention.head_count"))
    vocab = weights["token_embd.weight"].shape[0]
    if arch == "llama":
        eps = key("attention.layer_norm_rms_epsilon")
        rope_style = "interleaved"
    elif arch in ("gpt2", "bert"):
        eps = key("attention.layer_norm_epsilon")
        rope_style = "none"
    else:
        raise ValueError(f"unsupported GGUF architecture {arch!r}")
    return ModelConfig(
        arch=arch,
        n_layer=int(key("block_count")),
        d_model=int(key("embedding_length")),
        n_head=n_head,
        n_head_kv=int(key("attention.head_count_kv", n_head)),
        d_ff=int(key("feed_forward_length")),
        n_ctx=int(key("context_length")),
        vocab_size=int(vocab),
        norm_eps=float(eps),
        rope_theta=float(key("rope.freq_base", 10000.0)),
        rope_style=rope_style,
        type_vocab_size=int(weights["token_types.weight"].shape[0]) if "token_types.weight" in weights else 0,
    )


def load_gguf(path):
    """Returns (config, weights, fields)."""
    reader = gguf.GGUFReader(str(path))
    fields = read_fields(reader)
    weights = dequantized_weights(reader)
    return config_from_fields(fields, weights), weights, fields
