#!/usr/bin/env python3
"""Writes the golden files that pin the kernels' block layouts to an independent implementation.

For each type the reference is gguf-py (gguf.quants.quantize / dequantize), not GGML's C code and
not ours. Files in tests/golden/quant/ (all little-endian, raw):
  <type>.input.f32    floats fed to quantize (types with a quantizer in gguf-py)
  <type>.quant.bin    the stored bytes: gguf-py's quantization of the input, or, for the K-quants
                      (gguf-py only dequantizes them), seeded random blocks with sane scales
  <type>.dequant.f32  gguf-py's dequantization of <type>.quant.bin
Run: /work/main/.venv/bin/python tools/reference/make_quant_golden.py
"""
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

OUT = Path(__file__).resolve().parents[2] / "tests" / "golden" / "quant"


def awkward_inputs(n_blocks: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """Random blocks plus the cases rounding code gets wrong: zeros, ties, one sign, outliers."""
    x = rng.standard_normal((n_blocks, block)).astype(np.float32)
    x[0] = 0.0                                              # d == 0: inverse scale must be 0
    x[1] = np.linspace(-1.0, 1.0, block, dtype=np.float32)  # many exact halves after scaling
    x[2] = np.abs(x[2]) + 0.25                              # all positive: min > 0
    x[3] = -np.abs(x[3]) - 0.25                             # all negative: max < 0
    x[4, 5] = 40.0                                          # one outlier dominates the scale
    x[5] = np.round(x[5] * 8.0) / 8.0                       # values on the grid
    x[6] *= 1e-3
    x[7] *= 300.0
    return x.reshape(-1)


def fma_sensitive_block(qtype: T, rng: np.random.Generator) -> np.ndarray:
    """A block whose 4-bit codes change if x*id + c is computed with one rounding (a fused
    multiply-add) instead of GGML's two: pins the rounding, which random blocks hit ~1 in 10^5."""
    while True:
        b = rng.standard_normal(32).astype(np.float32)
        if qtype == T.Q4_0:
            d = b[np.abs(b).argmax()] / np.float32(-8)
            x, c = b, np.float32(8.5)
        else:
            d = (b.max() - b.min()) / np.float32(15)
            x, c = b - b.min(), np.float32(0.5)
        inv = np.float32(1) / np.float32(d)
        two_roundings = np.trunc(x * inv + c)
        one_rounding = np.trunc((x.astype(np.float64) * np.float64(inv) + np.float64(c)).astype(np.float32))
        if (two_roundings != one_rounding).any():
            return b


def write(name: str, **arrays: np.ndarray) -> None:
    for suffix, arr in arrays.items():
        path = OUT / f"{name}.{suffix.replace('_', '.')}"
        path.write_bytes(np.ascontiguousarray(arr).tobytes())


def random_kquant_blocks(qtype: T, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Random bytes with the block's f16 scale fields replaced by moderate values (no inf/NaN)."""
    _, type_size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    # Byte offsets of the f16 fields (d, and dmin where present) in GGML's block structs.
    f16_offsets = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]
    for off in f16_offsets:
        vals = rng.uniform(0.001, 0.1, size=n_blocks).astype(np.float16)
        blocks[:, off:off + 2] = vals.view(np.uint8).reshape(n_blocks, 2)
    return blocks.reshape(-1)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)

    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1):
        x = awkward_inputs(8, 32, rng)
        if qtype == T.Q4_0:  # for Q4_1 (x - min)·id + 0.5 rarely lands on such a boundary
            x = np.concatenate([x, fma_sensitive_block(qtype, rng)])
        q = quants.quantize(x, qtype)
        write(qtype.name.lower(), input_f32=x, quant_bin=q, dequant_f32=quants.dequantize(q, qtype))

    # 16-bit floats: include specials and halfway cases for round-to-nearest-even.
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 65504.0, 65520.0, 1e-8, -3e-5, 6.1e-5,
                         1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8,
                         3.0e38, -1.5e-39, np.nan], dtype=np.float32)
    x = np.concatenate([specials, rng.standard_normal(112).astype(np.float32) * 10.0])
    for qtype, name in ((T.F16, "f16"), (T.BF16, "bf16")):
        q = quants.quantize(x, qtype).view(np.uint8)
        write(name, input_f32=x, quant_bin=q, dequant_f32=quants.dequantize(q, qtype))

    for qtype in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K):
        q = random_kquant_blocks(qtype, 4, rng)
        write(qtype.name.lower(), quant_bin=q, dequant_f32=quants.dequantize(q, qtype).reshape(-1))


if __name__ == "__main__":
    main()
