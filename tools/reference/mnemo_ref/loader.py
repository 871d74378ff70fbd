"""Format-sniffing entry point: a path to a .gguf file or an HF folder -> Model."""

from dataclasses import dataclass, field
from pathlib import Path

from .config import ModelConfig
from .gguf_reader import load_gguf
from .hf_reader import load_hf


@dataclass
class Model:
    config: ModelConfig
    weights: dict            # GGUF tensor name -> float32 ndarray, matrices [out, in]
    source: str              # "gguf" | "hf"
    metadata: dict = field(default_factory=dict)  # GGUF fields or HF config.json

    def w(self, name):
        return self.weights[name]

    def maybe(self, name):
        return self.weights.get(name)

    def output_weight(self):
        """Separate output head if present, else tied to the token embedding."""
        return self.weights.get("output.weight", self.weights["token_embd.weight"])


def load_model(path):
    path = Path(path)
    if path.is_dir():
        config, weights, meta = load_hf(path)
        return Model(config, weights, "hf", meta)
    config, weights, meta = load_gguf(path)
    return Model(config, weights, "gguf", meta)
