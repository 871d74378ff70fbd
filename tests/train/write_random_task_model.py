#!/usr/bin/env python3
"""Writes a task model with random weights (tools/train/models.py) as train.py writes a trained
one, card and reference logits included, so that `mnemo eval` and the engine's logits are checked
against PyTorch on every test run, whatever models assets/models holds.

    write_random_task_model.py OUTDIR      -> OUTDIR/transformer-random-mqar/"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "train"))
import models  # noqa: E402
import tasks  # noqa: E402
import train  # noqa: E402


def main():
    out = Path(sys.argv[1])
    size = {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "d_ff": 128}
    model = models.build("transformer", len(tasks.VOCAB), size, seed=7)
    with torch.no_grad():  # random weights big enough that the argmax is not a tie anywhere
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(3.0)
    train.write_model(out / "transformer-random-mqar", "transformer", "mqar", model, {"steps": 0, "batch": 0, "lr": 0},
                      size, 0.0)
    print(f"write_random_task_model: {out / 'transformer-random-mqar'}")


if __name__ == "__main__":
    main()
