#!/usr/bin/env python3
"""`mnemoscope ... --screenshot OUT.png` as scripts, docs and users run it (under Xvfb):
every view of the recorded SmolLM2 fixture and of the synthetic demo session renders a PNG of
the whole window that is not blank; a missing or foreign file, an unknown view and a bad
option fail with the reason on stderr. Usage: check_screenshot_cli.py MNEMOSCOPE SESSION OUTDIR"""

import subprocess
import sys
from pathlib import Path

from PIL import Image

VIEWS = ["attention", "overview", "tokens", "memory", "kv", "timeline", "compare"]


def run(app, *args):
    return subprocess.run([app, *args], capture_output=True, text=True, timeout=120)


def colours(png: Path) -> int:
    img = Image.open(png).convert("RGB")
    return len(img.getcolors(maxcolors=1 << 20) or [])


def main() -> int:
    app, session, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    failures = []

    def expect(cond, what):
        print(("ok    " if cond else "FAIL  ") + what)
        if not cond:
            failures.append(what)

    for source, args in (("fixture", [session]), ("demo", ["--demo"])):
        for view in VIEWS:
            png = out / f"cli-{source}-{view}.png"
            png.unlink(missing_ok=True)
            r = run(app, *args, "--view", view, "--layer", "2", "--head", "1", "--screenshot", str(png))
            expect(r.returncode == 0, f"{source} {view}: exit 0 (got {r.returncode}: {r.stderr.strip()[-300:]})")
            if png.exists():
                w, h = Image.open(png).size
                n = colours(png)
                expect(w >= 800 and h >= 500, f"{source} {view}: a window-sized PNG ({w}x{h})")
                expect(n > 40, f"{source} {view}: not blank ({n} colours)")

    # --size: the window (and the PNG) at the size asked for.
    png = out / "cli-size.png"
    r = run(app, session, "--view", "compare", "--size", "1200x700", "--screenshot", str(png))
    expect(r.returncode == 0 and png.exists() and Image.open(png).size == (1200, 700),
           f"--size 1200x700: a 1200x700 PNG (got {r.returncode}, {Image.open(png).size if png.exists() else None})")

    bad = out / "foreign.mnemo"
    bad.write_text("not a session\n")
    for args, code, words in ((["/nonexistent/x.mnemo"], 1, "no such file"), ([str(bad)], 1, "not a Mnemoscope session"),
                              ([session, "--view", "spectrum"], 2, "unknown view"), ([session, "--bogus"], 2, "unknown option"),
                              ([session, "--sides", "1"], 2, "two or more runs"),
                              ([session, "--sides", "1,x"], 2, "run numbers separated by commas"),
                              ([session, "--view", "compare", "--sides", "1,99"], 1, "no run 99"),
                              ([session, "--size", "100x100"], 2, "--size expects WIDTHxHEIGHT"),
                              ([session, "--size", "99999999999x900"], 2, "--size expects WIDTHxHEIGHT"),
                              ([session, "--size", "wide"], 2, "--size expects WIDTHxHEIGHT")):
        r = run(app, *args, "--screenshot", str(out / "never.png"))
        expect(r.returncode == code and words in r.stderr,
               f"{' '.join(args)[-60:]}: exit {code} and '{words}' on stderr (got {r.returncode}: {r.stderr.strip()[-200:]})")
    expect(not (out / "never.png").exists(), "no PNG written for a failure")
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
