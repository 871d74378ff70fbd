#!/usr/bin/env python3
"""Reads mnemo's PNG files with Pillow and checks size, mode and every pixel.

image_export_tool write-png DIR writes two gradients (RGB, RGBA) and three heatmaps (linear +
viridis + colour bar, log + magma, rank + cividis). The expected heatmap colours come from the
CSV tables in assets/colormaps and, independently, from matplotlib's own colormaps (within one
8-bit step, as matplotlib stores 6 decimals)."""

import argparse
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

BAD = (128, 128, 128)
BACKGROUND = (255, 255, 255)


def load_lut8(csv: Path) -> np.ndarray:
    rgb = np.loadtxt(csv, delimiter=",", skiprows=1).astype(np.float32).astype(np.float64)
    assert rgb.shape == (256, 3), csv
    return np.floor(rgb * 255.0 + 0.5).astype(np.uint8)  # the product is exact in double


def index_of(t: float) -> int:
    return min(int(math.floor(t * 256)), 255)


def expand(cells: np.ndarray, rows: int, cols: int, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(cells.reshape(rows, cols, 3), scale, axis=0), scale, axis=1)


class Checker:
    def __init__(self, out: Path, cmap_dir: Path):
        self.out, self.cmap_dir, self.failures, self.count = out, cmap_dir, [], 0

    def open(self, name: str, mode: str, size):
        self.count += 1
        img = Image.open(self.out / name)
        img.load()
        if img.mode != mode or img.size != size:
            self.failures.append(f"{name}: Pillow sees {img.mode} {img.size}, expected {mode} {size}")
            return None
        return np.asarray(img)

    def compare(self, name: str, got: np.ndarray, want: np.ndarray, what: str, tolerance: int = 0):
        diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
        if diff.max(initial=0) > tolerance:
            y, x = np.unravel_index(np.argmax(diff.max(axis=-1)), diff.shape[:2])
            self.failures.append(f"{name}: {what}: pixel ({x}, {y}) is {tuple(got[y, x])}, expected {tuple(want[y, x])}")

    def heatmap(self, name: str, cmap: str, t: np.ndarray, rows: int, cols: int, scale: int, colorbar: bool):
        """t: the normalised value of each cell, NaN for bad."""
        width = cols * scale + (4 + 12 if colorbar else 0)
        height = rows * scale
        got = self.open(name, "RGB", (width, height))
        if got is None:
            return
        lut = load_lut8(self.cmap_dir / f"{cmap}.csv")
        mpl = np.floor(np.asarray(colormaps[cmap].colors, dtype=np.float64) * 255.0 + 0.5).astype(np.uint8)
        idx = np.array([0 if math.isnan(v) else index_of(v) for v in t.ravel()])
        bad = np.isnan(t.ravel())
        for table, what, tol in ((lut, "CSV table", 0), (mpl, "matplotlib", 1)):
            cells = table[idx].copy()
            cells[bad] = BAD
            self.compare(name, got[:, : cols * scale], expand(cells, rows, cols, scale), f"map vs {what}", tol)
        if colorbar:
            gap = got[:, cols * scale: cols * scale + 4]
            self.compare(name, gap, np.broadcast_to(np.array(BACKGROUND, np.uint8), gap.shape), "gap")
            bar_idx = [((height - 1 - y) * 255) // (height - 1) for y in range(height)]
            want_bar = np.repeat(lut[bar_idx][:, None, :], 12, axis=1)
            self.compare(name, got[:, cols * scale + 4:], want_bar, "colour bar")
            if tuple(got[0, -1]) != tuple(lut[255]) or tuple(got[-1, -1]) != tuple(lut[0]):
                self.failures.append(f"{name}: the colour bar does not run from entry 255 (top) to 0 (bottom)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--colormaps", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for old in args.dir.glob("*.png"):
        old.unlink()
    subprocess.run([args.tool, "write-png", str(args.dir)], check=True)
    c = Checker(args.dir, args.colormaps)

    x, y = np.meshgrid(np.arange(37), np.arange(23))
    for name, mode in (("gradient_rgb.png", "RGB"), ("gradient_rgba.png", "RGBA")):
        got = c.open(name, mode, (37, 23))
        if got is not None:
            planes = [x * 7, y * 11, x + y] + ([255 - x] if mode == "RGBA" else [])
            c.compare(name, got, (np.stack(planes, axis=-1) % 256).astype(np.uint8), "gradient")

    k = np.arange(256, dtype=np.float64)
    t = (k + 0.5) / 256
    t[17] = np.nan
    c.heatmap("linear_viridis.png", "viridis", t, 16, 16, 3, True)

    t = np.concatenate([(k + 0.5) / 256, [0.0, 0.0, 0.0, 1.0]])  # 0, -1, 1e-9 below the floor; 5 above the top
    c.heatmap("log_magma.png", "magma", t, 20, 13, 1, False)

    c.heatmap("rank_cividis.png", "cividis", np.array([0.625, 0.0, 0.625, 1.0, 0.25]), 1, 5, 2, False)

    for f in c.failures:
        print("FAIL", f, file=sys.stderr)
    print(f"png interop: {c.count} files checked")
    print(f"{max(0, c.count - len(c.failures))} passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
