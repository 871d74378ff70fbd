#!/usr/bin/env python3
"""Independent listings of model files for the engine/io tests.

Writes small fixture checkpoints into tests/data/io/ (a GGUF v3 file with every metadata type and
several tensor types, and a sharded Hugging Face folder) and, for those and for the real models
under models/, a JSON listing: tensor name, dtype, NumPy-order shape, absolute byte offset, byte
size and CRC-32 of the bytes, plus GGUF metadata. The readers used here are the `gguf` and
`safetensors` packages, not our C++ code, so tests/io compares two implementations.

    .venv/bin/python tools/reference/dump_model_index.py
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "io"
MODELS = ROOT / "models"
ARRAY_HEAD = 4  # listings of real models keep only the first elements of long arrays


# ---------------------------------------------------------------- GGUF fixture ----------------

# key -> (value, type, array element type); written as given, then read back with GGUFReader.
FIXTURE_METADATA = {
    "test.u8": (200, V.UINT8, None),
    "test.i8": (-100, V.INT8, None),
    "test.u16": (60000, V.UINT16, None),
    "test.i16": (-30000, V.INT16, None),
    "test.u32": (4000000000, V.UINT32, None),
    "test.i32": (-2000000000, V.INT32, None),
    "test.f32": (0.1, V.FLOAT32, None),
    "test.bool_true": (True, V.BOOL, None),
    "test.bool_false": (False, V.BOOL, None),
    "test.string": ("h\u00e9llo \u2713 world", V.STRING, None),
    "test.u64": (2**63 + 5, V.UINT64, None),
    "test.i64": (-(2**62), V.INT64, None),
    "test.f64": (-1.25e-300, V.FLOAT64, None),
    "test.array_u16": ([1, 2, 65535], V.ARRAY, V.UINT16),
    "test.array_i32": ([-1, 0, 7], V.ARRAY, V.INT32),
    "test.array_f32": ([0.5, -2.0, 3.25], V.ARRAY, V.FLOAT32),
    "test.array_bool": ([True, False, True], V.ARRAY, V.BOOL),
    "test.array_string": (["alpha", "", "\u03b2eta"], V.ARRAY, V.STRING),
    "test.nested_i32": ([[1, 2], [3, 4, 5]], V.ARRAY, None),
    "test.nested_string": ([["a"], ["b", "c"]], V.ARRAY, None),
}
FIXTURE_ALIGNMENT = 64


def fixture_tensors() -> list[tuple[str, np.ndarray, Q | None]]:
    rng = np.random.default_rng(1234)
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    bf16 = (f(2, 3).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(2, 6)
    return [
        ("norm.weight", f(16), None),
        ("f32.matrix", f(3, 5), None),
        ("f16.vector", f(7).astype(np.float16), None),
        ("bf16.matrix", bf16, Q.BF16),
        ("q8_0.weight", gguf.quants.quantize(f(2, 64), Q.Q8_0), Q.Q8_0),
        ("q4_0.weight", gguf.quants.quantize(f(3, 32), Q.Q4_0), Q.Q4_0),
        ("q4_1.weight", gguf.quants.quantize(f(1, 2, 64), Q.Q4_1), Q.Q4_1),
        ("i32.blocks", rng.integers(-99, 99, (2, 1, 2, 3)).astype(np.int32), None),
        ("i8.vector", rng.integers(-128, 127, 5).astype(np.int8), None),
    ]


def write_gguf_fixture(path: Path) -> None:
    w = gguf.GGUFWriter(path, arch="tinytest")
    w.add_custom_alignment(FIXTURE_ALIGNMENT)
    for key, (value, vtype, sub) in FIXTURE_METADATA.items():
        w.add_key_value(key, value, vtype, sub_type=sub)
    for name, data, raw in fixture_tensors():
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------- GGUF listing ----------------

def field_value(field: gguf.ReaderField):
    if field.types and field.types[0] == V.ARRAY and len(field.types) > 2:
        return None  # nested: GGUFReader does not decode it; the fixture table is the truth
    value = field.contents()
    if isinstance(value, float) and field.types[0] == V.FLOAT32:
        value = float(np.float32(value))
    if isinstance(value, list) and field.types[-1] == V.FLOAT32:
        value = [float(np.float32(v)) for v in value]
    return value


def gguf_listing(path: Path, summarize_arrays: bool) -> dict:
    reader = gguf.GGUFReader(path)
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    metadata = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue  # GGUFReader's pseudo-fields for the header
        value = field_value(field)
        if name in FIXTURE_METADATA and not summarize_arrays:
            expected = FIXTURE_METADATA[name][0]
            if FIXTURE_METADATA[name][1] == V.FLOAT32:
                expected = float(np.float32(expected))
            if isinstance(expected, list) and FIXTURE_METADATA[name][2] == V.FLOAT32:
                expected = [float(np.float32(v)) for v in expected]
            assert value is None or value == expected, (name, value, expected)
            value = expected
        if summarize_arrays and isinstance(value, list) and len(value) > ARRAY_HEAD:
            value = {"array_len": len(value), "head": value[:ARRAY_HEAD]}
        metadata[name] = value
    tensors = []
    for t in reader.tensors:
        begin = int(t.data_offset)
        tensors.append({
            "name": t.name,
            "dtype": t.tensor_type.name.lower(),
            "shape": [int(d) for d in reversed(t.shape.tolist())],  # GGUF lists innermost first
            "offset": begin,
            "nbytes": int(t.n_bytes),
            "crc32": zlib.crc32(raw[begin:begin + int(t.n_bytes)].tobytes()),
        })
    version = int(reader.fields["GGUF.version"].contents())
    return {"format": "gguf", "file": path.name, "version": version,
            "alignment": int(reader.alignment), "data_offset": int(reader.data_offset),
            "metadata": metadata, "tensors": tensors}


# ---------------------------------------------------------------- safetensors -----------------

ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": None, "I64": "<i8", "I32": "<i4",
             "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
ENGINE_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8"}


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> None:
    """Minimal writer laid out like the reference one: contiguous data, header padded to 8."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_hf_fixture(folder: Path) -> None:
    rng = np.random.default_rng(99)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "tinybert", "hidden_size": 8, "num_hidden_layers": 1}, indent=2) + "\n")
    arr = lambda a: (list(a.shape), a.tobytes())  # noqa: E731
    shards = {
        "model-00001-of-00002.safetensors": {
            "embeddings.weight": ("F32", *arr(rng.standard_normal((4, 8)).astype("<f4"))),
            "layer.0.f16": ("F16", *arr(rng.standard_normal((3, 2)).astype("<f2"))),
            "layer.0.bf16": ("BF16", [2, 4], (rng.standard_normal(8).astype("<f4").view("<u4") >> 16)
                             .astype("<u2").tobytes()),
            "position_ids": ("I64", *arr(np.arange(6, dtype="<i8").reshape(1, 6))),
        },
        "model-00002-of-00002.safetensors": {
            "layer.1.f64": ("F64", *arr(rng.standard_normal(3).astype("<f8"))),
            "layer.1.i32": ("I32", *arr(np.array([[1, -2], [3, -4]], dtype="<i4"))),
            "layer.1.i16": ("I16", *arr(np.array([7, -7, 300], dtype="<i2"))),
            "layer.1.i8": ("I8", *arr(np.array([1, 2, 3, 4], dtype="i1").reshape(2, 2, 1))),
            "layer.1.u8": ("U8", *arr(np.array([250, 1], dtype="u1"))),
            "layer.1.mask": ("BOOL", *arr(np.array([True, False, True]))),
            "layer.1.scale": ("F32", *arr(np.array(2.5, dtype="<f4"))),
            "layer.1.empty": ("F32", [0, 3], b""),
        },
    }
    weight_map = {}
    for shard, tensors in shards.items():
        write_safetensors(folder / shard, tensors)
        weight_map.update({name: shard for name in tensors})
    total = sum(len(t[2]) for s in shards.values() for t in s.values())
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")


def safetensors_entries(path: Path, rel: str) -> list[dict]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = []
    with safe_open(path, framework="numpy") as st:
        for name in sorted(st.keys()):
            info = header[name]
            begin, end = (8 + n + o for o in info["data_offsets"])
            blob = raw[begin:end]
            if ST_DTYPES[info["dtype"]] is not None:  # cross-check the bytes with the library
                array = st.get_tensor(name)
                assert list(array.shape) == info["shape"], name
                assert array.astype(ST_DTYPES[info["dtype"]]).tobytes() == blob, name
            out.append({"name": name, "dtype": info["dtype"].lower(), "shape": info["shape"],
                        "offset": begin, "nbytes": end - begin, "crc32": zlib.crc32(blob),
                        "file": rel, "skipped": info["dtype"] not in ENGINE_DTYPES})
    return out


def hf_listing(folder: Path) -> dict:
    config = json.loads((folder / "config.json").read_text())
    index = folder / "model.safetensors.index.json"
    if (folder / "model.safetensors").exists():
        files = ["model.safetensors"]
    else:
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    tensors = [e for f in files for e in safetensors_entries(folder / f, f)]
    return {"format": "safetensors", "file": folder.name, "architecture": config.get("model_type", ""),
            "tensors": tensors}


def dump(listing: dict, name: str) -> None:
    (OUT / name).write_text(json.dumps(listing, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_gguf_fixture(OUT / "tiny_v3.gguf")
    dump(gguf_listing(OUT / "tiny_v3.gguf", summarize_arrays=False), "tiny_v3.gguf.listing.json")
    write_hf_fixture(OUT / "hf_sharded")
    dump(hf_listing(OUT / "hf_sharded"), "hf_sharded.listing.json")
    smollm = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if smollm.exists():
        dump(gguf_listing(smollm, summarize_arrays=True), "SmolLM2-135M-Instruct.Q4_1.gguf.listing.json")
    minilm = MODELS / "all-MiniLM-L6-v2"
    if minilm.exists():
        dump(hf_listing(minilm), "all-MiniLM-L6-v2.listing.json")


if __name__ == "__main__":
    main()
