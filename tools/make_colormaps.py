#!/usr/bin/env python3
"""Writes assets/colormaps/<name>.csv: the 256-entry sRGB tables of matplotlib's perceptually
uniform colormaps (r,g,b floats in 0..1, one entry per line after an "r,g,b" header).

The build embeds these CSVs into mnemo_image (profiler/image/embed_colormaps.cmake), so the
binaries never read them at run time. Run again only to add a map:
  .venv/bin/python tools/make_colormaps.py [--out assets/colormaps]"""

import argparse
from pathlib import Path

import matplotlib
from matplotlib import colormaps

NAMES = ["viridis", "magma", "inferno", "plasma", "cividis"]


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=root / "assets" / "colormaps")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        cmap = colormaps[name]
        colors = list(cmap.colors)  # ListedColormap: the published table itself, not a resampling
        if len(colors) != 256:
            raise SystemExit(f"{name}: expected 256 entries, matplotlib has {len(colors)}")
        lines = ["r,g,b"] + [",".join(f"{float(c):.8f}" for c in rgb[:3]) for rgb in colors]
        (args.out / f"{name}.csv").write_text("\n".join(lines) + "\n")
        print(f"{name}: 256 entries (matplotlib {matplotlib.__version__})")


if __name__ == "__main__":
    main()
