#!/usr/bin/env python3
"""Desktop-app benchmarks under Xvfb (docs/PERFORMANCE.md, "Desktop app"):

  frames    bench_gui_frames on an ~8k-token SmolLM2 session (every capture; about 1 GB):
            open → model overview drawn, then the frame times of one head's map while zooming
            from the whole map to single cells and panning, against redrawing it without input
            (the baseline of the same run)

The 8k session is recorded once into build/bench-cache/ (about a minute) and reused.

  .venv/bin/python bench/gui/bench_gui.py [--tokens 7900] [--rounds 2] [--session FILE] [--out report.json]"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def record_long(mnemo: Path, out: Path, tokens: int) -> None:
    base = (ROOT / "assets/prompts/long_context.txt").read_text() + (ROOT / "assets/prompts/story.txt").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(base * max(1, round(tokens / 270)))
        prompt = f.name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial.mnemo")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    subprocess.run([str(mnemo), "record", "-q", "--model", str(MODEL), "--prompt-file", prompt, "-n", "1",
                    "--out", str(tmp)], check=True)
    os.unlink(prompt)
    tmp.rename(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--tokens", type=int, default=7900)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--session", help="use this session instead of the recorded 8k one")
    ap.add_argument("--layer", type=int, default=3)
    ap.add_argument("--head", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    build = Path(a.build)
    session = Path(a.session) if a.session else build / "bench-cache" / f"smollm2-{a.tokens}.mnemo"
    if not session.exists():
        print(f"recording {session} (once)", file=sys.stderr, flush=True)
        record_long(build / "bin" / "mnemo", session, a.tokens)
    runtime = Path(tempfile.mkdtemp(prefix="mnemo-xdg-"))
    runtime.chmod(0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", str(build / "bin" / "bench_gui_frames"), str(session),
                        "--layer", str(a.layer), "--head", str(a.head), "--rounds", str(a.rounds)],
                       capture_output=True, text=True, env=env, check=True)
    line = [l for l in r.stdout.splitlines() if l.startswith("{")][-1]
    report = json.loads(line)
    report["session_mb"] = round(session.stat().st_size / 1e6, 1)
    print(json.dumps(report, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
