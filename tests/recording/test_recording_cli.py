#!/usr/bin/env python3
"""`mnemo record`, `info`, `tile` and `stats` end to end on SmolLM2, and what must survive: a
recorder killed with SIGKILL at random moments (repeatedly), a disk that fills up mid-run
(RLIMIT_FSIZE), Ctrl-C, byte budgets, and bad or foreign session files. The session is read back
with Python's sqlite3 (independent of the C++ reader) as well as through the CLI.

Also: --out paths that are not session files (a FIFO, a folder, a device, links), sessions left with
a hot journal or without a committed step, SIGKILL in the first moments of a recording, and numbers
out of range for `mnemo tile`.

usage: test_recording_cli.py --mnemo PATH --repo PATH [--sanitized] [--kills N]"""

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PASSED, FAILED = [], []
mnemo_session = None  # the Python reader, tools/mnemo_session.py: imported in main()


def check(name, ok, detail=""):
    (PASSED if ok else FAILED).append(name)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + str(detail)}", file=sys.stderr if not ok else sys.stdout)


def mnemo(*args, timeout=300, preexec=None):
    p = subprocess.run([MNEMO, *map(str, args)], capture_output=True, text=True, timeout=timeout * SCALE,
                       preexec_fn=preexec, errors="replace")
    return p.returncode, p.stdout, p.stderr


def sql(path, query, *params):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def integrity_ok(path):
    return sql(path, "PRAGMA integrity_check") == [("ok",)]


def info(path):
    rc, out, err = mnemo("info", path, "--json")
    if rc != 0:
        raise RuntimeError(f"info failed: {err}")
    return json.loads(out)


def record_args(session, n, *extra):
    return ["record", "--model", SMOLLM, "--prompt-file", f"{REPO}/assets/prompts/capital.txt", "-n", n, "--out",
            session, *extra]


def test_record_info_tile_stats(tmp: Path):
    session = tmp / "main.mnemo"
    n = 12
    rc, out, err = mnemo(*record_args(session, n))
    check("record exits 0", rc == 0, err)
    progress = [l for l in err.splitlines() if l.startswith("step ")]
    check("record prints progress lines (step, tok/s, MB, ETA)",
          progress and all(k in progress[-1] for k in ("tok/s", "MB", "ETA")) and progress[-1].startswith(f"step {n}/{n}"),
          err)
    rc2, plain, _ = mnemo("run", "--model", SMOLLM, "--prompt-file", f"{REPO}/assets/prompts/capital.txt", "-n", n,
                          "--temperature", "0")
    check("recording does not change the generated text", rc2 == 0 and plain.strip() == out.strip(), (plain, out))

    j = info(session)
    check("info --json has schema_version 2", j.get("schema_version") == 2, j)
    run = j["runs"][0]
    want_keys = {"id", "model", "arch", "status", "n_tokens", "n_steps", "bytes", "counts"}
    check("info --json run has the documented fields", want_keys <= set(run), run.keys())
    check("info --json counts fields", set(run["counts"]) == {"attention_heads", "memory_snapshots", "kv_snapshots",
                                                              "ops", "kernels"}, run["counts"])
    db_steps = sql(session, "SELECT count(*) FROM step WHERE run_id = 1")[0][0]
    db_tokens = sql(session, "SELECT count(*) FROM token WHERE run_id = 1")[0][0]
    check("info agrees with sqlite3 (steps, tokens)", run["n_steps"] == db_steps == n and run["n_tokens"] == db_tokens,
          (run, db_steps, db_tokens))
    check("run complete, llama, 30×9 heads per step",
          run["status"] == "complete" and run["arch"] == "llama" and run["counts"]["attention_heads"] == 30 * 9 * n
          and run["counts"]["kv_snapshots"] == 30 * n and run["counts"]["ops"] > 0 and run["counts"]["kernels"] == 0, run)
    rc, text, _ = mnemo("info", session)
    check("info text names the run and its status", rc == 0 and "run 1" in text and "complete" in text, text)

    # Tiles: level 0 at the last step, rows that sum to 1 (fp32 factors: to float rounding),
    # agreeing with sqlite3's factor count.
    npy = tmp / "t.npy"
    rc, _, err = mnemo("tile", session, "--run", 1, "--step", n - 1, "--layer", 7, "--head", 4, "--npy", npy)
    t = np.load(npy) if rc == 0 else None
    positions = db_tokens - 1  # the last generated token is never run
    check("tile --npy level 0 covers every position", t is not None and t.shape == (positions, positions), err)
    if t is not None:
        check("tile rows sum to 1", np.abs(t.sum(1) - 1).max() < 1e-4, t.sum(1))
        check("tile is causal", np.abs(np.triu(t, 1)).max() == 0)
    png = tmp / "t.png"
    rc, _, err = mnemo("tile", session, "--step", 0, "--layer", 0, "--head", 0, "--png", png, "--scale", "log",
                       "--colormap", "magma")
    data = png.read_bytes() if rc == 0 else b""
    ok = data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24]) if ok else (0, 0)
    check("tile --png writes a PNG of the map", ok and h > 0 and w > h, err)
    rc, _, err = mnemo("tile", session, "--layer", 99, "--head", 0, "--npy", npy)
    check("tile of a missing layer is refused by name", rc == 2 and "--layer: 99 is out of range (0..29; run 1 of "
          f"{session} has 30 layers)" in err, err)
    # Numbers past what the session holds are refused by name (exit 2), never cast down (--layer
    # 4294967296 was layer 0) or wrapped around (--ty 2^56 - 1 gave a tile "from row -256").
    for option, value, phrase in (("--layer", 4294967296, "--layer: 4294967296 is out of range (0..29;"),
                                  ("--head", 9, "--head: 9 is out of range (0..8;"),
                                  ("--head", -1, "--head: -1 is out of range (0..8;"),
                                  ("--step", n, f"--step: {n} is out of range (0..{n - 1};"),
                                  ("--level", 25, "--level: 25 is out of range (0..24)"),
                                  ("--ty", (1 << 56) - 1, f"--ty: {(1 << 56) - 1} is out of range (0..0; the map at step 0"),
                                  ("--tx", 1 << 63, f"--tx: {1 << 63} is out of range (0..0;"),
                                  ("--run", 0, "--run: 0 is out of range (1..")):
        given = {"--layer": 0, "--head": 0, option: value}
        rc, _, err = mnemo("tile", session, *[x for kv in given.items() for x in kv], "--npy", npy)
        check(f"tile {option} {value} is refused by name", rc == 2 and phrase in err and "from row" not in err,
              (rc, err))

    rc, text, err = mnemo("stats", session)
    check("stats prints op kinds and layers", rc == 0 and "matmul" in text and "attention" in text and "layer" in text,
          text + err)
    rc, text, _ = mnemo("stats", session, "--json")
    s = json.loads(text)[0] if rc == 0 else {}
    total = sql(session, "SELECT count(*), sum(end_ns - start_ns) FROM op WHERE run_id = 1")[0]
    check("stats --json totals equal the op table", s.get("ops") == total[0] and s.get("op_ns") == total[1], (s, total))
    check("stats by kind sums to the total", sum(k["ns"] for k in s.get("by_kind", [])) == total[1])

    # A second run appends; a capture list without attention records none.
    rc, _, err = mnemo(*record_args(session, 4, "--capture", "kv,ops", "--label", "light"))
    j = info(session)
    check("a second recording appends a run", rc == 0 and len(j["runs"]) == 2 and j["runs"][1]["label"] == "light", err)
    check("--capture kv,ops records no attention", j["runs"][1]["counts"]["attention_heads"] == 0
          and j["runs"][1]["counts"]["kv_snapshots"] > 0, j["runs"][1])
    rc, _, err = mnemo("tile", session, "--run", 2, "--layer", 0, "--head", 0, "--npy", npy)
    check("tile of a run without attention says so", rc == 1 and "no attention factors" in err, err)

    # Byte budget.
    budget = tmp / "budget.mnemo"
    rc, _, err = mnemo(*record_args(budget, 12, "--max-bytes", "300K"))
    j = info(budget)
    run = j["runs"][0]
    check("--max-bytes degrades instead of failing", rc == 0 and run["status"] == "complete" and run["degraded"], run)
    check("--max-bytes keeps the run near its budget", run["bytes"] <= 400_000, run["bytes"])
    check("--max-bytes keeps steps and tokens", run["n_steps"] == 12 and run["n_tokens"] == db_tokens, run)


def copy_with_hot_journal(session: Path, dest: Path):
    """What a writer killed inside a transaction of a rollback-journal session leaves: the file, part
    of the transaction written into it, and a hot -journal (a recorder killed while switching a
    session to WAL or back left this). Made without killing anything: the pair is copied while a
    transaction holds it, after a one-page cache made SQLite sync the journal (which makes it hot)
    and write changed pages into the file."""
    src = dest.with_name(dest.name + ".source")
    shutil.copy(session, src)
    con = sqlite3.connect(src, isolation_level=None)
    con.execute("PRAGMA journal_mode = DELETE")
    con.execute("PRAGMA cache_size = 1")
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE _meta SET value = value || ' (interrupted)'")
    con.execute("CREATE TABLE interrupted (x BLOB)")
    con.execute("INSERT INTO interrupted SELECT randomblob(60000) FROM "
                "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) SELECT i FROM n)")
    shutil.copy(src, dest)
    shutil.copy(f"{src}-journal", f"{dest}-journal")
    con.execute("ROLLBACK")
    con.close()
    src.unlink()


def python_reader_error(path, read=lambda s: s.runs()):
    """The Python reader's error for `read` on the session ("" when it succeeds)."""
    try:
        with mnemo_session.Session(path) as s:
            read(s)
        return ""
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"


def test_hot_journal(tmp: Path, good: Path):
    for reader in ("mnemo info", "mnemo tile", "the Python reader"):
        hot = tmp / f"hot-{reader.split()[-1]}.mnemo"
        copy_with_hot_journal(good, hot)
        if reader == "mnemo info":
            rc, out, err = mnemo("info", hot, "--json")
            ok, detail = rc == 0 and bool(json.loads(out)["runs"]), err
        elif reader == "mnemo tile":
            rc, _, err = mnemo("tile", hot, "--layer", 0, "--head", 0, "--npy", tmp / "hot.npy")
            ok, detail = rc == 0, err
        else:
            detail = python_reader_error(hot, lambda s: s.tile(1, 0, 0, 0))
            ok = not detail
        check(f"a session with a hot journal opens in {reader}", ok, detail)
        check(f"{reader} rolled the hot journal back", not Path(f"{hot}-journal").exists() and integrity_ok(hot)
              and sql(hot, "SELECT (SELECT count(*) FROM _meta WHERE value LIKE '%(interrupted)') + "
                      "(SELECT count(*) FROM sqlite_schema WHERE name = 'interrupted')") == [(0,)])


def test_no_committed_step(tmp: Path, good: Path):
    """A run with no committed step (killed before its first one, or being recorded): mnemo tile and
    the Python reader say so rather than blaming the captures."""
    path = tmp / "no-step.mnemo"
    shutil.copy(good, path)
    con = sqlite3.connect(path)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    for t in tables:
        if t != "_run" and "step" in [c[1] for c in con.execute(f"PRAGMA table_info({t})")]:
            con.execute(f"DELETE FROM {t} WHERE run_id = 1")
    con.commit()
    con.close()
    want = f"{path}: run 1 has no committed step yet"
    rc, _, err = mnemo("tile", path, "--layer", 0, "--head", 0, "--npy", tmp / "x.npy")
    check("tile of a run without a committed step says so", rc == 1 and want in err and "capture off" not in err,
          (rc, err))
    err = python_reader_error(path, lambda s: s.tile(1, 0, 0, 0))
    check("the Python reader says so too", err.startswith("LookupError") and want in err, err)


def test_out_paths(tmp: Path, good: Path):
    """--out must be a new name, an empty file or a session, or a symbolic link to a file, which is written
    through. Anything else is refused before any file is made or renamed (run as root, --out /dev/null
    replaced /dev/null with a regular file), naming the path and what it is. /dev/null itself is only
    reached through a link here, so that no failure can replace it."""
    out = tmp / "out"
    out.mkdir()
    fifo = out / "fifo.mnemo"
    os.mkfifo(fifo)
    folder = out / "folder.mnemo"
    folder.mkdir()
    to_null = out / "to-null.mnemo"
    to_null.symlink_to("/dev/null")
    dangling = out / "dangling.mnemo"
    dangling.symlink_to(out / "nowhere.mnemo")
    cases = [(fifo, "is a FIFO (named pipe)"), (folder, "is a directory"),
             (to_null, "is a symbolic link to /dev/null, which is a character device"),
             (dangling, f"is a symbolic link to {out / 'nowhere.mnemo'}, which does not exist")]
    device = out / "device.mnemo"
    try:  # a device node of our own, where this process may make one (CAP_MKNOD)
        os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        cases.append((device, "is a character device"))
    except OSError:
        pass
    for path, phrase in cases:
        rc, _, err = mnemo(*record_args(path, 1, "-q"))
        check(f"record --out {path.name} is refused, naming what it is", rc == 1 and f"{path}: {phrase}" in err
              and "refusing to record" in err and len(err.strip().splitlines()) == 1, (rc, err))
    check("the FIFO is still a FIFO", stat.S_ISFIFO(os.lstat(fifo).st_mode))
    check("the folder is untouched", folder.is_dir() and not any(folder.iterdir()))
    check("the link to /dev/null is still a link, /dev/null a character device",
          to_null.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode))
    check("nothing was made through the dangling link", dangling.is_symlink() and not (out / "nowhere.mnemo").exists())
    if device.exists():
        check("the device node is untouched", stat.S_ISCHR(os.lstat(device).st_mode))
        device.unlink()
    check("no staging file was made", not [p.name for p in out.iterdir() if ".creating-" in p.name],
          sorted(p.name for p in out.iterdir()))

    notes = out / "notes.txt"
    notes.write_text("my notes\n" * 100)
    rc, _, err = mnemo(*record_args(notes, 1, "-q"))
    check("record --out a file that is not a session refuses to replace it",
          rc == 1 and f"{notes}: not a Mnemoscope session" in err and "refusing to record into it" in err
          and notes.read_text() == "my notes\n" * 100, (rc, err))

    target = out / "target.mnemo"
    shutil.copy(good, target)
    runs_before = len(info(target)["runs"])
    link = out / "link.mnemo"
    link.symlink_to(target)
    rc, _, err = mnemo(*record_args(link, 1, "-q"))
    check("record --out a link to a session adds a run at its target and keeps the link",
          rc == 0 and link.is_symlink() and len(info(target)["runs"]) == runs_before + 1, (rc, err))
    empty = out / "empty.mnemo"
    empty.touch()
    link_to_empty = out / "link-to-empty.mnemo"
    link_to_empty.symlink_to(empty)
    rc, _, err = mnemo(*record_args(link_to_empty, 1, "-q"))
    check("record --out a link to an empty file creates the session at its target and keeps the link",
          rc == 0 and link_to_empty.is_symlink() and len(info(empty)["runs"]) == 1, (rc, err))


def test_early_kills(tmp: Path):
    """SIGKILL in the first moments of a recording, while its session file is being created, renamed
    into place and opened: whatever is left opens in mnemo info and the Python reader and leaves no
    journal behind, and the next recording into that name succeeds and leaves no staging file."""
    for i, delay in enumerate((0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2)):
        session = tmp / f"early{i}.mnemo"
        p = subprocess.Popen([MNEMO, *map(str, record_args(session, 3000, "--ignore-eos", "-q"))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 60 * SCALE  # the first file of that name, staging or session
        while time.time() < end and p.poll() is None and not list(tmp.glob(f"early{i}.mnemo*")):
            time.sleep(0.0005)
        time.sleep(delay * SCALE)
        p.send_signal(signal.SIGKILL)
        p.wait()
        name = f"early SIGKILL #{i} (+{delay * 1000:.0f} ms)"
        left = sorted(q.name for q in tmp.glob(f"early{i}.mnemo*"))
        if session.exists():
            rc, _, err = mnemo("info", session, "--json")
            check(f"{name}: mnemo info opens what was left ({', '.join(left)})", rc == 0, err)
            err = python_reader_error(session)
            check(f"{name}: the Python reader opens it", not err, err)
            check(f"{name}: no journal is left", not Path(f"{session}-journal").exists())
        rc, _, err = mnemo(*record_args(session, 1, "-q"))
        left = sorted(q.name for q in tmp.glob(f"early{i}.mnemo*") if ".creating-" in q.name or "journal" in q.name)
        check(f"{name}: the next recording succeeds and leaves nothing behind", rc == 0 and not left, (rc, err, left))


def python_reader(*args):
    p = subprocess.run([sys.executable, f"{REPO}/tools/mnemo_session.py", *map(str, args)], capture_output=True, text=True,
                       timeout=300 * SCALE)
    return p.returncode, p.stdout, p.stderr


def flip_byte(path, where, offset_sql):
    """Changes one byte of a _mixer_factor BLOB (to whatever it is not), its length kept."""
    con = sqlite3.connect(path)
    con.execute(f"UPDATE _mixer_factor SET data = CAST(substr(data, 1, {offset_sql}) || CASE WHEN "
                f"substr(data, {offset_sql} + 1, 1) = x'5A' THEN x'A5' ELSE x'5A' END || substr(data, {offset_sql} + 2) "
                f"AS BLOB) WHERE {where}")
    con.commit()
    con.close()


def test_checksums(tmp: Path, good: Path):
    """A byte changed inside a factor BLOB: mnemo tile and the Python reader fail, naming the value."""
    bad = tmp / "flipped.mnemo"
    bad.write_bytes(good.read_bytes())
    flip_byte(bad, "run_id = 1 AND layer = 2 AND step = 0 AND factor = 'q'", "100")  # head 0's slice
    want = "run 1 layer 2 head 0 step 0 factor q (column data): checksum mismatch"
    npy = tmp / "flipped.npy"
    rc, _, err = mnemo("tile", bad, "--layer", 2, "--head", 0, "--npy", npy)
    check("mnemo tile on a damaged factor fails naming it", rc == 1 and want in err and str(bad) in err, err)
    rc, _, err = mnemo("tile", bad, "--layer", 2, "--head", 3, "--npy", npy)
    check("mnemo tile of another head of that row still works", rc == 0, err)
    rc, _, err = python_reader(bad, "tile", "--layer", 2, "--head", 0, "--out", npy)
    check("mnemo_session.py tile on a damaged factor fails naming it", rc == 1 and want in err, err)
    flip_byte(bad, "run_id = 1 AND layer = 5 AND step = 0 AND factor = 'k'", "length(data) - 7")  # the last KV head
    want = "run 1 layer 5 head 8 (KV head 2) step 0 factor k (column data): checksum mismatch"
    rc, _, err = mnemo("tile", bad, "--layer", 5, "--head", 8, "--npy", npy)
    check("mnemo tile on a damaged key fails naming its KV head", rc == 1 and want in err, err)
    rc, _, err = python_reader(bad, "score", "--layer", 5, "--head", 8, "--query", 1, "--key", 0)
    check("mnemo_session.py on a damaged key fails naming its KV head", rc == 1 and want in err, err)


def test_v1_session(tmp: Path):
    """The committed v1 session (written by the v1 recorder) through every command, read-only."""
    v1 = tmp / "v1.mnemo"
    v1.write_bytes(Path(f"{REPO}/tests/data/session/v1_smollm2_tiny.mnemo").read_bytes())
    before = hashlib.sha256(v1.read_bytes()).hexdigest()
    want = np.load(f"{REPO}/tests/data/session/v1_smollm2_tiny.step2_layer3_head4.npy")
    rc, text, err = mnemo("info", v1)
    check("v1 session: info", rc == 0 and "schema v1" in text and "v1-fixture" in text, text + err)
    j = info(v1)
    check("v1 session: info --json counts its attention", j["runs"][0]["counts"]["attention_heads"] == 30 * 9 * 3, j)
    npy = tmp / "v1.npy"
    rc, _, err = mnemo("tile", v1, "--step", 2, "--layer", 3, "--head", 4, "--npy", npy)
    check("v1 session: mnemo tile is what the v1 build wrote", rc == 0 and np.array_equal(np.load(npy), want), err)
    rc, text, err = mnemo("stats", v1)
    check("v1 session: stats", rc == 0 and "matmul" in text, text + err)
    out = tmp / "v1-csv"
    rc, _, err = mnemo("export", v1, "--format", "csv", "--out", out)
    rows = (out / "attention_head.csv").read_text().count("\n") - 1 if rc == 0 else 0
    check("v1 session: export csv keeps its attention_head rows", rc == 0 and rows == 30 * 9 * 3, err)
    check("v1 session: export csv has its layers and no state files (v2 views)",
          rc == 0 and (out / "layer.csv").read_text().count("\n") - 1 == 30 and not (out / "state_stat.csv").exists(), err)
    rc, _, err = python_reader(v1, "tile", "--step", 2, "--layer", 3, "--head", 4, "--out", npy)
    check("v1 session: mnemo_session.py tile agrees", rc == 0 and np.abs(np.load(npy) - want).max() < 1e-5, err)
    rc, _, err = mnemo("record", "--model", SMOLLM, "--prompt", "Hi", "-n", 1, "--out", v1, "-q")
    check("v1 session: record refuses to append, naming the schema", rc != 0 and "schema v1" in err, err)
    check("v1 session: the file is untouched", hashlib.sha256(v1.read_bytes()).hexdigest() == before)


def wait_for_file(path, timeout):
    end = time.time() + timeout
    while time.time() < end and not path.exists():
        time.sleep(0.02)


def test_sigkill(tmp: Path, kills: int):
    rng = random.Random(1234)
    for i in range(kills):
        session = tmp / f"killed{i}.mnemo"
        # 3000 steps outlast every kill time, also under the sanitizers.
        p = subprocess.Popen([MNEMO, *map(str, record_args(session, 3000, "--ignore-eos", "-q"))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill anywhere from model loading to deep into decoding.
        time.sleep(rng.uniform(0.05, 3.0) * SCALE)
        finished_first = p.poll() is not None
        p.send_signal(signal.SIGKILL)
        p.wait()
        name = f"SIGKILL #{i}"
        check(f"{name}: the recorder was still running when killed", not finished_first, p.returncode)
        if not session.exists():
            # Killed while creating the file: at most the staging file, which the next recording
            # into that name removes.
            left = [p.name for p in tmp.glob(f"killed{i}.mnemo*")]
            check(f"{name}: killed before the session existed leaves no session file",
                  all(".creating-" in n for n in left), left)
            if left:
                rc, _, err = mnemo(*record_args(session, 1, "-q"))
                left = [p.name for p in tmp.glob(f"killed{i}.mnemo*") if ".creating-" in p.name]
                check(f"{name}: the next recording removes the stale staging file", rc == 0 and not left, (rc, err, left))
            continue
        try:
            ok = integrity_ok(session)
        except sqlite3.Error as e:
            ok = False
            detail = str(e)
        check(f"{name}: file passes integrity_check", ok)
        runs = sql(session, "SELECT run_id, status FROM run")
        if not runs:
            check(f"{name}: killed before the run began: an empty session that opens", info(session)["runs"] == [])
            continue
        j = info(session)["runs"][0]
        check(f"{name}: run reported incomplete", j["status"] == "incomplete", j)
        steps = [r[0] for r in sql(session, "SELECT step FROM step WHERE run_id = 1 ORDER BY step")]
        check(f"{name}: committed steps are contiguous from 0", steps == list(range(len(steps))), steps[:10])
        if steps:
            last = steps[-1]
            heads = sql(session, "SELECT count(*) FROM attention_head WHERE run_id = 1 AND step = ?", last)[0][0]
            check(f"{name}: every head of the last committed step is there", heads == 30 * 9, heads)
            npy = tmp / "k.npy"
            rc, _, err = mnemo("tile", session, "--step", last, "--layer", 29, "--head", 8, "--npy", npy)
            ok = rc == 0 and np.abs(np.load(npy).sum(1) - 1).max() < 1e-2
            check(f"{name}: tile of the last committed step ({last}) reads exactly", ok, err)


def test_disk_full(tmp: Path):
    session = tmp / "full.mnemo"
    limit = 3 << 20

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, as on a full disk

    rc, _, err = mnemo(*record_args(session, 200, "--ignore-eos", "-q"), preexec=small_disk)
    check("write error: record exits 1 with one message naming the file", rc == 1 and str(session) in err
          and "recording stopped at step" in err, (rc, err[-500:]))
    check("write error: the file passes integrity_check", integrity_ok(session))
    j = info(session)["runs"][0]
    check("write error: the run is not reported complete", j["status"] == "incomplete", j)
    steps = sql(session, "SELECT count(*) FROM step WHERE run_id = 1")[0][0]
    check("write error: steps committed before the failure are kept", steps >= 1, steps)


def test_interrupt(tmp: Path):
    session = tmp / "interrupted.mnemo"
    p = subprocess.Popen([MNEMO, *map(str, record_args(session, 3000, "--ignore-eos", "-q"))],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_file(session, 60 * SCALE)
    time.sleep(1.5 * SCALE)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120 * SCALE)
    j = info(session)["runs"][0]
    check("Ctrl-C stops the recording with exit 130", p.returncode == 130, (p.returncode, err))
    check("Ctrl-C keeps the run, incomplete, with the reason", j["status"] == "incomplete"
          and "cancelled" in (j["error"] or "") and j["n_steps"] >= 1, j)


def test_bad_files(tmp: Path, good: Path):
    cases = []
    text = tmp / "notes.mnemo"
    text.write_text("just some notes, not a database\n" * 10)
    cases.append(("a text file", text, "not a Mnemoscope session"))
    foreign = tmp / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    cases.append(("another SQLite database", foreign, "not a Mnemoscope session"))
    newer = tmp / "newer.mnemo"
    newer.write_bytes(good.read_bytes())
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 9")
    con.commit()
    con.close()
    cases.append(("a newer schema", newer, "newer Mnemoscope"))
    cut = tmp / "cut.mnemo"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    cases.append(("a truncated session", cut, "truncated"))
    cases.append(("a missing file", tmp / "missing.mnemo", "no such file"))
    for label, path, phrase in cases:
        for cmd in (["info", path], ["stats", path], ["tile", path, "--layer", 0, "--head", 0, "--npy", tmp / "x.npy"]):
            before = path.read_bytes() if path.exists() else None
            rc, _, err = mnemo(*cmd)
            after = path.read_bytes() if path.exists() else None
            ok = rc == 1 and phrase in err and str(path) in err and len(err.strip().splitlines()) == 1
            check(f"{cmd[0]} on {label}: one clear error", ok, (rc, err))
            check(f"{cmd[0]} on {label}: file untouched", before == after)
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    rc, _, err = mnemo(*record_args(foreign, 2))
    check("record into a foreign database refuses and leaves it alone",
          rc == 1 and "not a Mnemoscope session" in err and hashlib.sha256(foreign.read_bytes()).hexdigest() == before, err)


def main():
    global MNEMO, REPO, SMOLLM, SCALE, mnemo_session
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnemo", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--sanitized", action="store_true")
    ap.add_argument("--kills", type=int, default=8)
    a = ap.parse_args()
    MNEMO, REPO = a.mnemo, a.repo
    SMOLLM = f"{REPO}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    SCALE = 6.0 if a.sanitized else 1.0
    sys.path.insert(0, f"{REPO}/tools")
    import mnemo_session  # noqa: E402  the Python reader, tools/mnemo_session.py
    with tempfile.TemporaryDirectory(prefix="mnemo-recording-") as d:
        tmp = Path(d)
        test_record_info_tile_stats(tmp)
        test_sigkill(tmp, a.kills if not a.sanitized else max(3, a.kills // 2))
        test_disk_full(tmp)
        test_interrupt(tmp)
        test_bad_files(tmp, tmp / "main.mnemo")
        test_out_paths(tmp, tmp / "main.mnemo")
        test_hot_journal(tmp, tmp / "main.mnemo")
        test_no_committed_step(tmp, tmp / "main.mnemo")
        test_early_kills(tmp)


        test_checksums(tmp, tmp / "main.mnemo")
        test_v1_session(tmp)
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
