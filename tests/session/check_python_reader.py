#!/usr/bin/env python3
"""Checks tools/mnemo_session.py (the Python session reader) against the C++ reader (`mnemo tile`,
`mnemo info`) on the recorded fixture session: level-0 tiles (prefill, decode steps, GQA heads,
the encoder run with mask none), rows summing to 1, pooled level-1 tiles (max and mean), scores
against tile cells, stored pyramid tiles against recomputation, runs() against `mnemo info --json`,
the errors for files that are not sessions, and a session whose prompt and label are not UTF-8. One line per check; exits 1 on any failure.

Usage: check_python_reader.py --mnemo MNEMO --session FIXTURE.mnemo --repo REPO

The fixture's prefill map (246 × 246) fits one level-0 tile, so the recorder stores no pyramid
tiles for it; when the fixture has none this script records a small extra session (the fixture's
prompt three times, an odd-length ~740-token prefill and 3 decode steps, --pyramid-level 1, so levels
1 and 2 are stored) into a temporary folder to check stored tiles and the C++ reader's composition of
a stored tile with the rows recorded after it.
"""

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

import numpy as np

EXACT_TOL = 2e-5    # level 0: same fp16 factors; C++ uses float32 dots and a ~2 ulp polynomial exp
# Rows are recomputed from fp16 q and k with the engine's own log-sum-exp (from its fp32 scores):
# they sum to 1 within the scores' fp16 rounding (SmolLM2: up to ~5e-3).
ROW_SUM_TOL = 1e-2
POOLED_TOL = 1e-3   # pooled levels (the stored pyramid is fp16)


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok

    def run(self, name: str, fn, *args) -> None:
        """Runs fn; an exception is a failed check (the script goes on)."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - report and continue
            self.check(name, False, f"{type(e).__name__}: {e}")


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Cpp:
    def __init__(self, mnemo: str, tmp: str):
        self.mnemo = mnemo
        self.tmp = tmp
        self.n = 0
        self.last_stderr = ""

    def tile(self, session: str, run: int, step: int, layer: int, head: int, level: int = 0, ty: int = 0, tx: int = 0,
             stat: str = "max") -> np.ndarray:
        self.n += 1
        out = os.path.join(self.tmp, f"cpp_{self.n}.npy")
        cmd = [self.mnemo, "tile", session, "--run", str(run), "--step", str(step), "--layer", str(layer), "--head",
               str(head), "--level", str(level), "--ty", str(ty), "--tx", str(tx), "--stat", stat, "--npy", out]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        self.last_stderr = r.stderr
        a = np.load(out)
        os.remove(out)
        return a

    def info(self, session: str) -> dict:
        r = subprocess.run([self.mnemo, "info", session, "--json"], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"mnemo info failed ({r.returncode}): {r.stderr.strip()}")
        return json.loads(r.stdout)

    def refuses(self, session: str) -> tuple[bool, str]:
        r = subprocess.run([self.mnemo, "info", session], capture_output=True, text=True, timeout=120)
        lines = (r.stderr or r.stdout).strip().splitlines()
        return r.returncode != 0, lines[-1] if lines else ""


def grid(sess, run, step, layer, head, level):
    t = sess.tile_shape(run, step, layer, head, level)
    s = 1 << level
    cell_rows, cell_cols = -(-t.map_rows // s), -(-t.map_cols // s)
    return t.map_rows, t.map_cols, -(-cell_rows // 256), -(-cell_cols // 256)


def check_case(c: Checks, sess, cpp: Cpp, path: str, run: int, step: int, layer: int, head: int, what: str) -> None:
    name = f"run {run} step {step} layer {layer} head {head} ({what})"
    f = sess.factors(run, layer, head)
    info = sess.run(run)
    group = info["n_heads"] // info["n_kv_heads"]
    c.check(f"{name}: kv_head", f.kv_head == head // group,
            f"factors read KV head {f.kv_head}, head // (n_heads // n_kv_heads) = {head // group}")

    # Level 0: every tile of the map, C++ against Python; assemble both maps.
    R, C, n_ty, n_tx = grid(sess, run, step, layer, head, 0)
    cpp_map = np.zeros((R, C), dtype=np.float64)
    py_map = np.zeros((R, C), dtype=np.float64)
    worst, shapes_ok = 0.0, True
    for ty in range(n_ty):
        for tx in range(n_tx):
            a = cpp.tile(path, run, step, layer, head, 0, ty, tx).astype(np.float64)
            b = sess.tile(run, step, layer, head, 0, ty, tx)
            if a.shape != b.shape:
                shapes_ok = False
                c.check(f"{name}: level-0 tile ({ty}, {tx}) shape", False, f"C++ {a.shape}, Python {b.shape}")
                continue
            worst = max(worst, float(np.abs(a - b).max()))
            cpp_map[ty * 256:ty * 256 + a.shape[0], tx * 256:tx * 256 + a.shape[1]] = a
            py_map[ty * 256:ty * 256 + b.shape[0], tx * 256:tx * 256 + b.shape[1]] = b
    c.check(f"{name}: level-0 tiles C++ vs Python", shapes_ok and worst < EXACT_TOL,
            f"map {R} × {C} in {n_ty} × {n_tx} tiles, max |diff| {worst:.2e} (< {EXACT_TOL:g})")
    for label, m in (("C++", cpp_map), ("Python", py_map)):
        sums = m.sum(axis=1)
        err = float(np.abs(sums - 1).max())
        c.check(f"{name}: {label} rows sum to 1", err < ROW_SUM_TOL, f"{R} rows, max |sum - 1| {err:.2e}")
    # Hidden cells are exactly 0 (causal: above the diagonal).
    if f.mask != "none":
        hidden = np.triu(np.ones((R, C), dtype=bool), k=1)
        c.check(f"{name}: hidden cells are 0", float(np.abs(cpp_map[hidden]).max(initial=0)) == 0.0 and
                float(np.abs(py_map[hidden]).max(initial=0)) == 0.0, f"{int(hidden.sum())} cells above the diagonal")
    # The step's newest row against row().
    last = sess.row(run, layer, head, R - 1)
    err = float(np.abs(cpp_map[R - 1, :len(last)] - last).max())
    c.check(f"{name}: row({R - 1}) vs C++ map row", err < EXACT_TOL, f"{len(last)} keys, max |diff| {err:.2e}")

    # score() against cells: per-row maxima, the sink, the diagonal, random visible cells, hidden cells.
    rng = np.random.default_rng(run * 1000003 + step * 1009 + layer * 31 + head)
    rows = sorted(set([0, R // 2, R - 1] + [int(x) for x in rng.integers(0, R, 5)]))
    cells = []
    for i in rows:
        cells += [(i, int(np.argmax(cpp_map[i]))), (i, 0), (i, min(i, C - 1)), (i, int(rng.integers(0, min(i, C - 1) + 1)))]
        if f.mask != "none" and i + 1 < C:
            cells.append((i, i + 1))
    worst = 0.0
    for i, j in cells:
        worst = max(worst, abs(sess.score(run, layer, head, i, j) - cpp_map[i, j]),
                    abs(sess.score(run, layer, head, i, j) - py_map[i, j]))
    c.check(f"{name}: score() vs tile cells", worst < EXACT_TOL, f"{len(cells)} cells, max |diff| {worst:.2e}")

    # Level 1, max and mean: C++ (stored pyramid or recomputation) against Python's recomputation.
    _, _, n_ty1, n_tx1 = grid(sess, run, step, layer, head, 1)
    for stat in ("max", "mean"):
        worst, shapes_ok = 0.0, True
        for ty in range(n_ty1):
            for tx in range(n_tx1):
                a = cpp.tile(path, run, step, layer, head, 1, ty, tx, stat).astype(np.float64)
                b = sess.tile(run, step, layer, head, 1, ty, tx, stat)
                if a.shape != b.shape:
                    shapes_ok = False
                    c.check(f"{name}: level-1 {stat} tile ({ty}, {tx}) shape", False, f"C++ {a.shape}, Python {b.shape}")
                    continue
                worst = max(worst, float(np.abs(a - b).max()))
        c.check(f"{name}: level-1 {stat} C++ vs Python", shapes_ok and worst < POOLED_TOL,
                f"max |diff| {worst:.2e} (< {POOLED_TOL:g})")
    # Python's own pooling against pooling its level-0 map by hand.
    s1 = sess.tile(run, step, layer, head, 1, 0, 0, "mean")
    pad = np.zeros((-(-R // 2) * 2, -(-C // 2) * 2))
    pad[:R, :C] = py_map
    inside = np.zeros_like(pad)
    inside[:R, :C] = 1
    by_hand = pad.reshape(pad.shape[0] // 2, 2, -1, 2).sum(axis=(1, 3)) / inside.reshape(pad.shape[0] // 2, 2, -1, 2).sum(axis=(1, 3))
    by_hand = by_hand[:s1.shape[0], :s1.shape[1]]
    c.check(f"{name}: level-1 mean equals the level-0 map pooled by hand", float(np.abs(s1 - by_hand).max()) < 1e-12,
            f"max |diff| {float(np.abs(s1 - by_hand).max()):.2e}")


def check_runs(c: Checks, sess, cpp: Cpp, path: str) -> None:
    info = cpp.info(path)
    py = {r["run_id"]: r for r in sess.runs()}
    cp = {r["id"]: r for r in info["runs"]}
    c.check("runs(): same run ids as mnemo info --json", sorted(py) == sorted(cp), f"Python {sorted(py)}, C++ {sorted(cp)}")
    for rid in sorted(set(py) & set(cp)):
        p, q = py[rid], cp[rid]
        pairs = [("architecture", "arch"), ("status", "status"), ("n_tokens", "n_tokens"), ("n_steps", "n_steps"),
                 ("label", "label"), ("model_kind", "kind"), ("n_heads", "n_heads"), ("n_kv_heads", "n_kv_heads"),
                 ("head_dim", "head_dim"), ("n_layers", "n_layers")]
        diffs = [f"{a}={p[a]!r} vs {b}={q[b]!r}" for a, b in pairs if p[a] != q[b]]
        c.check(f"runs(): run {rid} fields match mnemo info --json", not diffs,
                "; ".join(diffs) or ", ".join(f"{a}={p[a]}" for a, _ in pairs[:4]))
    c.check("runs(): schema version", sess.schema_version == info["schema_version"],
            f"Python {sess.schema_version}, C++ {info['schema_version']}")
    for rid in sorted(py):
        toks, steps = sess.tokens(rid), sess.steps(rid)
        covered = sum(s["n_tokens"] for s in steps)
        ok = (len(toks) == py[rid]["n_tokens"] and len(steps) == py[rid]["n_steps"] and
              [t["position"] for t in toks] == list(range(len(toks))) and all(isinstance(t["text"], str) and
                                                                              isinstance(t["bytes"], bytes) for t in toks))
        c.check(f"run {rid}: tokens() and steps()", ok,
                f"{len(toks)} tokens, {len(steps)} steps covering {covered} positions")
        hm = sess.head_metrics(rid, 0)
        c.check(f"run {rid}: head_metrics(step 0)", len(hm) == py[rid]["n_layers"] * py[rid]["n_heads"],
                f"{len(hm)} rows for {py[rid]['n_layers']} layers × {py[rid]['n_heads']} heads")


def check_pyramid(c: Checks, ms, cpp: Cpp, path: str, where: str) -> None:
    with ms.Session(path) as sess:
        keys = [k for k in sess.pyramid_tiles(1) if k["step"] == 0]
        if not c.check(f"{where}: stored pyramid tiles at step 0", bool(keys),
                       f"{len(keys)} tiles at levels {sorted({k['level'] for k in keys})}"):
            return
        codecs = sorted({k["codec"] for k in keys})
        c.check(f"{where}: codecs", all(x in ("f16", "zstd-f16") for x in codecs), ", ".join(codecs))
        last_step = sess.steps(1)[-1]["step"]
        heads = sorted({(k["layer"], k["head"]) for k in keys})
        for L, h in (heads[0], heads[len(heads) // 2], heads[-1]):
            mine_keys = [k for k in keys if (k["layer"], k["head"]) == (L, h)]
            for stat in ("max", "mean"):
                # Stored tiles against Python's recomputation.
                worst, shapes_ok = 0.0, True
                for k in mine_keys:
                    st = sess.stored_pyramid_tile(1, 0, L, h, k["level"], k["ty"], k["tx"])
                    mine = sess.tile(1, 0, L, h, k["level"], k["ty"], k["tx"], stat)
                    stored = getattr(st, stat)
                    if mine.shape != stored.shape:
                        shapes_ok = False
                        continue
                    worst = max(worst, float(np.abs(mine - stored).max() / max(float(mine.max()), 1e-30)))
                c.check(f"{where}: layer {L} head {h}: stored {stat} tiles vs recomputation", shapes_ok and worst < POOLED_TOL,
                        f"{len(mine_keys)} tiles, max |diff| / tile max {worst:.2e}")
                # C++ at step 0 reads the stored tiles; at the last step it composes them with the newer rows
                # (the prefill has an odd number of rows, so a partial cell row is recomputed).
                for step in (0, last_step):
                    worst, shapes_ok, from_stored = 0.0, True, 0
                    for k in mine_keys:
                        a = cpp.tile(path, 1, step, L, h, k["level"], k["ty"], k["tx"], stat).astype(np.float64)
                        b = sess.tile(1, step, L, h, k["level"], k["ty"], k["tx"], stat)
                        from_stored += "from the stored pyramid" in cpp.last_stderr
                        if a.shape != b.shape:
                            shapes_ok = False
                            continue
                        worst = max(worst, float(np.abs(a - b).max()))
                    c.check(f"{where}: layer {L} head {h}: C++ {stat} tiles at step {step} vs Python",
                            shapes_ok and worst < POOLED_TOL,
                            f"{len(mine_keys)} tiles ({from_stored} entirely from the stored pyramid), max |diff| {worst:.2e}")
        # The bigger map spans several level-0 tiles: C++ against Python at the last step.
        L, h = heads[len(heads) // 2]
        R, C, n_ty, n_tx = grid(sess, 1, last_step, L, h, 0)
        worst = 0.0
        for ty in range(n_ty):
            for tx in range(n_tx):
                a = cpp.tile(path, 1, last_step, L, h, 0, ty, tx).astype(np.float64)
                b = sess.tile(1, last_step, L, h, 0, ty, tx)
                worst = max(worst, float(np.abs(a - b).max()) if a.shape == b.shape else float("inf"))
        c.check(f"{where}: layer {L} head {h} step {last_step} level-0 tiles C++ vs Python", worst < EXACT_TOL,
                f"map {R} × {C} in {n_ty} × {n_tx} tiles, max |diff| {worst:.2e}")


def check_window(c: Checks, ms, cpp: Cpp, fixture: str, tmp: str) -> None:
    """Neither model uses a sliding window: relabel one head's mask as a window of 16 in a copy of the
    fixture. The recorded lse then no longer normalizes the rows, but p = exp(q·k·scale − lse) over the
    window must still agree between the two readers, and cells outside the window must be 0."""
    path = os.path.join(tmp, "window.mnemo")
    with open(fixture, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    db = sqlite3.connect(path)
    db.execute("UPDATE _layer SET mask = 'window', window = 16 WHERE run_id = 1 AND layer = 3")
    db.commit()
    db.close()
    with ms.Session(path) as sess:
        last = sess.steps(1)[-1]["step"]
        for step in (0, last):
            R, C, n_ty, n_tx = grid(sess, 1, step, 3, 2, 0)
            worst, outside = 0.0, 0.0
            for ty in range(n_ty):
                for tx in range(n_tx):
                    a = cpp.tile(path, 1, step, 3, 2, 0, ty, tx).astype(np.float64)
                    b = sess.tile(1, step, 3, 2, 0, ty, tx)
                    worst = max(worst, float(np.abs(a - b).max()) if a.shape == b.shape else float("inf"))
                    i = np.arange(ty * 256, ty * 256 + b.shape[0])[:, None]
                    j = np.arange(tx * 256, tx * 256 + b.shape[1])[None, :]
                    hidden = (j > i) | (j <= i - 16)
                    outside = max(outside, float(np.abs(a[hidden]).max(initial=0)), float(np.abs(b[hidden]).max(initial=0)))
            c.check(f"window mask (16, relabelled copy): step {step} level-0 tiles C++ vs Python", worst < EXACT_TOL,
                    f"map {R} × {C}, max |diff| {worst:.2e}")
            c.check(f"window mask (16, relabelled copy): step {step} cells outside the window are 0", outside == 0.0,
                    f"max outside {outside:g}")
            i = R - 1
            worst = max(abs(sess.score(1, 3, 2, i, j) - sess.tile(1, step, 3, 2, 0, i // 256, j // 256)[i % 256, j % 256])
                        for j in (i - 16, i - 15, i))
            c.check(f"window mask (16, relabelled copy): step {step} score() at the window's edges", worst < 1e-12,
                    f"row {i}, keys {i - 16} (hidden), {i - 15}, {i}")
    os.remove(path)


def check_codecs(c: Checks, ms) -> None:
    """The f16 codec (the recorder writes zstd-f16 by default) and the error for a short payload."""
    v = (np.arange(12, dtype=np.float32).reshape(3, 4) / 16).astype("<f2")
    got = ms.decode_tile_blob(v.tobytes(), "f16", 3, 4)
    c.check("decode_tile_blob f16", got.dtype == np.float32 and np.array_equal(got, v.astype(np.float32)), f"{got.shape}")
    try:
        ms.decode_tile_blob(v.tobytes()[:-2], "f16", 3, 4)
        c.check("decode_tile_blob refuses a short f16 payload", False, "no error")
    except ValueError as e:
        c.check("decode_tile_blob refuses a short f16 payload", True, str(e))


def check_errors(c: Checks, ms, cpp: Cpp, tmp: str) -> None:
    bad = os.path.join(tmp, "not_sqlite.mnemo")
    with open(bad, "wb") as f:
        f.write(b"this is a text file, not a database\n" * 64)
    plain = os.path.join(tmp, "plain.sqlite")
    db = sqlite3.connect(plain)
    db.execute("CREATE TABLE t (x INTEGER)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    db.close()
    newer = os.path.join(tmp, "newer.mnemo")
    db = sqlite3.connect(newer)
    db.execute("PRAGMA application_id = 1296975181")
    db.execute("PRAGMA user_version = 2")
    db.execute("CREATE TABLE _run (run_id INTEGER)")
    db.commit()
    db.close()
    empty = os.path.join(tmp, "empty.mnemo")
    open(empty, "wb").close()
    missing = os.path.join(tmp, "missing.mnemo")
    cases = [("not SQLite", bad, "not an SQLite database"), ("SQLite without the application id", plain, "application_id"),
             ("newer schema", newer, "newer"), ("empty file", empty, "empty"), ("missing file", missing, "no such file")]
    for what, path, phrase in cases:
        try:
            ms.Session(path).close()
            c.check(f"error for {what}", False, "opened without error")
        except ms.SessionError as e:
            msg = str(e)
            c.check(f"error for {what}", isinstance(e, ValueError) and path in msg and phrase in msg, msg)
        except Exception as e:  # noqa: BLE001
            c.check(f"error for {what}", False, f"raised {type(e).__name__}, not SessionError: {e}")
        refused, msg = cpp.refuses(path)
        c.check(f"mnemo info also refuses the {what}", refused, msg)
    # The CLI reports the error and exits 1.
    r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "mnemo_session.py"), plain, "info"],
                       capture_output=True, text=True, timeout=60)
    c.check("CLI exits 1 on a non-session", r.returncode == 1 and plain in r.stderr, r.stderr.strip())


def check_invalid_utf8(c: Checks, ms, cpp: Cpp, a, tmp: str) -> None:
    """A prompt that is not UTF-8 (a Latin-1 file, a character cut short) and such a label are
    recorded as given. Both readers read the session back: Python with U+FFFD for the bad bytes in
    every TEXT column and the prompt's exact bytes in prompt_bytes, `mnemo info` as text and JSON,
    `mnemo export` as a Chrome trace."""
    raw = b"Caf\xe9 cr\xe8me, na\xefve \xff\xfe and a cut \xe2\x82 euro. The capital of France is"
    label = b"r\xe9sum\xe9 run"
    prompt = os.path.join(tmp, "latin1.txt")
    with open(prompt, "wb") as f:
        f.write(raw)
    out = os.path.join(tmp, "latin1.mnemo")
    cmd = [os.fsencode(p) for p in (a.mnemo, "record", "--quiet", "--out", out, "--model",
                                    os.path.join(a.repo, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"),
                                    "--prompt-file", prompt, "-n", "2", "--label")] + [label]
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    if not c.check("record a prompt and a label that are not UTF-8", r.returncode == 0,
                   r.stderr.decode(errors="replace").strip()[-300:]):
        return
    with ms.Session(out) as sess:
        run = sess.runs()[0]
        c.check("Python reader: runs() reads a prompt that is not UTF-8",
                run["prompt"] == raw.decode("utf-8", "replace") and run["prompt_bytes"] == raw and
                run["label"] == label.decode("utf-8", "replace"), f"prompt {run['prompt'][:32]!r}, label {run['label']!r}")
        c.check("Python reader: run(1) too", sess.run(1)["prompt_bytes"] == raw, repr(sess.run(1)["prompt"][:32]))
        # SmolLM2's vocabulary has no tokens for 0xFF and 0xFE (bytes UTF-8 never uses): they become
        # its <unk>; every other byte, the lone Latin-1 ones and the cut character included, is kept.
        text = b"".join(t["bytes"] for t in sess.tokens(1) if t["step"] == 0)
        kept = all(part in text for part in raw.split(b"\xff\xfe"))
        c.check("Python reader: the prefill's token bytes hold the prompt's bytes", kept, repr(text[:64]))
    r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "mnemo_session.py"), out, "info"],
                       capture_output=True, timeout=60)
    c.check("Python CLI info on it", r.returncode == 0 and "r\ufffdsum\ufffd run" in r.stdout.decode(),
            (r.stdout + r.stderr).decode(errors="replace").strip()[-300:])
    r = subprocess.run([a.mnemo, "info", out], capture_output=True, timeout=60)
    c.check("mnemo info on it", r.returncode == 0 and label in r.stdout, r.stderr.decode(errors="replace").strip())
    r = subprocess.run([a.mnemo, "info", out, "--json"], capture_output=True, timeout=60)
    try:
        j = json.loads(r.stdout)
        ok = r.returncode == 0 and j["runs"][0]["label"] == label.decode("utf-8", "replace")
    except ValueError as e:
        ok = False
    c.check("mnemo info --json on it", ok, r.stderr.decode(errors="replace").strip() or r.stdout[:200].decode(errors="replace"))
    trace = os.path.join(tmp, "latin1.json")
    r = subprocess.run([a.mnemo, "export", out, "--format", "chrome", "--out", trace], capture_output=True, timeout=120)
    try:
        with open(trace, encoding="utf-8") as f:
            ok = r.returncode == 0 and bool(json.load(f)["traceEvents"])
    except (OSError, ValueError):
        ok = False
    c.check("mnemo export --format chrome on it", ok, r.stderr.decode(errors="replace").strip())


REPO = ""


def main() -> int:
    global REPO
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnemo", required=True)
    ap.add_argument("--session", required=True)
    ap.add_argument("--repo", required=True)
    a = ap.parse_args()
    REPO = a.repo
    sys.path.insert(0, os.path.join(a.repo, "tools"))
    import mnemo_session as ms  # noqa: E402

    c = Checks()
    before = sha256(a.session)
    with tempfile.TemporaryDirectory(prefix="mnemo_pyreader_") as tmp:
        cpp = Cpp(a.mnemo, tmp)
        with ms.Session(a.session) as sess:
            c.run("runs()", check_runs, c, sess, cpp, a.session)
            r1, r2 = sess.run(1), sess.run(2)
            last = sess.steps(1)[-1]["step"]
            cases = [(1, 0, 0, 0, "prefill"),
                     (1, 0, 14, 4, "prefill, GQA: KV head 1"),
                     (1, 1, 29, 5, "first decode step, KV head 1"),
                     (1, last, 7, 8, "last decode step, KV head 2"),
                     (2, 0, 0, 0, "encoder, mask none"),
                     (2, 0, r2["n_layers"] - 1, r2["n_heads"] - 1, "encoder, mask none, last head")]
            c.check("fixture runs", r1["model_kind"] == "decoder" and r2["model_kind"] == "encoder" and
                    r1["n_kv_heads"] < r1["n_heads"], f"run 1 {r1['architecture']} {r1['n_heads']}/{r1['n_kv_heads']} "
                    f"heads, run 2 {r2['architecture']}")
            masks = {sess.factors(2, 0, 0).mask, sess.factors(1, 0, 0).mask}
            c.check("masks: encoder none, decoder causal", masks == {"none", "causal"}, ", ".join(sorted(masks)))
            for run, step, layer, head, what in cases:
                c.run(f"run {run} step {step} layer {layer} head {head}", check_case, c, sess, cpp, a.session, run,
                      step, layer, head, what)
            c.run("CLI", check_cli, c, sess, a.session, tmp)
            has_tiles = bool(sess.pyramid_tiles(1))
        if has_tiles:
            c.run("fixture pyramid", check_pyramid, c, ms, cpp, a.session, "fixture")
        else:
            print("NOTE the fixture holds no pyramid tiles (its 246-position prefill map fits one level-0 tile); "
                  "recording a ~740-token session with --pyramid-level 1 for the stored-tile checks", flush=True)
            extra = os.path.join(tmp, "pyramid.mnemo")
            c.run("pyramid session", record_pyramid_session, c, a, tmp, extra)
            if os.path.exists(extra):
                c.run("pyramid session checks", check_pyramid, c, ms, cpp, extra, "pyramid session")
        c.run("window mask", check_window, c, ms, cpp, a.session, tmp)
        c.run("codecs", check_codecs, c, ms)
        c.run("errors", check_errors, c, ms, cpp, tmp)
        c.run("text that is not UTF-8", check_invalid_utf8, c, ms, cpp, a, tmp)
    c.check("the fixture is unchanged after reading", sha256(a.session) == before, "sha256 before and after")
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


def check_cli(c: Checks, sess, path: str, tmp: str) -> None:
    tool = os.path.join(REPO, "tools", "mnemo_session.py")
    r = subprocess.run([sys.executable, tool, path, "info"], capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    c.check("CLI info", r.returncode == 0 and len(lines) == 2 + len(sess.runs()) and "smollm2" in r.stdout,
            lines[0] if lines else r.stderr.strip())
    r = subprocess.run([sys.executable, tool, path, "score", "--run", "1", "--layer", "3", "--head", "2", "--query", "100",
                        "--key", "0"], capture_output=True, text=True, timeout=60)
    want = sess.score(1, 3, 2, 100, 0)
    c.check("CLI score", r.returncode == 0 and abs(float(r.stdout) - want) < 1e-8, f"{r.stdout.strip()} vs {want:.9g}")
    out = os.path.join(tmp, "cli_tile.npy")
    r = subprocess.run([sys.executable, tool, path, "tile", "--run", "1", "--step", "1", "--layer", "3", "--head", "2",
                        "--level", "1", "--out", out], capture_output=True, text=True, timeout=60)
    ok = r.returncode == 0 and os.path.exists(out)
    t = np.load(out) if ok else None
    want = sess.tile(1, 1, 3, 2, 1)
    c.check("CLI tile", ok and t.dtype == np.float32 and t.shape == want.shape and float(np.abs(t - want).max()) < 1e-6,
            f"{None if t is None else t.shape} float32" if ok else r.stderr.strip())


def record_pyramid_session(c: Checks, a, tmp: str, out: str) -> None:
    with open(os.path.join(a.repo, "assets", "prompts", "long_context.txt"), encoding="utf-8") as f:
        text = f.read()
    prompt = os.path.join(tmp, "prompt.txt")
    with open(prompt, "w", encoding="utf-8") as f:
        f.write(text * 3 + " Summary")
    cmd = [a.mnemo, "record", "--quiet", "--out", out, "--model",
           os.path.join(a.repo, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"), "--prompt-file", prompt, "-n", "4",
           "--pyramid-level", "1", "--label", "pyramid"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    c.check("record the pyramid session", r.returncode == 0, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "")


if __name__ == "__main__":
    sys.exit(main())
