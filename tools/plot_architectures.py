#!/usr/bin/env python3
"""docs/ARCHITECTURES.md's comparison of the task models' families: accuracy by sequence length
(each trained model's card, assets/models/*/reference.json, held-out sets through PyTorch and
reproduced by `mnemo eval` in the tests) and cost by sequence length (bench/engine/
bench_families.py's JSON, measured through the C++ engine). Draws the PNGs into docs/images/ and
writes the tables and plots between the markers of docs/ARCHITECTURES.md's "Task models" section.

    .venv/bin/python tools/plot_architectures.py --bench FILE.json [--doc docs/ARCHITECTURES.md]
        [--command "the command that produced FILE.json"]"""

import argparse
import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- task-models:begin (tools/plot_architectures.py) -->", "<!-- task-models:end -->"
sys.path.insert(0, str(ROOT / "tools" / "train"))
import models  # noqa: E402
import tasks  # noqa: E402
import train  # noqa: E402


def colour(family):
    """One colour per family in every plot (matplotlib's ten-colour cycle in models.FAMILIES' order)."""
    return f"C{models.FAMILIES.index(family) % 10}" if family in models.FAMILIES else "0.4"


def cards(models_dir: Path):
    """{task: {family: card}} of every trained model."""
    out = {}
    for ref in sorted(models_dir.glob("*/reference.json")):
        card = json.loads(ref.read_text())["card"]
        out.setdefault(card["task"], {})[card["family"]] = card
    return out


def plot_accuracy(task, by_family, path):
    fig, ax = plt.subplots(figsize=(7.6, 3.6), dpi=110)
    trained = tasks.TRAIN_LENGTHS[task]
    ax.axvspan(min(trained), max(trained), color="0.92", label="trained lengths")
    for family, card in sorted(by_family.items()):
        lengths = sorted(int(t) for t in card["heldout"])
        ax.plot(lengths, [card["heldout"][str(t)]["answers"] * 100 for t in lengths], marker="o", label=family,
                color=colour(family))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("length (task's size knob)")
    ax.set_ylabel("answers right (%)")
    ax.set_ylim(0, 102)
    ax.set_title(f"{task}: held-out accuracy by length")
    ax.grid(alpha=0.3)
    # Beside the axes: ten families' curves fill the plot's corners.
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_cost(bench, path):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=110)
    panels = [("prefill_s", "prefill (s)"), ("decode_step_ms_median", "decode (median ms per step)"),
              ("memory_bytes", "state or KV cache (KiB)")]
    for ax, (key, label) in zip(axes, panels):
        for family, fam in bench["families"].items():
            lengths = bench["lengths"]
            values = [fam["median"][str(t)][key] / (1024 if key == "memory_bytes" else 1) for t in lengths]
            ax.plot(lengths, values, marker="o", label=family, color=colour(family),
                    linestyle="--" if family == "transformer" else "-")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("T (tokens)")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    threads = f"{bench['threads']} thread{'s' if bench['threads'] != 1 else ''}"
    fig.suptitle(f"Cost by sequence length, random weights of the trained shapes ({bench['cpu']}, {threads})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def accuracy_table(task, by_family):
    lengths = sorted({int(t) for card in by_family.values() for t in card["heldout"]})
    trained = set(tasks.TRAIN_LENGTHS[task])
    head = "| family | " + " | ".join(f"{t}{' (trained)' if t in trained else ''}" for t in lengths) + " | training |"
    rows = [head, "|---" * (len(lengths) + 2) + "|"]
    for family, card in sorted(by_family.items()):
        cells = [f"{card['heldout'][str(t)]['answers'] * 100:.1f}%" if str(t) in card["heldout"] else "" for t in lengths]
        rows.append(f"| {family} | " + " | ".join(cells) + f" | {card['training_seconds']:.0f} s |")
    return "\n".join(rows)


def cost_table(bench):
    lengths = bench["lengths"]
    base = bench["families"].get("transformer", {}).get("median")
    rows = ["| family | parameters | " + " | ".join(f"prefill T={t}" for t in lengths) +
            f" | decode median step ms T={lengths[0]} → {lengths[-1]} | state or KV at T={lengths[-1]} |",
            "|---" * (len(lengths) + 4) + "|"]
    for family, fam in bench["families"].items():
        m = fam["median"]
        cells = []
        for t in lengths:
            s = m[str(t)]["prefill_s"]
            ratio = f" (×{base[str(t)]['prefill_s'] / s:.1f})" if base and family != "transformer" else ""
            cells.append(f"{s * 1e3:.1f} ms{ratio}")
        first, last = m[str(lengths[0])]["decode_step_ms_median"], m[str(lengths[-1])]["decode_step_ms_median"]
        rows.append(f"| {family} | {fam['parameters']:,} | " + " | ".join(cells) +
                    f" | {first:.3f} → {last:.3f} ({(last / first - 1) * 100:+.0f}%) | "
                    f"{m[str(lengths[-1])]['memory_bytes'] / 1024:.0f} KiB |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, required=True)
    ap.add_argument("--models", type=Path, default=ROOT / "assets" / "models")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "ARCHITECTURES.md")
    ap.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--command", default="bench/engine/bench_families.py")
    a = ap.parse_args()
    bench = json.loads(a.bench.read_text())
    by_task = cards(a.models)
    a.images.mkdir(parents=True, exist_ok=True)
    parts = [f"Accuracy: each trained model's held-out answers by length (its card; `mnemo eval` reproduces "
             f"every figure within 0.5 points in the test command). Each task lists the families meant to solve "
             f"it (`TASK_FAMILIES` in tools/train/train.py) that are not trained yet."]
    for task, by_family in sorted(by_task.items()):
        image = a.images / f"task_accuracy_{task}.png"
        plot_accuracy(task, by_family, image)
        waiting = [f for f in train.TASK_FAMILIES.get(task, []) if f not in by_family]
        pending = f"\n\nNot trained yet: {', '.join(waiting)}." if waiting else ""
        parts.append(f"### {task}\n\n![{task} accuracy by length](images/{image.name})\n\n"
                     f"{accuracy_table(task, by_family)}{pending}")
    cost_image = a.images / "task_model_cost.png"
    plot_cost(bench, cost_image)
    threads = f"{bench['threads']} thread{'s' if bench['threads'] != 1 else ''}"
    parts.append(f"### Cost by sequence length\n\nMeasured with `{a.command}` on {bench['cpu']}, {threads}, medians of {bench['reps']} interleaved reps; decode is {bench['decode_tokens']} tokens "
                 f"after a prefill of T (the median of every single step, best of the reps); (×N): the softmax transformer's prefill time ÷ this family's (above 1: "
                 f"faster).\n\n![cost by length](images/{cost_image.name})\n\n{cost_table(bench)}")
    section = BEGIN + "\n" + "\n\n".join(parts) + "\n" + END
    doc = a.doc.read_text()
    if BEGIN in doc:
        doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, doc, flags=re.S)
    else:
        doc = doc.rstrip("\n") + "\n\n## Task models: accuracy and cost by length\n\n" + section + "\n"
    a.doc.write_text(doc)
    print(f"plot_architectures: {a.doc} and {len(by_task) + 1} images in {a.images}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
