#!/usr/bin/env python3
"""Records the session the session, export and tool tests read: a fresh file with two runs, SmolLM2
(decoder, 246-token prompt, 24 new tokens) and all-MiniLM-L6-v2 (encoder). The prefill fits one
level-0 tile, so this session stores no pyramid tiles; tests of stored tiles record a longer
prefill of their own (check_python_reader.py, session_tests). Usage: make_fixture.py MNEMO REPO OUT.mnemo"""

import os
import subprocess
import sys


def main() -> int:
    mnemo, repo, out = sys.argv[1:4]
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(out + suffix):
            os.remove(out + suffix)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    runs = [
        ["--model", f"{repo}/models/SmolLM2-135M-Instruct.Q4_1.gguf", "--prompt-file",
         f"{repo}/assets/prompts/long_context.txt", "-n", "24", "--label", "smollm2"],
        ["--model", f"{repo}/models/all-MiniLM-L6-v2", "--prompt-file", f"{repo}/assets/prompts/story.txt",
         "--label", "minilm"],
    ]
    for args in runs:
        r = subprocess.run([mnemo, "record", "--quiet", "--out", out, *args], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print(r.stdout, r.stderr, file=sys.stderr)
            return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
