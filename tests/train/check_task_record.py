#!/usr/bin/env python3
"""`mnemo record --task-prompt` on several task models at once: one session, a run per model, and
each run's stored answers (read back by tools/mnemo_session.py) are PyTorch's: the predicted token
is the argmax of the training module's logits before each answer (reference.json holds them for
this very example, the first held-out one at the longest trained length), and both probabilities
are its softmax within 1e-4. A v2 session made before the answers table existed reads as having
no answers, and recording into it adds the table.

    check_task_record.py --mnemo BUILD/bin/mnemo --models-dir DIR [--prompt assets/prompts/mqar.task.json]"""

import argparse
import json
import math
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import mnemo_session  # noqa: E402

sys.path.insert(0, str(ROOT / "tools" / "train"))
from tasks import VOCAB  # noqa: E402

TOLERANCE = 1e-4


def softmax(logits):
    top = max(logits)
    e = [math.exp(v - top) for v in logits]
    return [v / sum(e) for v in e]


def record(mnemo, session, models, prompt):
    cmd = [mnemo, "record", "--task-prompt", str(prompt), "-n", "2", "--threads", "1", "-q", "-o", str(session)]
    for m in models:
        cmd += ["--model", str(m)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"check_task_record: mnemo record failed: {r.stderr.strip()}")
    return r.stdout


def check_run(session, run, model, prompt_line):
    """The failures of one run against its model's reference.json."""
    ref = json.loads((model / "reference.json").read_text())
    example = next((e for e in ref["examples"] if e["text"] == prompt_line["text"]), None)
    if example is None:
        return [f"{model.name}: reference.json has no logits for the task prompt"]
    answers = session.answers(run)
    failures = []
    if [a["position"] for a in answers] != prompt_line["answers"]:
        failures.append(f"{model.name}: answers at {[a['position'] for a in answers]}, the prompt's are "
                        f"{prompt_line['answers']}")
        return failures
    tokens = session.tokens(run)
    words = prompt_line["text"].split(" ")
    for a in answers:
        logits = example["logits"][example["positions"].index(a["position"] - 1)]
        p = softmax(logits)
        predicted = max(range(len(logits)), key=logits.__getitem__)
        if tokens[a["position"]]["text"] != words[a["position"]] or a["expected_token"] != tokens[a["position"]]["token_id"]:
            failures.append(f"{model.name} position {a['position']}: expected token is not the prompt's word")
        if a["predicted_text"] != VOCAB[a["predicted_token"]]:
            failures.append(f"{model.name} position {a['position']}: predicted text {a['predicted_text']!r}")
        if a["predicted_token"] != predicted and abs(p[a["predicted_token"]] - p[predicted]) > TOLERANCE:
            failures.append(f"{model.name} position {a['position']}: predicted {a['predicted_token']}, PyTorch {predicted}")
        for key, want in (("expected_p", p[a["expected_token"]]), ("predicted_p", p[a["predicted_token"]])):
            if abs(a[key] - want) > TOLERANCE:
                failures.append(f"{model.name} position {a['position']} {key}: {a[key]:.6f}, PyTorch {want:.6f}")
        if a["correct"] != (a["predicted_token"] == a["expected_token"]):
            failures.append(f"{model.name} position {a['position']}: `correct` disagrees")
    right = sum(a["correct"] for a in answers)
    print(f"{model.name}: {len(answers)} answers, {right} right, every one PyTorch's "
          f"{'(FAIL)' if failures else 'within 1e-4'}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", required=True)
    ap.add_argument("--models-dir", type=Path, required=True)
    ap.add_argument("--prompt", type=Path, default=ROOT / "assets" / "prompts" / "mqar.task.json")
    args = ap.parse_args()
    prompt_line = json.loads(args.prompt.read_text())
    models = sorted(p for p in args.models_dir.iterdir()
                    if (p / "reference.json").exists() and json.loads((p / "reference.json").read_text())["card"]["task"]
                    == prompt_line["task"])
    if not models:
        raise SystemExit(f"check_task_record: no {prompt_line['task']} models in {args.models_dir}")
    failures = []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "task.mnemo"
        record(args.mnemo, path, models, args.prompt)
        with mnemo_session.Session(path) as session:
            runs = [r["run_id"] for r in session.runs()]
            if len(runs) != len(models):
                failures.append(f"{len(runs)} runs for {len(models)} models")
            for run, model in zip(runs, models):
                if json.loads(session.run(run)["options_json"]).get("task", {}).get("name") != prompt_line["task"]:
                    failures.append(f"run {run}: options_json does not name the task")
                failures += check_run(session, run, model, prompt_line)
            # mnemo info counts each run's answers as the reader gives them.
            info = json.loads(subprocess.run([args.mnemo, "info", "--json", str(path)], capture_output=True, text=True,
                                             check=True).stdout)
            for run in info["runs"]:
                answers = session.answers(run["id"])
                want = {"n": len(answers), "right": sum(a["correct"] for a in answers)}
                if run.get("answers") != want:
                    failures.append(f"mnemo info run {run['id']}: answers {run.get('answers')}, the reader's {want}")
            text = subprocess.run([args.mnemo, "info", str(path)], capture_output=True, text=True, check=True).stdout
            first = info["runs"][0]["answers"]
            if f"answers   {first['right']} of {first['n']} right ({prompt_line['task']} prompt" not in text:
                failures.append("mnemo info does not print the answers line")

        # A v2 file from before the table: no answers, and the next recording adds the table.
        db = sqlite3.connect(path)
        db.executescript("DROP VIEW answer; DROP TABLE _answer;")
        db.close()
        with mnemo_session.Session(path) as session:
            if session.answers(1):
                failures.append("answers read from a file without the table")
        record(args.mnemo, path, models[:1], args.prompt)
        with mnemo_session.Session(path) as session:
            last = session.runs()[-1]["run_id"]
            failures += check_run(session, last, models[0], prompt_line)
            if session.answers(1):
                failures.append("the runs recorded before the table came back have answers")
    for f in failures:
        print(f, file=sys.stderr)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
