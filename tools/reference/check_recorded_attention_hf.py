#!/usr/bin/env python3
"""Recorded attention against an independent implementation: Hugging Face transformers' eager
attention on the same SmolLM2 GGUF (transformers dequantizes the Q4_1 weights to fp32, the same
weights the engine computes with).

Records a session with `mnemo record` (prefill of a short prompt plus decode steps, every
capture, fp32 factors), reads every softmax probability of every layer, head and query row from
it through tools/mnemo_session.py, runs the recorded token sequence through
`AutoModelForCausalLM.from_pretrained(dir, gguf_file=name, attn_implementation="eager")` with
`output_attentions=True`, and compares: max |recorded − HF| must be <= --tol (1e-4).

transformers and the packages it needs beside the project's pins are installed apart
(tools/reference/requirements-hf.txt, into .venv/hf-reference; see that file for why).

  .venv/bin/python tools/reference/check_recorded_attention_hf.py --mnemo build/bin/mnemo [--repo .]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnemo", required=True)
    ap.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--prompt", default="The capital of France is Paris, and the capital of Italy is")
    ap.add_argument("-n", type=int, default=4, help="tokens to generate (decode steps + 1)")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    repo = Path(a.repo)
    sys.path.insert(0, str(repo / "tools"))
    hf_dir = repo / ".venv" / "hf-reference"
    if not (hf_dir / "transformers").is_dir():
        print(f"{hf_dir}: transformers is not installed there (scripts/setup installs "
              "tools/reference/requirements-hf.txt)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(hf_dir))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch  # noqa: E402
    import transformers  # noqa: E402
    from mnemo_session import Session  # noqa: E402

    model_dir, model_file = repo / "models", "SmolLM2-135M-Instruct.Q4_1.gguf"
    with tempfile.TemporaryDirectory(prefix="mnemo-hf-") as tmp:
        session = Path(tmp) / "hf.mnemo"
        r = subprocess.run([a.mnemo, "record", "-q", "--model", str(model_dir / model_file), "--prompt", a.prompt,
                            "-n", str(a.n), "--ignore-eos", "--out", str(session)], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr, file=sys.stderr)
            return 1
        with Session(session) as s:
            run = s.runs()[0]
            ids = [t["token_id"] for t in s.tokens(1)]
            steps = s.steps(1)
            n_rows = steps[-1]["pos0"] + steps[-1]["n_tokens"]  # positions that ran through the model
            n_layers, n_heads = int(run["n_layers"]), int(run["n_heads"])
            recorded = np.zeros((n_layers, n_heads, n_rows, n_rows))
            for layer in range(n_layers):
                for head in range(n_heads):
                    for i in range(n_rows):
                        row = s.row(1, layer, head, i)
                        recorded[layer, head, i, :len(row)] = row

        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(model_dir), gguf_file=model_file, attn_implementation="eager", torch_dtype=torch.float32)
        model.eval()
        with torch.no_grad():
            out = model(torch.tensor([ids[:n_rows]]), output_attentions=True)
        hf = np.stack([att[0].double().numpy() for att in out.attentions])  # [layers][heads][rows][rows]

    diff = np.abs(recorded - hf)
    worst = np.unravel_index(int(diff.argmax()), diff.shape)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}: {n_layers} layers × {n_heads} heads × "
          f"{n_rows} rows ({len(steps)} steps) of SmolLM2; max |recorded - HF eager| = {diff.max():.3e} at layer "
          f"{worst[0]} head {worst[1]} query {worst[2]} key {worst[3]}; mean {diff.mean():.1e}")
    ok = diff.max() <= a.tol
    print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
