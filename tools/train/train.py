#!/usr/bin/env python3
"""Trains the task models (issue 14): one model per family for each task it is meant to solve, on
CPU, with fixed seeds, each written to assets/models/<family>-<task>/ (config.json,
model.safetensors, tokenizer.json, reference.json, README.md: the model card).

    .venv/bin/python tools/train/train.py [--only NAME ...] [--force] [--out DIR] [--list] [--jobs N]

Runs go on in parallel, one per CPU (--jobs, default every CPU this process may use), each on one
thread: at these widths that is faster than one run on every thread. Resumable: a run checkpoints to .cache/train/<name>.pt every CHECKPOINT_EVERY steps and goes on
from there when started again; a model whose folder holds a card is done and skipped (--force
trains it again). Runs are steps, not minutes, so the same command gives the same weights on any
machine (of the same torch build); each run is sized to take at most ~10 minutes here."""

import argparse
import ctypes
import json
import multiprocessing
import os
import platform
import random
import signal
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models  # noqa: E402
import tasks  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = ROOT / "assets" / "models"
CACHE_DIR = ROOT / ".cache" / "train"
CHECKPOINT_EVERY = 200

# Sizes: equal budgets within a task, every family at width 64 and depth 2 (as Zoology compares
# families: the same width, so that what a recurrent state of that width can hold shows). Wider
# models learn too slowly for the ~10-minute CPU budget here: a 0.9 M-parameter transformer
# (d_model 128, 4 layers) reached 17% on 16-pair MQAR after 1,500 steps of 32, a d_model-128
# 2-layer one 8% after 500 steps of 64, this one 96% after 500 and 99.8% after 750.
TRANSFORMER_SIZE = {"d_model": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 2, "d_ff": 192}
RECURRENT_SIZE = {"D": 64, "LAYERS": 2, "D_FF": 192, "HS": 1, "DS": 2}  # make_family_models' size keys
# Layer options of a family's own (fla's), as in the papers' recall experiments: GLA with the short
# convolution that DeltaNet and Mamba have by default (Zoology and Based: without a token mixer
# of width > 1 a linear-attention layer cannot bind a key to the value after it), and the hybrid's
# Gated DeltaNet layer with it as fla's Gated DeltaNet has it by default (trained without it, the
# hybrid recalled 26.5% of 4-pair MQAR answers; with it, 24.9%, where Gated DeltaNet alone
# recalled 89.9%: the short convolution is not what the hybrid lacks in this budget).
RECURRENT_OPTIONS = {"gla": {"short_conv": True}, "hybrid_gated_deltanet": {"short_conv": True}}
# The sliding-window transformer: the baseline's size, each query seeing its last 16 positions
# (32 across the two layers): less than an MQAR prompt of 16 pairs or a passkey's filler.
SLIDING_WINDOW = 16
SIZES = {family: {"transformer": TRANSFORMER_SIZE, "sliding_window": {**TRANSFORMER_SIZE, "window": SLIDING_WINDOW}}.get(
             family, {**RECURRENT_SIZE, **RECURRENT_OPTIONS.get(family, {})}) for family in models.FAMILIES}
# Per task: steps, batch, peak learning rate.
SCHEDULES = {task: {"steps": 1500, "batch": 64, "lr": 3e-3}
             for task in ("mqar", "selective_copy", "passkey", "babi_single", "babi_two")}
# Each task with the families meant to solve it (issue 14), as the papers that define the tasks
# compare them:
# - MQAR, every family: Zoology's comparison of how much each kind of memory recalls.
# - Selective copying, the baseline and the families with input-dependent gates or writes: the
#   Mamba paper's point is that time-invariant recurrences (linear attention without gates, RetNet's
#   fixed decays) cannot select; a 16-token window cannot reach the tokens to copy.
# - Passkey retrieval, the baseline and the families whose state can keep one key through long
#   filler by choosing what to write or forget (the Gated DeltaNet and Mamba-2 papers' needle tests).
# - bAbI, the baseline, the strongest recurrent family and the hybrid; the memory-carrying
#   families of the next issue are the ones built for it.
TASK_FAMILIES = {
    "mqar": list(SIZES),
    "selective_copy": ["transformer", "gla", "delta_net", "gated_deltanet", "mamba", "mamba2"],
    "passkey": ["transformer", "gla", "delta_net", "gated_deltanet", "hybrid_gated_deltanet", "mamba", "mamba2"],
    "babi_single": ["transformer", "gated_deltanet", "hybrid_gated_deltanet"],
    "babi_two": ["transformer", "gated_deltanet", "hybrid_gated_deltanet"],
}
RUNS = [(family, task) for task, families in TASK_FAMILIES.items() for family in families]
SEED = 1234


def run_name(family, task):
    return f"{family}-{task}"


def batch_tensors(examples):
    """ids [B][T] right-padded with [PAD], and labels [B][T]: the answer word at the position
    before each answer (where the model predicts it), -100 elsewhere."""
    T = max(len(e.words) for e in examples)
    ids = torch.full((len(examples), T), tasks.PAD_ID, dtype=torch.long)
    labels = torch.full((len(examples), T), -100, dtype=torch.long)
    for b, e in enumerate(examples):
        row = torch.tensor(e.ids)
        ids[b, : len(row)] = row
        for p in e.answers:
            labels[b, p - 1] = row[p]
    return ids, labels


@torch.no_grad()
def accuracy(model, examples, batch=50):
    """Fraction of answers predicted (argmax) and of examples with every answer right."""
    right = total = whole = 0
    for i in range(0, len(examples), batch):
        ids, labels = batch_tensors(examples[i:i + batch])
        predicted = model(ids).argmax(-1)
        asked = labels != -100
        hit = (predicted == labels) & asked
        right += int(hit.sum())
        total += int(asked.sum())
        whole += int(((hit | ~asked).all(-1)).sum())
    return right / max(1, total), whole / max(1, len(examples))


def learning_rate(step, steps, peak):
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress)))


def train(family, task, force=False, out_dir=MODELS_DIR):
    name = run_name(family, task)
    folder = out_dir / name
    if (folder / "README.md").exists() and not force:
        print(f"{name}: done (its card exists; --force trains it again)")
        return
    schedule, size = SCHEDULES[task], SIZES[family]
    torch.manual_seed(SEED)
    model = models.build(family, len(tasks.VOCAB), size, seed=SEED)
    decay = [p for n, p in model.w.named().items() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.w.named().items() if not (p.dim() >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=schedule["lr"], betas=(0.9, 0.98))
    rng = random.Random(f"train/{name}/{tasks.SPLIT_SEEDS['train']}")
    step, elapsed = 0, 0.0
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    checkpoint = CACHE_DIR / f"{name}.pt"
    if checkpoint.exists() and not force:
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        step, elapsed = state["step"], state["elapsed"]
    probe = tasks.examples(task, "heldout", tasks.TRAIN_LENGTHS[task][-1], 100)
    bar = tqdm(total=schedule["steps"], initial=step, desc=name, unit="step", dynamic_ncols=True, position=_bar_line)
    while step < schedule["steps"]:
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, schedule["steps"], schedule["lr"])
        ids, labels = batch_tensors(tasks.training_batch(task, rng, schedule["batch"]))
        logits = model(ids)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        elapsed += time.perf_counter() - started
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % CHECKPOINT_EVERY == 0 or step == schedule["steps"]:
            acc, _ = accuracy(model, probe)
            bar.set_postfix(loss=f"{loss.item():.3f}", heldout=f"{acc:.3f}")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng.getstate(),
                        "torch_rng": torch.get_rng_state(), "step": step, "elapsed": elapsed}, checkpoint)
    bar.close()
    write_model(folder, family, task, model, schedule, size, elapsed)
    checkpoint.unlink(missing_ok=True)


def write_model(folder, family, task, model, schedule, size, elapsed, lengths=None):
    """The model's folder; `lengths`: the held-out lengths its card reports (default: all)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.config(), indent=2) + "\n")
    save_file(model.tensors(), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "tokenizer.json").write_bytes((tasks.TASKS_DIR / "tokenizer.json").read_bytes())
    results = {}
    model.eval()
    for length in lengths or tasks.HELDOUT_LENGTHS[task]:
        answer_acc, example_acc = accuracy(model, tasks.load_heldout(task, length))
        results[length] = {"answers": answer_acc, "examples": example_acc}
    # Fixed examples for the engine's logits test: the first held-out example of the shortest and of
    # the longest trained length, every position's logits at the answers and at the end.
    references = []
    for length in (tasks.TRAIN_LENGTHS[task][0], tasks.TRAIN_LENGTHS[task][-1]):
        e = tasks.load_heldout(task, length)[0]
        with torch.no_grad():
            logits = model(torch.tensor([e.ids]))[0]
        positions = sorted({p - 1 for p in e.answers} | {len(e.ids) - 1})
        references.append({"task": task, "length": length, "text": e.text(), "positions": positions,
                           "logits": [[round(float(v), 6) for v in logits[p]] for p in positions]})
    card = {"family": family, "task": task, "parameters": models.parameter_count(model), "size": size,
            "schedule": schedule, "seed": SEED, "training_seconds": round(elapsed, 1),
            "machine": machine(), "torch": torch.__version__, "heldout": results}
    (folder / "reference.json").write_text(json.dumps({"card": card, "examples": references}) + "\n")
    (folder / "README.md").write_text(model_card(card))


def machine():
    model_name = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{model_name}, {threads} thread{'s' if threads != 1 else ''}"


def model_card(c):
    trained = set(tasks.TRAIN_LENGTHS[c["task"]])
    rows = "\n".join(f"| {length}{' (trained)' if length in trained else ''} | {r['answers'] * 100:.1f}% | "
                     f"{r['examples'] * 100:.1f}% |" for length, r in c["heldout"].items())
    size = ", ".join(f"{k} {v}" for k, v in c["size"].items())
    s = c["schedule"]
    about = (f"A {c['family']} ({c['parameters']:,} parameters: {size}) trained on the `{c['task']}` task of "
             f"`tools/train/tasks.py` (see `assets/tasks/README.md`), to be looked at with Mnemoscope. Trained by "
             f"`.venv/bin/python tools/train/train.py --only {c['family']}-{c['task']}`: {s['steps']} steps of "
             f"{s['batch']} examples at the trained lengths, AdamW (peak learning rate {s['lr']}, warm-up then cosine "
             f"decay, weight decay 0.1), loss on the answers only, seed {c['seed']}; {c['training_seconds']:.0f} s of "
             f"training on {c['machine']} (torch {c['torch']}).")
    return f"""# {c['family']} on {c['task']}

{textwrap.fill(about, 100)}

Held-out accuracy (200 examples per length, argmax at every answer; an example counts when all its
answers are right), including lengths longer than those trained on:

| length | answers | examples |
|---|---|---|
{rows}

`reference.json` holds this card's figures and the PyTorch logits of two held-out examples, which
the engine's tests compare with its own.
"""


# The progress bar's line: each parallel job draws on its own.
_bar_line = 0


def _start_job(cpus):
    """A job of the pool: one CPU of its own and one thread on it. At these widths one thread per
    run beats two threads on one run (a Gated DeltaNet passkey step 0.37 s on one thread, 0.65 s on
    two; Mamba-2 0.33 against 0.55), so a machine trains as many runs at once as it has CPUs."""
    global _bar_line
    # A job ends with the command that started it (killed or interrupted), not trains on alone.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    cpu, _bar_line = cpus.get()
    os.sched_setaffinity(0, {cpu})
    torch.set_num_threads(1)


def _train_job(job):
    family, task, force, out = job
    train(family, task, force, out)
    return run_name(family, task)


def main():
    # Every core this process may use: Debian's torch starts with one thread (measured: 1 of 2).
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="run names (family-task) to train")
    ap.add_argument("--force", action="store_true", help="train again even when the model exists")
    ap.add_argument("--out", type=Path, default=MODELS_DIR)
    ap.add_argument("--list", action="store_true", help="list the runs and whether each is done")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="runs trained at once, each on a CPU of its own (default: every CPU this process may use)")
    ap.add_argument("--rewrite-cards", action="store_true", help="write every model's README.md again from its "
                    "reference.json (after a change to the card's text; no training)")
    args = ap.parse_args()
    if args.rewrite_cards:
        for ref in sorted(args.out.glob("*/reference.json")):
            card = json.loads(ref.read_text())["card"]
            card["heldout"] = {int(length): r for length, r in card["heldout"].items()}
            (ref.parent / "README.md").write_text(model_card(card))
            print(f"train.py: {ref.parent / 'README.md'}")
        return
    runs = [r for r in RUNS if not args.only or run_name(*r) in args.only]
    unknown = set(args.only or ()) - {run_name(*r) for r in RUNS}
    if unknown:
        raise SystemExit(f"train.py: no run named {', '.join(sorted(unknown))} (--list shows them)")
    if args.list:
        for r in runs:
            print(f"{run_name(*r):32s} {'done' if (args.out / run_name(*r) / 'README.md').exists() else 'to train'}")
        return
    todo = [r for r in runs if args.force or not (args.out / run_name(*r) / "README.md").exists()]
    for r in runs:
        if r not in todo:
            print(f"{run_name(*r)}: done (its card exists; --force trains it again)")
    jobs = max(1, min(args.jobs, len(todo), len(os.sched_getaffinity(0))))
    if jobs == 1:
        for family, task in todo:
            train(family, task, args.force, args.out)
        return
    context = multiprocessing.get_context("spawn")  # a fresh torch in each job, not a forked one
    cpus = context.Queue()
    for line, cpu in enumerate(sorted(os.sched_getaffinity(0))[:jobs]):
        cpus.put((cpu, line))
    with context.Pool(jobs, initializer=_start_job, initargs=(cpus,)) as pool:
        for name in pool.imap_unordered(_train_job, [(f, t, args.force, args.out) for f, t in todo]):
            tqdm.write(f"train.py: {name} done")


if __name__ == "__main__":
    main()
