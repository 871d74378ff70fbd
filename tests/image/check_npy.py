#!/usr/bin/env python3
"""Checks mnemo's .npy files against numpy itself, both ways.

1. image_export_tool write-npy DIR writes arrays whose values follow formulas of the flat index;
   numpy.load must read each with the expected dtype, shape and values (bit-exact for floats),
   and the header must be byte-identical to what numpy.save writes for the same array.
2. numpy.save writes arrays (every supported dtype, rank 0 to 6, empty, odd values, version 2.0);
   image_export_tool read-npy FILE prints them and the values must match."""

import argparse
import io
import subprocess
import sys
from pathlib import Path

import numpy as np


def expected_from_tool():
    i = lambda n: np.arange(n, dtype=np.int64)
    return {
        "f32_2x3x4": ((i(24).astype(np.float32) - np.float32(7)) * np.float32(0.125)).reshape(2, 3, 4),
        "f32_special": np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], dtype=np.float32),
        "f32_scalar": np.array(2.5, dtype=np.float32),
        "f32_empty": np.zeros((0, 5), dtype=np.float32),
        "f16_5": ((i(5) - 2) * 0.5).astype(np.float16),
        "i32_3x3": (i(9) * 1000003 - 5000000).astype(np.int32).reshape(3, 3),
        "i64_2x2x2x2x2": ((i(32) - 3) * 3000000000123).reshape(2, 2, 2, 2, 2),
        "u8_4x7": ((i(28) * 37) % 256).astype(np.uint8).reshape(4, 7),
    }


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bits (NaN equals NaN, -0.0 differs from 0.0)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def numpy_header(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    data = buf.getvalue()
    return data[: len(data) - a.nbytes]


def check_tool_files(tool: str, out: Path, failures: list) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.npy"):
        old.unlink()
    subprocess.run([tool, "write-npy", str(out)], check=True)
    count = 0
    for name, want in expected_from_tool().items():
        path = out / f"{name}.npy"
        got = np.load(path, allow_pickle=False)
        count += 1
        if not same(got, want):
            failures.append(f"{path.name}: numpy reads {got.dtype} {got.shape} {got.ravel()[:8]}, expected "
                            f"{want.dtype} {want.shape} {want.ravel()[:8]}")
            continue
        raw = path.read_bytes()
        header = raw[: len(raw) - want.nbytes]
        if len(header) % 64:
            failures.append(f"{path.name}: the header is {len(header)} bytes, not a multiple of 64")
        if header != numpy_header(want):
            failures.append(f"{path.name}: header differs from numpy.save's:\n  {header!r}\n  {numpy_header(want)!r}")
    return count


def numpy_written():
    rng = np.random.default_rng(1234)
    arrays = {
        "f32_rank3": rng.standard_normal((3, 4, 5)).astype(np.float32),
        "f32_special": np.array([np.nan, -np.inf, np.inf, -0.0, 1.4e-45, -3.4e38], dtype=np.float32),
        "f32_scalar": np.array(-1.25, dtype=np.float32),
        "f32_empty": np.zeros((4, 0, 2), dtype=np.float32),
        "f16_rank2": rng.standard_normal((7, 3)).astype(np.float16),
        "f16_subnormal": np.array([6e-8, -6e-8, 65504, -65504, 1e-5], dtype=np.float16),
        "i32_rank1": rng.integers(-2**31, 2**31, size=17, dtype=np.int32),
        "i64_rank6": rng.integers(-2**63, 2**63 - 1, size=(1, 2, 1, 3, 2, 2), dtype=np.int64),
        "u8_rank2": rng.integers(0, 256, size=(9, 11), dtype=np.uint8),
        "f32_fortran_source": np.asfortranarray(rng.standard_normal((3, 2)).astype(np.float32)),
    }
    return arrays


def parse_tool_output(text: str):
    lines = text.splitlines()
    dtype = np.dtype(lines[0])
    shape = tuple(int(d) for d in lines[1].split(",")) if lines[1] else ()
    if dtype.kind == "f":
        values = np.array([float(v) for v in lines[2:]], dtype=np.float64).astype(dtype)
    else:
        values = np.array([int(v) for v in lines[2:]], dtype=dtype)
    return values.reshape(shape)


def check_numpy_files(tool: str, out: Path, failures: list) -> int:
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, a in numpy_written().items():
        # numpy writes a Fortran-ordered array as fortran_order: True, which mnemo refuses; the
        # C-ordered copy is what an exporter would hand over.
        a = np.ascontiguousarray(a)
        for version in [(1, 0), (2, 0)] if name == "f32_rank3" else [None]:
            path = out / (f"{name}.npy" if version is None else f"{name}_v{version[0]}.npy")
            if version is None:
                np.save(path, a)
            else:
                with open(path, "wb") as f:
                    np.lib.format.write_array(f, a, version=version)
            count += 1
            run = subprocess.run([tool, "read-npy", str(path)], capture_output=True, text=True)
            if run.returncode != 0:
                failures.append(f"{path.name}: mnemo could not read it: {run.stderr.strip()}")
                continue
            got = parse_tool_output(run.stdout)
            if not same(got, a):
                failures.append(f"{path.name}: mnemo reads {got.dtype} {got.shape} {got.ravel()[:6]}, numpy holds "
                                f"{a.dtype} {a.shape} {a.ravel()[:6]}")
    # Refusals: mnemo must name the file and fail cleanly (exit 1, no crash).
    for name, a in {"f64": np.zeros(3), "big_endian": np.zeros(3, dtype=">f4"),
                    "fortran": np.asfortranarray(np.zeros((2, 3), dtype=np.float32))}.items():
        path = out / f"refuse_{name}.npy"
        np.save(path, a)
        count += 1
        run = subprocess.run([tool, "read-npy", str(path)], capture_output=True, text=True)
        if run.returncode != 1 or path.name not in run.stderr:
            failures.append(f"{path.name}: expected a clean refusal naming the file, got exit {run.returncode}: "
                            f"{run.stderr.strip()}")
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    failures: list = []
    n = check_tool_files(args.tool, args.dir / "from_mnemo", failures)
    n += check_numpy_files(args.tool, args.dir / "from_numpy", failures)
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    print(f"npy interop: {n} files checked")
    print(f"{max(0, n - len(failures))} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
