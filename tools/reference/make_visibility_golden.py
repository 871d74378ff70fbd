#!/usr/bin/env python3
"""Writes tests/golden/visibility.json: the visibility of a key to a query under each mask pattern.

The definition, independent of the C++ one (engine/core/include/mnemo/core/visibility.h):
  a key is visible when it is resident and the mask allows the pair of positions;
  none: always; causal: k <= q; window(w): k <= q and q - k < w;
  segments(w): k <= q and both in the same segment of w positions (q // w == k // w).
Each case is {mask, window, q_pos, k_pos, resident, visible} (window is 0 unless mask is
"window" or "segments"). The C++ test (tests/core/visibility_test.cpp) and the Python reader's test read it.
"""
import json
import sys
from pathlib import Path


def visible(mask, window, q, k, resident):
    if not resident:
        return False
    if mask == "none":
        return True
    if mask == "causal":
        return k <= q
    if mask == "window":
        return k <= q and q - k < window
    if mask == "segments":
        return 0 <= k <= q and q // window == k // window
    raise ValueError(mask)


def cases():
    out = []

    def add(mask, window, q, k, resident=True):
        out.append({"mask": mask, "window": window, "q_pos": q, "k_pos": k, "resident": resident,
                    "visible": visible(mask, window, q, k, resident)})

    # Every pair of a small square, for each pattern.
    for q in range(6):
        for k in range(6):
            add("causal", 0, q, k)
            add("none", 0, q, k)
            for w in (1, 2, 3, 5):
                add("window", w, q, k)
                add("segments", w, q, k)
    # Query positions with gaps (after eviction or across segments): far from the keys.
    for q in (100, 257, 4096):
        for k in (0, 1, q - 64, q - 5, q - 4, q - 3, q - 1, q, q + 1, q + 7):
            add("causal", 0, q, k)
            add("none", 0, q, k)
            for w in (4, 64, 65):
                add("window", w, q, k)
                add("segments", w, q, k)
    # Keys that are not resident are never visible, whatever the mask would allow.
    for q, k in ((5, 0), (5, 3), (5, 5), (5, 6), (300, 299)):
        add("causal", 0, q, k, resident=False)
        add("none", 0, q, k, resident=False)
        add("window", 4, q, k, resident=False)
        add("segments", 4, q, k, resident=False)
    return out


def main():
    root = Path(__file__).resolve().parents[2]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests" / "golden" / "visibility.json"
    rows = cases()
    # One case per line: diffs stay readable and any JSON reader takes it.
    text = "[\n" + ",\n".join("  " + json.dumps(c, separators=(", ", ": ")) for c in rows) + "\n]\n"
    target.write_text(text)
    print(f"{target}: {len(rows)} cases")


if __name__ == "__main__":
    main()
