"""Architecture-neutral hyper-parameters shared by all readers and forwards."""

from dataclasses import dataclass, asdict


@dataclass
class ModelConfig:
    """Hyper-parameters a forward pass needs, independent of file format.

    rope_style matters only for llama: "interleaved" pairs (x[2i], x[2i+1]) as
    GGUF files need (llama.cpp's converter permutes q/k rows for it), or
    "half" pairs (x[i], x[i + d/2]) as HF's rotate_half does.
    """

    arch: str                 # "gpt2" | "llama" | "bert"
    n_layer: int
    d_model: int
    n_head: int
    n_head_kv: int
    d_ff: int
    n_ctx: int
    vocab_size: int
    norm_eps: float
    rope_theta: float = 10000.0
    rope_style: str = "none"  # "interleaved" | "half" | "none"
    type_vocab_size: int = 0

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)
