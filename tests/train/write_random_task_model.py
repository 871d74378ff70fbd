#!/usr/bin/env python3
"""Writes task models with random weights, one per family (tools/train/models.py), as train.py
writes a trained one, card and reference logits included, so that the engine's logits and
`mnemo eval` are checked against PyTorch's training modules on every test run, whatever models
assets/models holds.

    write_random_task_model.py OUTDIR      -> OUTDIR/<family>-random-mqar/"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "train"))
import models  # noqa: E402
import tasks  # noqa: E402
import train  # noqa: E402

SIZES = {"transformer": {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "d_ff": 128},
         "sliding_window": {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "d_ff": 128, "window": 6}}
RECURRENT_SIZE = {"D": 32, "LAYERS": 2, "D_FF": 64, "HS": 1, "DS": 1}


def size_of(family):
    """The fixture's size of `family`, with the layer options the trained models use."""
    return SIZES.get(family, {**RECURRENT_SIZE, **train.RECURRENT_OPTIONS.get(family, {})})


def main():
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    for seed, family in enumerate(models.FAMILIES):
        size = size_of(family)
        model = models.build(family, len(tasks.VOCAB), size, seed=7 + seed)
        if family in ("transformer", "sliding_window"):
            with torch.no_grad():  # random weights big enough that no argmax is a near tie
                for p in model.parameters():
                    if p.dim() == 2:
                        p.mul_(3.0)
        # The two shortest lengths: the recurrent references run token by token in Python.
        train.write_model(out / f"{family}-random-mqar", family, "mqar", model, {"steps": 0, "batch": 0, "lr": 0}, size,
                          0.0, lengths=tasks.HELDOUT_LENGTHS["mqar"][:2])
        print(f"write_random_task_model: {out / (family + '-random-mqar')}")


if __name__ == "__main__":
    main()
