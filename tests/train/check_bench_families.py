#!/usr/bin/env python3
"""bench/engine/bench_families.py and tools/plot_architectures.py still run end to end: two families
at two short lengths, then the plots and tables into a copy of docs/ARCHITECTURES.md. Their figures
are for docs/ (measured by hand on an idle machine); this only keeps the tools working.

    check_bench_families.py --mnemo BUILD/bin/mnemo"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out, doc, images = Path(d) / "bench.json", Path(d) / "ARCHITECTURES.md", Path(d) / "images"
        subprocess.run([sys.executable, str(ROOT / "bench" / "engine" / "bench_families.py"), "--mnemo", a.mnemo,
                        "--lengths", "32,64", "--reps", "1", "--decode", "4", "--threads", "1",
                        "--families", "transformer,mamba2", "--out", str(out)], check=True)
        bench = json.loads(out.read_text())
        for family in ("transformer", "mamba2"):
            for t in ("32", "64"):
                m = bench["families"][family]["median"][t]
                assert m["prefill_s"] > 0 and m["decode_ms_per_token"] > 0 and m["memory_bytes"] > 0, (family, t, m)
                assert 0 < m["decode_step_ms_median"] <= 10 * m["decode_ms_per_token"], (family, t, m)
        # The softmax cache grows with T; a Mamba-2 state does not.
        assert bench["families"]["transformer"]["median"]["64"]["memory_bytes"] > \
            bench["families"]["transformer"]["median"]["32"]["memory_bytes"]
        assert bench["families"]["mamba2"]["median"]["64"]["memory_bytes"] == \
            bench["families"]["mamba2"]["median"]["32"]["memory_bytes"]
        shutil.copy(ROOT / "docs" / "ARCHITECTURES.md", doc)
        for _ in range(2):  # the second run replaces the section the first one wrote
            subprocess.run([sys.executable, str(ROOT / "tools" / "plot_architectures.py"), "--bench", str(out),
                            "--doc", str(doc), "--images", str(images)], check=True)
        text = doc.read_text()
        assert text.count("<!-- task-models:begin") == 1 and "| mamba2 |" in text, "section not written once"
        assert (images / "task_model_cost.png").stat().st_size > 10_000
        assert (images / "task_accuracy_mqar.png").exists()
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
