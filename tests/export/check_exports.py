#!/usr/bin/env python3
"""Checks what `mnemo export` wrote against the session it came from, read independently with
Python's sqlite3:

  check_exports.py perfetto SESSION OUT.pftrace [--run R]   decoded with the `protobuf` package
  check_exports.py chrome   SESSION OUT.json    [--run R]   json.load
  check_exports.py csv      SESSION OUT_DIR     [--run R]   csv module, every row of every view
  check_exports.py bad-input MNEMO SESSION WORK_DIR         errors for bad files, flags and runs
  check_exports.py csv-edge MNEMO SESSION WORK_DIR          CSV of a copy holding awkward values
  check_exports.py trace-edge MNEMO SESSION WORK_DIR        traces of a copy that needs clamping

Trace times are nanoseconds from the earliest time in the session (runs, steps, ops, kernels,
counters); the exporter's layout is described in docs/SESSION_FORMAT.md, "Exports"."""

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trace"))
from check_perfetto import (TYPE_COUNTER, TYPE_INSTANT, TYPE_SLICE_BEGIN, TYPE_SLICE_END,  # noqa: E402
                            Checker, annotations, trace_class, unknown_field_paths)

VIEWS = ["run", "step", "token", "attention_head", "head_metric", "kv_occupancy", "op", "kernel", "counter", "layer",
         "mixer_factor", "state_stat", "state_matrix"]
KV_COUNTER = "kv_occupancy_bytes"


class Session:
    """What the exports should show, straight from the file."""

    def __init__(self, path, run):
        self.path = path
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        ids = [r[0] for r in self.db.execute("SELECT run_id FROM run ORDER BY run_id")]
        self.runs = [run] if run is not None else ids
        self.origin = self.db.execute(
            "SELECT min(t) FROM (SELECT min(start_ns) AS t FROM _run UNION ALL SELECT min(start_ns) FROM _step "
            "UNION ALL SELECT min(start_ns) FROM _op UNION ALL SELECT min(start_ns) FROM _kernel "
            "UNION ALL SELECT min(t_ns) FROM _counter)").fetchone()[0]

    def rows(self, sql, *args):
        return self.db.execute(sql, args).fetchall()

    def info(self, run):
        label, model, arch = self.rows("SELECT label, model_path, architecture FROM run WHERE run_id = ?", run)[0]
        return f"run {run}: {label or os.path.basename(model.rstrip('/'))} ({arch})"

    def ops(self, run):
        return self.rows("SELECT op_id, step, kind, layer, head, thread, start_ns, end_ns FROM op WHERE run_id = ?", run)

    def steps(self, run):
        return self.rows("SELECT step, kind, pos0, n_tokens, start_ns, end_ns FROM step WHERE run_id = ?", run)

    def counters(self, run):
        """{track name: [(t_ns from origin, value)]}: the _counter series and the KV occupancy."""
        out = defaultdict(list)
        for name, t, v in self.rows("SELECT name, t_ns, value FROM counter WHERE run_id = ?", run):
            out[name].append((t - self.origin, v))
        for end, used in self.rows("SELECT s.end_ns, sum(k.bytes_used) FROM step AS s JOIN kv_occupancy AS k "
                                   "USING (run_id, step) WHERE run_id = ? GROUP BY s.step", run):
            out[KV_COUNTER].append((end - self.origin, float(used)))
        return {k: sorted(v) for k, v in out.items()}


def step_name(kind, step):
    return f"decode {step}" if kind == "decode" else kind


# ---------------------------------------------------------------- Perfetto


def decode_perfetto(path, c):
    """Tracks by uuid, slices as dicts (track, name, category, start/end, args), counters per track."""
    trace = trace_class()()
    raw = open(path, "rb").read()
    trace.ParseFromString(raw)
    c.eq("perfetto: no unknown fields", unknown_field_paths(trace), [])
    tracks, slices, counters, metadata = {}, [], defaultdict(list), {}
    stacks = defaultdict(list)
    for p in trace.packet:
        if p.HasField("track_descriptor"):
            tracks[p.track_descriptor.uuid] = p.track_descriptor
            continue
        e = p.track_event
        if e.type == TYPE_INSTANT and e.name == "trace metadata":
            metadata = annotations(e)
        elif e.type == TYPE_SLICE_BEGIN:
            stacks[e.track_uuid].append((p.timestamp, e))
        elif e.type == TYPE_SLICE_END:
            start, b = stacks[e.track_uuid].pop()
            slices.append({"track": e.track_uuid, "name": b.name, "category": b.categories[0] if b.categories else "",
                           "start": start, "end": p.timestamp, "args": annotations(b)})
        elif e.type == TYPE_COUNTER:
            counters[e.track_uuid].append((p.timestamp, e.double_counter_value))
    c.eq("perfetto: every BEGIN has an END", sum(len(s) for s in stacks.values()), 0)
    return raw, tracks, slices, counters, metadata


def check_perfetto(session, path, c):
    raw, tracks, slices, counters, metadata = decode_perfetto(path, c)
    c.eq("metadata origin_ns", metadata.get("origin_ns"), session.origin)
    c.eq("metadata session", metadata.get("session"), session.path)
    c.eq("metadata schema_version", metadata.get("schema_version"),
         session.rows("PRAGMA user_version")[0][0])

    processes = {d.process.pid: d for d in tracks.values() if d.HasField("process")}
    c.eq("one process track per run", sorted(processes), sorted(session.runs))
    by_track = defaultdict(list)
    for s in slices:
        by_track[s["track"]].append(s)

    for run in session.runs:
        w = f"run {run}"
        proc = processes.get(run)
        if proc is None:
            continue
        c.eq(f"{w} process name", proc.name, session.info(run))
        children = [d for d in tracks.values() if d.parent_uuid == proc.uuid]
        threads = {d.thread.thread_name: d for d in children if d.HasField("thread")}
        ops, steps = session.ops(run), session.steps(run)
        c.eq(f"{w} thread tracks", sorted(threads), sorted({f"thread {o[5]}" for o in ops}))
        run_tracks = {d.uuid for d in children}
        run_slices = [s for s in slices if s["track"] in run_tracks]
        check_op_slices(session, w, ops, run_slices, threads, c)
        check_step_and_layer_slices(session, w, ops, steps, run_slices, c)
        check_nesting(w, {t: by_track[t] for t in run_tracks}, c)
        got = {tracks[t].name: sorted(counters[t])
               for t in run_tracks if tracks[t].HasField("counter")}
        c.eq(f"{w} counter tracks", sorted(got), sorted(session.counters(run)))
        for name, want in session.counters(run).items():
            c.eq(f"{w} counter {name}", got.get(name), want)

    check_protoc(raw, c)
    print(f"perfetto: {len(tracks)} tracks, {len(slices)} slices, "
          f"{sum(len(v) for v in counters.values())} counter samples")


def check_op_slices(session, w, ops, run_slices, threads, c):
    op_slices = {s["args"].get("op_id"): s for s in run_slices if s["category"] == "op"}
    c.eq(f"{w} one slice per op", (len(op_slices), len([s for s in run_slices if s["category"] == "op"])),
         (len(ops), len(ops)))
    bad = []
    for op_id, step, kind, layer, head, thread, start, end in ops:
        s = op_slices.get(op_id)
        want = {"name": kind, "start": start - session.origin, "dur": end - start,
                "args": {"layer": layer, "head": head, "op_id": op_id},
                "track": threads[f"thread {thread}"].uuid if f"thread {thread}" in threads else None}
        got = s and {"name": s["name"], "start": s["start"], "dur": s["end"] - s["start"], "args": s["args"],
                     "track": s["track"]}
        if got != want:
            bad.append((op_id, got, want))
    c.eq(f"{w} op slices match the op rows (first mismatches)", bad[:3], [])


def check_step_and_layer_slices(session, w, ops, steps, run_slices, c):
    step_slices = [s for s in run_slices if s["category"] == "step"]
    got = sorted((s["args"]["step"], s["name"], s["start"], s["end"], s["args"]["pos0"], s["args"]["n_tokens"])
                 for s in step_slices)
    want = sorted((st, step_name(kind, st), a - session.origin, b - session.origin, pos0, n)
                  for st, kind, pos0, n, a, b in steps)
    c.eq(f"{w} one slice per step", got, want)

    # A layer slice per (step, layer >= 0) spanning that layer's ops in the step.
    span = {}
    for op_id, step, kind, layer, head, thread, start, end in ops:
        if layer >= 0:
            a, b = span.get((step, layer), (start, end))
            span[(step, layer)] = (min(a, start), max(b, end))
    want_layers = sorted((st, l, f"layer {l}", a - session.origin, b - session.origin) for (st, l), (a, b) in span.items())
    got_layers = sorted((s["args"]["step"], s["args"]["layer"], s["name"], s["start"], s["end"])
                        for s in run_slices if s["category"] == "layer")
    c.eq(f"{w} layer slices (count)", len(got_layers), len(want_layers))
    c.eq(f"{w} layer slices span their ops", got_layers == want_layers, True)


def check_nesting(w, slices_by_track, c):
    """Every layer lies inside a step and every op inside its layer (or its step for layer -1)."""
    bad = 0
    for slices in slices_by_track.values():
        steps = {s["args"]["step"]: s for s in slices if s["category"] == "step"}
        layers = {(s["args"]["step"], s["args"]["layer"]): s for s in slices if s["category"] == "layer"}
        inside = lambda p, ch: p is not None and p["start"] <= ch["start"] and ch["end"] <= p["end"]
        for (st, _), l in layers.items():
            bad += not inside(steps.get(st), l)
        for s in slices:
            if s["category"] == "op":
                parents = [l for (st, ly), l in layers.items() if ly == s["args"]["layer"] and inside(l, s)]
                ok = parents if s["args"]["layer"] >= 0 else [p for p in steps.values() if inside(p, s)]
                bad += not ok
    c.eq(f"{w} slices nest step > layer > op (violations)", bad, 0)


def partial_overlaps(slices_by_track):
    """Slices that overlap an enclosing one without lying inside it (what Perfetto cannot draw)."""
    bad = 0
    for slices in slices_by_track.values():
        open_ = []
        for s in sorted(slices, key=lambda s: (s["start"], -s["end"])):
            while open_ and not (open_[-1]["start"] <= s["start"] and s["end"] <= open_[-1]["end"]
                                 and (s["start"] < open_[-1]["end"] or open_[-1]["start"] == open_[-1]["end"])):
                bad += s["start"] < open_[-1]["end"]
                open_.pop()
            open_.append(s)
    return bad


def check_protoc(raw, c):
    protoc = shutil.which("protoc")
    if not protoc:
        print("protoc not on PATH: skipping --decode_raw")
        return
    r = subprocess.run([protoc, "--decode_raw"], input=raw, capture_output=True, timeout=300)
    c.eq("protoc --decode_raw exit status", (r.returncode, r.stderr.decode(errors="replace")[:200]), (0, ""))


# ---------------------------------------------------------------- Chrome JSON


def check_chrome(session, path, c):
    doc = json.load(open(path, encoding="utf-8"))
    events = doc["traceEvents"]
    c.eq("chrome: otherData origin_ns", doc["otherData"].get("origin_ns"), session.origin)
    pnames = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    c.eq("chrome: a process per run", pnames, {r: session.info(r) for r in session.runs})
    for run in session.runs:
        w = f"chrome run {run}"
        x = [e for e in events if e["ph"] == "X" and e["pid"] == run]
        ops = {e["args"]["op_id"]: e for e in x if e["cat"] == "op"}
        rows = session.ops(run)
        c.eq(f"{w} one X event per op", (len(ops), len([e for e in x if e["cat"] == "op"])), (len(rows), len(rows)))
        far = [op_id for op_id, step, kind, layer, head, thread, start, end in rows
               if op_id not in ops or ops[op_id]["name"] != kind or ops[op_id]["tid"] != thread
               or abs(ops[op_id]["ts"] - (start - session.origin) / 1e3) > 1
               or abs(ops[op_id]["dur"] - (end - start) / 1e3) > 1]
        c.eq(f"{w} op events within 1 us of the session (mismatched op ids)", far[:5], [])
        steps = sorted(e["args"]["step"] for e in x if e["cat"] == "step")
        c.eq(f"{w} step events", steps, sorted(r[0] for r in session.steps(run)))
        got = defaultdict(list)
        for e in events:
            if e["ph"] == "C" and e["pid"] == run:
                got[e["name"]].append((e["ts"], e["args"]["value"]))
        want = session.counters(run)
        c.eq(f"{w} counter names", sorted(got), sorted(want))
        for name, samples in want.items():
            g = sorted(got.get(name, []))
            ok = len(g) == len(samples) and all(abs(ts - t / 1e3) <= 1 and v == wv for (ts, v), (t, wv) in zip(g, samples))
            c.true(f"{w} counter {name} samples", ok)
    print(f"chrome: {len(events)} events")


# ---------------------------------------------------------------- CSV


def csv_cell(v):
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, float):
        return "%.17g" % v
    return str(v)


def check_csv(session, out_dir, c):
    where = "" if len(session.runs) != 1 else f" WHERE run_id = {int(session.runs[0])}"
    total = 0
    for view in VIEWS:
        path = Path(out_dir) / f"{view}.csv"
        if not path.exists():
            c.true(f"csv: {path} exists", False)
            continue
        raw = path.read_bytes()
        c.true(f"csv {view}: UTF-8", raw.decode("utf-8") is not None)
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        cols = [r[1] for r in session.rows(f'PRAGMA table_info("{view}")')]
        c.eq(f"csv {view}: header", rows[0] if rows else None, cols)
        n = session.rows(f'SELECT count(*) FROM "{view}"{where}')[0][0]
        c.eq(f"csv {view}: rows", len(rows) - 1, n)
        want = Counter(tuple(csv_cell(v) for v in r) for r in session.rows(f'SELECT * FROM "{view}"{where}'))
        c.eq(f"csv {view}: every value", Counter(map(tuple, rows[1:])) == want, True)
        total += n
    # A few values spelled out, so the comparison above is not comparing two identical mistakes.
    tokens = {(int(r["run_id"]), int(r["position"])): r for r in csv.DictReader(open(Path(out_dir) / "token.csv",
                                                                                      newline="", encoding="utf-8"))}
    for run, pos, text in session.rows(f"SELECT run_id, position, text FROM token{where} LIMIT 5"):
        c.eq(f"csv token {run}/{pos} text", tokens[(run, pos)]["text"], text.decode("utf-8", "replace"))
    counters = list(csv.DictReader(open(Path(out_dir) / "counter.csv", newline="", encoding="utf-8")))
    if counters:
        r = counters[0]
        v = session.rows("SELECT value FROM counter WHERE run_id = ? AND name = ? AND t_ns = ?",
                         int(r["run_id"]), r["name"], int(r["t_ns"]))[0][0]
        c.eq("csv counter value round-trips exactly", float(r["value"]), v)
    print(f"csv: {len(VIEWS)} files, {total} rows")


# ---------------------------------------------------------------- bad input


def check_bad_input(mnemo, session_path, work, c):
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    not_session = work / "not_a_session.mnemo"
    not_session.write_text("this is not a SQLite file\n" * 10)
    a_file = work / "a_file"
    a_file.write_text("x")
    missing = work / "missing.mnemo"
    cases = [
        ("not a session", [str(not_session), "--format", "perfetto", "--out", str(work / "x.pftrace")], str(not_session)),
        ("missing file", [str(missing), "--format", "chrome", "--out", str(work / "x.json")], str(missing)),
        ("unknown format", [session_path, "--format", "xml", "--out", str(work / "x.xml")], "--format"),
        ("missing --out", [session_path, "--format", "csv"], "--out"),
        ("unknown run", [session_path, "--format", "perfetto", "--run", "99", "--out", str(work / "y.pftrace")], "run 99"),
        ("run not a number", [session_path, "--format", "csv", "--run", "two", "--out", str(work / "z")], "--run"),
        ("csv into a file", [session_path, "--format", "csv", "--out", str(a_file)], str(a_file)),
        ("unwritable output", [session_path, "--format", "chrome", "--out", str(work / "no" / "such" / "dir.json")],
         str(work / "no" / "such" / "dir.json")),
    ]
    for what, args, named in cases:
        r = subprocess.run([mnemo, "export", *args], capture_output=True, text=True, timeout=120)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        c.true(f"{what}: exit status 1 or 2 (got {r.returncode})", r.returncode in (1, 2))
        c.true(f"{what}: one error line naming {named!r} (got {lines})", len(lines) == 1 and named in lines[0])
    r = subprocess.run([mnemo, "export", session_path, "--format", "perfetto", "--run", "99", "--out",
                        str(work / "y.pftrace")], capture_output=True, text=True, timeout=120)
    c.true("unknown run: message names the session file", session_path in r.stderr)


def fresh_copy(session_path, work):
    """An empty work folder holding a copy of the session to edit (the fixture stays untouched)."""
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    copy = work / "edge.mnemo"
    shutil.copyfile(session_path, copy)
    return work, copy, sqlite3.connect(copy)


def check_csv_edge(mnemo, session_path, work, c):
    """A copy of the session with what CSV must escape or repair: token bytes that are not UTF-8
    (a lone continuation byte, a truncated 3-byte sequence, a surrogate), a label with a comma,
    quotes and a line break, and a REAL that needs all 17 digits."""
    work, copy, db = fresh_copy(session_path, work)
    db.execute("UPDATE _token SET text = CAST(x'80' || text || x'e282' AS BLOB) WHERE run_id = 1 AND position = 0")
    db.execute("UPDATE _token SET text = x'eda080f0908080' WHERE run_id = 1 AND position = 1")
    db.execute("UPDATE _run SET label = 'a, \"quoted\"\r\nlabel' WHERE run_id = 1")
    db.execute("UPDATE _counter SET value = 0.1 + 0.2 WHERE (run_id, name, t_ns) = "
               "(SELECT run_id, name, t_ns FROM _counter ORDER BY run_id, name, t_ns LIMIT 1)")
    db.commit()
    db.close()
    r = subprocess.run([mnemo, "export", str(copy), "--format", "csv", "--out", str(work / "csv")],
                       capture_output=True, text=True, timeout=120)
    c.eq("csv-edge: export exit status", (r.returncode, r.stderr if r.returncode else ""), (0, ""))
    check_csv(Session(str(copy), None), work / "csv", c)
    text = next(csv.DictReader(open(work / "csv" / "token.csv", newline="", encoding="utf-8")))["text"]
    c.eq("csv-edge: invalid bytes become U+FFFD", (text[0], text[-1]), ("\ufffd", "\ufffd"))


def check_trace_edge(mnemo, session_path, work, c):
    """A copy of the session the exporter must repair to keep slices nested: an op running past
    its step's end, a layer-0 op moved into layer 1's time (so the layer spans interleave), run 2's
    ops on run 1's thread id, and a run 3 with steps but no ops."""
    work, copy, db = fresh_copy(session_path, work)
    step0_end = db.execute("SELECT end_ns FROM _step WHERE run_id = 1 AND step = 0").fetchone()[0]
    last0 = db.execute("SELECT max(op_id) FROM _op WHERE run_id = 1 AND step = 0").fetchone()[0]
    db.execute("UPDATE _op SET end_ns = ? WHERE run_id = 1 AND op_id = ?", (step0_end + 1_000_000, last0))
    l0 = db.execute("SELECT max(op_id) FROM _op WHERE run_id = 1 AND step = 1 AND layer = 0").fetchone()[0]
    a, b = db.execute("SELECT min(start_ns), max(end_ns) FROM _op WHERE run_id = 1 AND step = 1 AND layer = 1").fetchone()
    db.execute("UPDATE _op SET start_ns = ?, end_ns = ? WHERE run_id = 1 AND op_id = ?", (a + 1, (a + b) // 2, l0))
    thread1 = db.execute("SELECT thread FROM _op WHERE run_id = 1 LIMIT 1").fetchone()[0]
    db.execute("UPDATE _op SET thread = ? WHERE run_id = 2", (thread1,))
    for table in ("_run", "_step"):
        db.execute(f"CREATE TEMP TABLE t AS SELECT * FROM {table} WHERE run_id = 2")
        db.execute("UPDATE t SET run_id = 3")
        db.execute(f"INSERT INTO {table} SELECT * FROM t")
        db.execute("DROP TABLE t")
    db.commit()
    db.close()
    session = Session(str(copy), None)
    for fmt, out in (("perfetto", work / "edge.pftrace"), ("chrome", work / "edge.json")):
        r = subprocess.run([mnemo, "export", str(copy), "--format", fmt, "--out", str(out)],
                           capture_output=True, text=True, timeout=120)
        c.eq(f"trace-edge: {fmt} export exit status", (r.returncode, r.stderr if r.returncode else ""), (0, ""))
    _, tracks, slices, _, _ = decode_perfetto(work / "edge.pftrace", c)
    processes = {d.process.pid: d for d in tracks.values() if d.HasField("process")}
    c.eq("trace-edge: process per run", sorted(processes), [1, 2, 3])
    threads = {pid: [d for d in tracks.values() if d.parent_uuid == p.uuid and d.HasField("thread")]
               for pid, p in processes.items()}
    c.eq("trace-edge: thread names", {pid: [d.name for d in ts] for pid, ts in threads.items()},
         {1: [f"thread {thread1}"], 2: [f"thread {thread1}"], 3: []})
    c.true("trace-edge: run 2's shared thread id gets a tid of its own",
           threads[1][0].thread.tid != threads[2][0].thread.tid)
    steps3 = [d for d in tracks.values() if d.parent_uuid == processes[3].uuid and d.name == "steps"]
    c.eq("trace-edge: run 3's steps on a track of their own",
         [s["name"] for s in slices if steps3 and s["track"] == steps3[0].uuid], ["encode"])
    ops = {s["args"]["op_id"]: s for s in slices if s["category"] == "op" and s["track"] == threads[1][0].uuid}
    c.eq("trace-edge: every op of run 1 kept", len(ops), len(session.ops(1)))
    c.eq("trace-edge: the op past its step ends with it", ops[last0]["end"], step0_end - session.origin)
    by_track = defaultdict(list)
    for s in slices:
        by_track[s["track"]].append(s)
    c.eq("trace-edge: slices partially overlapping another on their track", partial_overlaps(by_track), 0)
    layers = {s["args"]["layer"]: s for s in slices if s["category"] == "layer" and s["args"]["step"] == 1
              and s["track"] == threads[1][0].uuid}
    c.eq("trace-edge: layer 1 (interleaved with layer 0) is cut to end with layer 0, not dropped",
         (layers[1]["start"], layers[1]["end"]), (a - session.origin, (a + b) // 2 - session.origin))


def main(argv):
    c = Checker()
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    mode = argv[1]
    if mode == "bad-input":
        check_bad_input(argv[2], argv[3], argv[4], c)
    elif mode == "csv-edge":
        check_csv_edge(argv[2], argv[3], argv[4], c)
    elif mode == "trace-edge":
        check_trace_edge(argv[2], argv[3], argv[4], c)
    else:
        run = int(argv[argv.index("--run") + 1]) if "--run" in argv else None
        session = Session(argv[2], run)
        {"perfetto": check_perfetto, "chrome": check_chrome, "csv": check_csv}[mode](session, argv[3], c)
    print(f"{c.passes} passed, {c.failures} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
