"""mnemo_ref: an independent NumPy reference for Mnemoscope's C++ engine.

Everything here is written from the architectures' definitions (no torch in the
forward passes) so that golden files produced with it are a genuinely
independent check of the engine. All activations are float32; matmuls
accumulate the way NumPy/BLAS does for float32 inputs.
"""

__version__ = "0.1.0"

from .config import ModelConfig  # noqa: F401
from .loader import load_model, Model  # noqa: F401
from .forward import forward, KVCache, greedy_generate  # noqa: F401
