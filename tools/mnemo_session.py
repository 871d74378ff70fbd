#!/usr/bin/env python3
"""Reads Mnemoscope sessions (.mnemo, docs/SESSION_FORMAT.md) from Python: a module and a small CLI.

Depends only on the standard library (sqlite3) and NumPy. It agrees with the C++ reader
(profiler/session/src/session_reader.cpp): the same checks on open, the same assembly of a head's
factors, the same map shape and tile grid. Scores are recomputed in float64 from the recorded
fp16 factors:

    p[i][j] = exp(q_i · k_j · scale − lse_i)   for j visible to row i under the mask, else 0

(causal: j <= i; window: i − window < j <= i; none: every j < n_k of the row; keys never
recorded read as hidden). Like the C++ reader the exponent is clamped at 0, so p <= 1.

API
---
``Session(path)``
    Opens the file read-only (``sqlite3.connect(f"file:{path}?mode=ro", uri=True)``, plus
    ``PRAGMA query_only``) and never writes, with one exception: a rollback journal left hot
    beside the file by a writer that stopped mid-transaction (``FILE-journal``) is played back
    first through a read-write connection, as SQLite cannot read the file otherwise; without write
    access to the file and its folder that is a ``SessionError`` saying what to do. Raises ``SessionError`` (a ``ValueError``) naming the
    file when it is missing, empty, not SQLite, an SQLite database without the session
    ``application_id`` 0x4D4E454D, or of a schema newer than version 1. Usable as a context
    manager; ``close()`` closes it.
``runs()``
    One dict per run from the ``run`` view, plus ``n_tokens`` and ``n_steps``.
``steps(run)``, ``tokens(run)``, ``head_metrics(run, step=None)``, ``kv(run)``
    Dicts from the ``step``, ``_token``, ``head_metric`` and ``_kv_occupancy`` tables. A token's
    ``text`` is its bytes decoded as UTF-8 with ``errors="replace"`` (a token may hold part of a
    character); ``bytes`` holds the raw bytes. A KV row's ``ranges`` is a list of [begin, end).
``factors(run, layer, head)``
    ``HeadFactors``: ``q`` float32 [n_pos, d] (zero rows where no query was recorded), ``lse``
    float32 [n_pos], ``n_k`` int64 [n_pos] (−1 where no query was recorded), ``pos`` (row
    positions), ``row_step``, ``mask`` (``none``/``causal``/``window``), ``window``, ``scale``
    (float32, as the C++ reader uses it), ``kv_head``, ``k`` float32 [n_keys, d]. Assembled from
    this head's slice of each ``_attention_query`` row (step rows q_pos0 .. q_pos0+n_q−1) and KV
    head ``head // (n_heads // n_kv_heads)``'s slice of each ``_attention_key`` row (rows pos0 ..
    pos0+n−1), over the steps committed so far.
``score(run, layer, head, i, j)``
    One probability, float.
``row(run, layer, head, i)``
    float64 [n_k of row i]: the row's probabilities over keys 0 .. n_k−1.
``tile(run, step, layer, head, level=0, ty=0, tx=0, stat="max")``
    float64 [rows, cols], recomputed from the factors (the stored pyramid is not read). The map
    at a step has R = pos0 + n_tokens of the step rows and C = max n_k over rows < R columns.
    Level 0: exact probabilities of rows [ty·256, ty·256+256) ∩ [0, R) and columns
    [tx·256, tx·256+256) ∩ [0, C). Level L >= 1: each cell pools 2^L × 2^L map cells, tiles of
    256 × 256 pooled cells; ``stat="max"`` takes their maximum, ``stat="mean"`` their sum divided
    by the number of map cells inside the pooled cell (hidden cells count as 0).
    ``tile_shape(...)`` gives the map and tile extents without computing.
``stored_pyramid_tile(run, step, layer, head, level, ty, tx)``
    ``StoredTile`` with ``max`` and ``mean`` float32 [rows, cols] decoded from the
    ``_pyramid_tile`` row recorded at exactly that step (``LookupError`` when there is none).
    Codec ``f16`` is raw little-endian fp16; ``zstd-f16`` is zstd-compressed fp16. Python's
    standard library has no zstd: the module uses the ``zstandard`` package when it is
    importable, else runs the ``zstd`` command (``zstd -d -c``; Debian package ``zstd``).

Things a session does not hold (an unknown run, step or head, factors not recorded, a tile
outside the map) raise ``LookupError`` naming them; bad arguments raise ``ValueError``.

Example::

    from mnemo_session import Session

    with Session("out.mnemo") as s:
        for r in s.runs():
            print(r["run_id"], r["architecture"], r["status"], r["n_tokens"])
        p = s.tile(1, step=0, layer=3, head=2)             # exact level-0 probabilities
        overview = s.tile(1, 0, 3, 2, level=2, stat="mean")
        print(s.score(1, 3, 2, i=100, j=0), p[100, 0])

CLI::

    python tools/mnemo_session.py FILE info
    python tools/mnemo_session.py FILE score --run R --layer L --head H --query I --key J
    python tools/mnemo_session.py FILE tile --run R --step S --layer L --head H \\
        [--level K --ty Y --tx X --stat max|mean] --out OUT.npy   # float32, like mnemo tile --npy
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

APPLICATION_ID = 0x4D4E454D  # "MNEM"
SCHEMA_VERSION = 1  # the newest schema this reader knows
TILE_SIZE = 256
_CACHED_HEADS = 16
_MAX_BLOCK_CELLS = 1 << 22  # map cells recomputed at once when pooling

__all__ = ["Session", "SessionError", "HeadFactors", "StoredTile", "TileShape", "APPLICATION_ID", "SCHEMA_VERSION",
           "TILE_SIZE", "decode_tile_blob"]


class SessionError(ValueError):
    """The file is not a session this reader can open (missing, not SQLite, not a session, newer schema)."""


@dataclass
class HeadFactors:
    run: int
    layer: int
    head: int
    kv_head: int
    d: int
    mask: str          # none | causal | window
    window: int
    scale: float       # float32-rounded, as the C++ reader computes with it
    max_step: int      # newest step loaded
    q: np.ndarray      # float32 [n_pos, d]
    lse: np.ndarray    # float32 [n_pos]
    n_k: np.ndarray    # int64 [n_pos]; -1 where the position has no recorded query
    row_step: np.ndarray  # int64 [n_pos]; -1 where none
    k: np.ndarray      # float32 [n_keys, d]

    @property
    def n_pos(self) -> int:
        return int(self.q.shape[0])

    @property
    def n_keys(self) -> int:
        return int(self.k.shape[0])

    @property
    def pos(self) -> np.ndarray:
        return np.arange(self.n_pos, dtype=np.int64)


@dataclass
class TileShape:
    map_rows: int  # R
    map_cols: int  # C
    level: int
    row0: int      # first pooled cell of the tile
    col0: int
    rows: int      # pooled cells in the tile
    cols: int


@dataclass
class StoredTile:
    run: int
    layer: int
    head: int
    step: int
    level: int
    ty: int
    tx: int
    rows: int
    cols: int
    codec: str
    max: np.ndarray   # float32 [rows, cols]
    mean: np.ndarray  # float32 [rows, cols]


def _zstd_decompress(data: bytes, expected: int, what: str) -> bytes:
    try:
        import zstandard  # type: ignore
    except ImportError:
        zstandard = None
    if zstandard is not None:
        try:
            out = zstandard.ZstdDecompressor().decompress(data, max_output_size=expected)
        except zstandard.ZstdError as e:
            raise ValueError(f"{what}: corrupt compressed tile ({e})") from None
    else:
        exe = shutil.which("zstd")
        if exe is None:
            raise RuntimeError(f"{what}: the tile is zstd-compressed; install the Python package zstandard or the "
                               "zstd command (Debian package zstd)")
        r = subprocess.run([exe, "-d", "-c", "-q"], input=data, capture_output=True, check=False)
        if r.returncode != 0:
            raise ValueError(f"{what}: corrupt compressed tile ({r.stderr.decode(errors='replace').strip()})")
        out = r.stdout
    if len(out) != expected:
        raise ValueError(f"{what}: compressed tile holds {len(out)} bytes, expected {expected}")
    return out


def decode_tile_blob(blob: bytes, codec: str, rows: int, cols: int, what: str = "tile") -> np.ndarray:
    """A _pyramid_tile payload as float32 [rows, cols]."""
    expected = rows * cols * 2
    if codec == "f16":
        if len(blob) != expected:
            raise ValueError(f"{what}: {len(blob)} bytes, expected {expected}")
        raw = bytes(blob)
    elif codec == "zstd-f16":
        raw = _zstd_decompress(bytes(blob), expected, what)
    else:
        raise ValueError(f"{what}: unknown codec {codec!r}")
    return np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(rows, cols)


def _blob(b: Any, n: int, dtype: str, what: str) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    if b is None or len(b) != n * size:
        got = 0 if b is None else len(b)
        raise ValueError(f"{what}: {got} bytes, expected {n * size}")
    return np.frombuffer(bytes(b), dtype=dtype)


def _roll_back_interrupted_write(path: str) -> None:
    """Plays back a hot rollback journal beside `path`, as the C++ reader does: a read-only
    connection cannot ("attempt to write a readonly database"), a read-write one does it on its
    first read. A journal a live writer still holds is not hot, and the read then just waits."""
    journal = path + "-journal"
    if not os.path.exists(journal) or os.path.getsize(journal) == 0:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not (os.access(path, os.W_OK) and os.access(folder, os.W_OK)):
        raise SessionError(f"{path}: a write to it was interrupted and left {journal}, which must be rolled back "
                           "before the session can be read, and this user may not write the file or its folder: open "
                           "it once as a user who may (any Mnemoscope tool rolls it back), or copy both files together "
                           "to a folder you can write and open the copy")
    try:
        con = sqlite3.connect("file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=rw", uri=True, timeout=5)
        try:
            con.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise SessionError(f"{path}: cannot roll back the interrupted write left in {journal} ({e})") from None


class Session:
    """A session file opened read-only. Not thread-safe: give each thread its own."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        p = self.path
        if not os.path.exists(p):
            raise SessionError(f"{p}: no such file")
        if os.path.isdir(p):
            raise SessionError(f"{p}: a directory, not a Mnemoscope session")
        if os.path.getsize(p) == 0:
            raise SessionError(f"{p}: empty file, not a Mnemoscope session")
        _roll_back_interrupted_write(p)
        uri = "file:" + urllib.parse.quote(os.path.abspath(p)) + "?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True)
        except sqlite3.Error as e:
            raise SessionError(f"{p}: cannot open ({e})") from None
        try:
            self._db.execute("PRAGMA query_only = ON")
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise SessionError(f"{p}: not an SQLite database, not a Mnemoscope session ({e})") from None
        if app_id != APPLICATION_ID:
            self._db.close()
            raise SessionError(f"{p}: an SQLite database but not a Mnemoscope session (application_id "
                               f"0x{app_id & 0xFFFFFFFF:08X}, expected 0x{APPLICATION_ID:08X})")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise SessionError(f"{p}: written by a newer Mnemoscope (session schema v{version}; this reader knows up "
                               f"to v{SCHEMA_VERSION})")
        if version < 1:
            self._db.close()
            raise SessionError(f"{p}: invalid session schema version {version}")
        n = self._db.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                             "AND name IN ('_run', '_step', '_token')").fetchone()[0]
        if n != 3:
            self._db.close()
            raise SessionError(f"{p}: damaged session: core tables are missing")
        self.schema_version = int(version)
        self._cache: dict[tuple[int, int, int], HeadFactors] = {}

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _rows(self, sql: str, params: tuple = ()) -> list[dict]:
        cur = self._db.execute(sql, params)
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def _scalar(self, sql: str, params: tuple = ()) -> Any:
        r = self._db.execute(sql, params).fetchone()
        return None if r is None else r[0]

    def _run_row(self, run: int) -> dict:
        rows = self._rows("SELECT * FROM run WHERE run_id = ?", (run,))
        if not rows:
            raise LookupError(f"{self.path}: no run {run}")
        return rows[0]

    # -- runs, steps, tokens, metrics, KV ---------------------------------------------------------

    def runs(self) -> list[dict]:
        out = self._rows("SELECT * FROM run ORDER BY run_id")
        for r in out:
            r["n_tokens"] = self._scalar("SELECT count(*) FROM _token WHERE run_id = ?", (r["run_id"],))
            r["n_steps"] = self._scalar("SELECT count(*) FROM _step WHERE run_id = ?", (r["run_id"],))
        return out

    def run(self, run: int) -> dict:
        r = self._run_row(run)
        r["n_tokens"] = self._scalar("SELECT count(*) FROM _token WHERE run_id = ?", (run,))
        r["n_steps"] = self._scalar("SELECT count(*) FROM _step WHERE run_id = ?", (run,))
        return r

    def steps(self, run: int) -> list[dict]:
        return self._rows("SELECT step, kind, pos0, n_tokens, start_ns, end_ns, dur_ns FROM step WHERE run_id = ? "
                          "ORDER BY step", (run,))

    def tokens(self, run: int) -> list[dict]:
        out = []
        for r in self._rows("SELECT position, token_id, text, step FROM _token WHERE run_id = ? ORDER BY position",
                            (run,)):
            raw = bytes(r["text"]) if r["text"] is not None else b""
            r["bytes"] = raw
            r["text"] = raw.decode("utf-8", errors="replace")
            out.append(r)
        return out

    def head_metrics(self, run: int, step: Optional[int] = None) -> list[dict]:
        return self._rows("SELECT layer, head, step, entropy, mean_distance, sink_mass, sparsity FROM head_metric "
                          "WHERE run_id = ?1 AND (?2 IS NULL OR step = ?2) ORDER BY step, layer, head", (run, step))

    def kv(self, run: int) -> list[dict]:
        out = []
        for r in self._rows("SELECT step, layer, n_resident, capacity, bytes_used, bytes_reserved, ranges "
                            "FROM _kv_occupancy WHERE run_id = ? ORDER BY step, layer", (run,)):
            b = bytes(r["ranges"])
            if len(b) % 16:
                raise ValueError(f"{self.path}: KV ranges of step {r['step']} are not int64 pairs")
            flat = np.frombuffer(b, dtype="<i8")
            r["ranges"] = [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]
            out.append(r)
        return out

    # -- attention -------------------------------------------------------------------------------

    def _newest_step(self, run: int) -> int:
        v = self._scalar("SELECT max(step) FROM _step WHERE run_id = ?", (run,))
        return -1 if v is None else int(v)

    def _rows_at_step(self, run: int, step: int) -> int:
        v = self._scalar("SELECT pos0 + n_tokens FROM _step WHERE run_id = ? AND step = ?", (run, step))
        if v is None:
            if self._newest_step(run) < 0:
                self._run_row(run)  # "no run" for a run that is not there at all
                raise LookupError(self._no_committed_step(run))
            raise LookupError(f"{self.path}: run {run} has no step {step} (not recorded, or not committed yet)")
        return int(v)

    def _no_committed_step(self, run: int) -> str:
        # As the C++ reader: not the captures' fault, nothing is committed yet.
        return (f"{self.path}: run {run} has no committed step yet (it is still being recorded, or its recorder "
                "stopped before the first step)")

    def factors(self, run: int, layer: int, head: int) -> HeadFactors:
        """The head's factors over every step committed so far (cached; reloaded when steps were added)."""
        key = (int(run), int(layer), int(head))
        newest = self._newest_step(run)
        f = self._cache.get(key)
        if f is not None and f.max_step >= newest:
            self._cache[key] = self._cache.pop(key)  # most recent last
            return f
        f = self._load_factors(*key, newest)
        self._cache.pop(key, None)
        self._cache[key] = f
        while len(self._cache) > _CACHED_HEADS:
            self._cache.pop(next(iter(self._cache)))
        return f

    def _load_factors(self, run: int, layer: int, head: int, newest: int) -> HeadFactors:
        what = f"{self.path}: run {run} layer {layer} head {head}"
        d = self._scalar("SELECT head_dim FROM _run WHERE run_id = ?", (run,))
        if d is None:
            raise LookupError(f"{self.path}: no run {run}")
        d = int(d)
        if d <= 0 or d > 4096:
            raise ValueError(f"{self.path}: run {run} has head_dim {d}")
        # A row holds every head of the layer, head-major: this head's queries are one slice of each BLOB.
        qrows = self._db.execute(
            "SELECT step, n_heads, n_kv_heads, q_pos0, n_q, n_k, mask, window, scale, "
            "substr(q, ?4 * n_q * ?5 + 1, n_q * ?5), substr(lse, ?4 * n_q * 4 + 1, n_q * 4) FROM _attention_query "
            "WHERE run_id = ?1 AND layer = ?2 AND step <= ?3 AND ?4 < n_heads ORDER BY step",
            (run, layer, newest, head, d * 2)).fetchall()
        if not qrows and newest < 0:
            raise LookupError(self._no_committed_step(run))
        if not qrows:
            raise LookupError(f"{what}: no attention factors recorded (capture off, head out of range, or dropped by "
                              "the byte budget)")
        n_pos = 0
        for (step, _, _, q_pos0, n_q, n_k, *_rest) in qrows:
            if q_pos0 < 0 or n_q < 0 or n_k < 0 or q_pos0 + n_q > (1 << 24) or n_k > (1 << 24):
                raise ValueError(f"{what}: step {step} has impossible extents")
            n_pos = max(n_pos, q_pos0 + n_q)
        q = np.zeros((n_pos, d), dtype=np.float32)
        lse = np.zeros(n_pos, dtype=np.float32)
        n_k_arr = np.full(n_pos, -1, dtype=np.int64)
        row_step = np.full(n_pos, -1, dtype=np.int64)
        kv_head, mask, window, scale, max_step = 0, "causal", 0, 1.0, -1
        for (step, n_heads, n_kv_heads, q_pos0, n_q, n_k, m, w, sc, qb, lb) in qrows:
            if n_kv_heads <= 0 or n_heads % n_kv_heads:
                raise ValueError(f"{what}: step {step} has {n_heads} heads over {n_kv_heads} KV heads")
            # As the C++ reader: the head's kv_head, mask and scale are those of its newest step.
            kv_head, mask, window, scale = head // (n_heads // n_kv_heads), str(m), int(w), float(np.float32(sc))
            if mask not in ("none", "causal", "window"):
                raise ValueError(f"{what}: unknown mask {mask!r}")
            q[q_pos0:q_pos0 + n_q] = _blob(qb, n_q * d, "<f2", f"{what} q").reshape(n_q, d)
            lse[q_pos0:q_pos0 + n_q] = _blob(lb, n_q, "<f4", f"{what} lse")
            n_k_arr[q_pos0:q_pos0 + n_q] = n_k
            row_step[q_pos0:q_pos0 + n_q] = step
            max_step = int(step)
        krows = self._db.execute(
            "SELECT step, pos0, n, substr(k, ?4 * n * ?5 + 1, n * ?5) FROM _attention_key "
            "WHERE run_id = ?1 AND layer = ?2 AND step <= ?3 AND ?4 < n_kv_heads ORDER BY step",
            (run, layer, newest, kv_head, d * 2)).fetchall()
        n_keys = 0
        for (_, pos0, n, _) in krows:
            if pos0 < 0 or n < 0 or pos0 + n > (1 << 24):
                raise ValueError(f"{what}: key rows with impossible extents")
            n_keys = max(n_keys, pos0 + n)
        k = np.zeros((n_keys, d), dtype=np.float32)
        for (_, pos0, n, kb) in krows:
            k[pos0:pos0 + n] = _blob(kb, n * d, "<f2", f"{what} k").reshape(n, d)
        return HeadFactors(run=run, layer=layer, head=head, kv_head=kv_head, d=d, mask=mask, window=window, scale=scale,
                           max_step=max_step, q=q, lse=lse, n_k=n_k_arr, row_step=row_step, k=k)

    @staticmethod
    def _visible(f: HeadFactors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Boolean [len(rows), len(cols)]: key j visible to query position i (keys never recorded are hidden)."""
        i = rows[:, None]
        j = cols[None, :]
        vis = (j >= 0) & (j < f.n_k[rows][:, None]) & (j < f.n_keys)
        if f.mask == "none":
            return vis
        vis &= j <= i
        if f.mask == "window":
            vis &= j > i - f.window
        return vis

    def _probs(self, f: HeadFactors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float64 [len(rows), len(cols)] probabilities; every row must have a recorded query."""
        if len(rows) and (rows.max() >= f.n_pos or (f.n_k[rows] < 0).any()):
            bad = next(int(r) for r in rows if r >= f.n_pos or f.n_k[r] < 0)
            raise LookupError(f"{self.path}: run {f.run} layer {f.layer} head {f.head}: no factors for query position {bad}")
        out = np.zeros((len(rows), len(cols)), dtype=np.float64)
        kc = cols[cols < f.n_keys]
        if len(rows) == 0 or len(kc) == 0:
            return out
        q = f.q[rows].astype(np.float64)
        k = f.k[kc].astype(np.float64)
        logits = (q @ k.T) * f.scale - f.lse[rows].astype(np.float64)[:, None]
        p = np.exp(np.minimum(logits, 0.0))
        vis = self._visible(f, rows, kc)
        out[:, :len(kc)] = np.where(vis, p, 0.0)  # cols is ascending, so the recorded keys come first
        return out

    def score(self, run: int, layer: int, head: int, i: int, j: int) -> float:
        f = self.factors(run, layer, head)
        if i < 0 or i >= f.n_pos or f.n_k[i] < 0:
            raise LookupError(f"{self.path}: run {run} layer {layer} head {head} has no query at position {i}")
        return float(self._probs(f, np.array([i], dtype=np.int64), np.array([j], dtype=np.int64))[0, 0])

    def row(self, run: int, layer: int, head: int, i: int) -> np.ndarray:
        f = self.factors(run, layer, head)
        if i < 0 or i >= f.n_pos or f.n_k[i] < 0:
            raise LookupError(f"{self.path}: run {run} layer {layer} head {head} has no query at position {i}")
        return self._probs(f, np.array([i], dtype=np.int64), np.arange(int(f.n_k[i]), dtype=np.int64))[0]

    def tile_shape(self, run: int, step: int, layer: int, head: int, level: int = 0, ty: int = 0,
                   tx: int = 0) -> TileShape:
        if level < 0 or level > 24 or ty < 0 or tx < 0:
            raise ValueError("tile level must be 0..24 and ty, tx >= 0")
        R = self._rows_at_step(run, step)
        f = self.factors(run, layer, head)
        nk = f.n_k[:min(R, f.n_pos)]
        C = int(nk.max()) if len(nk) else 0
        C = max(C, 0)
        s = 1 << level
        cell_rows, cell_cols = (R + s - 1) // s, (C + s - 1) // s
        row0, col0 = ty * TILE_SIZE, tx * TILE_SIZE
        if row0 >= cell_rows or col0 >= cell_cols:
            raise LookupError(f"{self.path}: tile ({ty}, {tx}) at level {level} is outside the map "
                              f"({cell_rows} × {cell_cols} cells)")
        return TileShape(R, C, level, row0, col0, min(TILE_SIZE, cell_rows - row0), min(TILE_SIZE, cell_cols - col0))

    def tile(self, run: int, step: int, layer: int, head: int, level: int = 0, ty: int = 0, tx: int = 0,
             stat: str = "max") -> np.ndarray:
        if stat not in ("max", "mean"):
            raise ValueError("stat must be max or mean")
        t = self.tile_shape(run, step, layer, head, level, ty, tx)
        f = self.factors(run, layer, head)
        s = 1 << level
        c_begin, c_end = t.col0 * s, min(t.map_cols, (t.col0 + t.cols) * s)
        cols = np.arange(c_begin, c_end, dtype=np.int64)
        if level == 0:
            return self._probs(f, np.arange(t.row0, t.row0 + t.rows, dtype=np.int64), cols)
        out = np.zeros((t.rows, t.cols), dtype=np.float64)
        chunk = max(1, _MAX_BLOCK_CELLS // max(1, len(cols) * s))  # pooled rows per block
        for pr0 in range(0, t.rows, chunk):
            pr1 = min(t.rows, pr0 + chunk)
            r_begin, r_end = (t.row0 + pr0) * s, min(t.map_rows, (t.row0 + pr1) * s)
            p = self._probs(f, np.arange(r_begin, r_end, dtype=np.int64), cols)
            padded = np.zeros(((pr1 - pr0) * s, t.cols * s), dtype=np.float64)
            padded[:p.shape[0], :p.shape[1]] = p
            blocks = padded.reshape(pr1 - pr0, s, t.cols, s)
            if stat == "max":
                out[pr0:pr1] = blocks.max(axis=(1, 3))
            else:
                r_idx = np.arange(t.row0 + pr0, t.row0 + pr1, dtype=np.int64)
                c_idx = np.arange(t.col0, t.col0 + t.cols, dtype=np.int64)
                nr = np.clip(t.map_rows - r_idx * s, 0, s)
                nc = np.clip(t.map_cols - c_idx * s, 0, s)
                out[pr0:pr1] = blocks.sum(axis=(1, 3)) / (nr[:, None] * nc[None, :])
        return out

    def stored_pyramid_tile(self, run: int, step: int, layer: int, head: int, level: int, ty: int,
                            tx: int) -> StoredTile:
        r = self._db.execute(
            "SELECT rows, cols, codec, max, mean FROM _pyramid_tile WHERE run_id = ? AND layer = ? AND head = ? "
            "AND step = ? AND level = ? AND ty = ? AND tx = ?", (run, layer, head, step, level, ty, tx)).fetchone()
        if r is None:
            raise LookupError(f"{self.path}: no stored pyramid tile for run {run} step {step} layer {layer} head {head} "
                              f"level {level} tile ({ty}, {tx})")
        rows, cols, codec, mx, mean = r
        if rows <= 0 or cols <= 0 or rows > TILE_SIZE or cols > TILE_SIZE:
            raise ValueError(f"{self.path}: pyramid tile with {rows} × {cols} cells")
        what = f"{self.path}: pyramid tile of run {run} layer {layer} head {head}"
        return StoredTile(run, layer, head, step, level, ty, tx, rows, cols, codec,
                          decode_tile_blob(mx, codec, rows, cols, what), decode_tile_blob(mean, codec, rows, cols, what))

    def pyramid_tiles(self, run: int) -> list[dict]:
        """Keys of the stored pyramid tiles of a run (no payloads)."""
        return self._rows("SELECT layer, head, step, level, ty, tx, rows, cols, codec FROM _pyramid_tile "
                          "WHERE run_id = ? ORDER BY step, layer, head, level, ty, tx", (run,))


# -- CLI -------------------------------------------------------------------------------------------

def _cmd_info(s: Session, _args: argparse.Namespace) -> int:
    runs = s.runs()
    print(f"{s.path}: Mnemoscope session, schema v{s.schema_version}, {len(runs)} run{'' if len(runs) == 1 else 's'}")
    header = ["run", "label", "arch", "kind", "status", "layers", "heads", "kv", "dim", "steps", "tokens"]
    table = [header]
    for r in runs:
        table.append([str(r["run_id"]), r["label"] or "-", r["architecture"], r["model_kind"], r["status"],
                      str(r["n_layers"]), str(r["n_heads"]), str(r["n_kv_heads"]), str(r["head_dim"]), str(r["n_steps"]),
                      str(r["n_tokens"])])
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    for row in table:
        print("  ".join(v.ljust(w) if c < 5 else v.rjust(w) for c, (v, w) in enumerate(zip(row, widths))).rstrip())
    return 0


def _cmd_score(s: Session, a: argparse.Namespace) -> int:
    print(f"{s.score(a.run, a.layer, a.head, a.query, a.key):.9g}")
    return 0


def _cmd_tile(s: Session, a: argparse.Namespace) -> int:
    t = s.tile(a.run, a.step, a.layer, a.head, a.level, a.ty, a.tx, a.stat)
    np.save(a.out, t.astype(np.float32))
    print(f"tile level {a.level} ({a.ty}, {a.tx}): {t.shape[0]} × {t.shape[1]} cells -> {a.out}", file=sys.stderr)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="mnemo_session.py", description="Reads a Mnemoscope session (.mnemo).")
    ap.add_argument("file", help="the session")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="the runs, as a table")
    sc = sub.add_parser("score", help="one probability p[query][key]")
    tl = sub.add_parser("tile", help="one tile of a head's map, recomputed, as float32 .npy")
    for p in (sc, tl):
        p.add_argument("--run", type=int, default=1, help="run id (default 1)")
        p.add_argument("--layer", type=int, required=True)
        p.add_argument("--head", type=int, required=True)
    sc.add_argument("--query", type=int, required=True, help="query position")
    sc.add_argument("--key", type=int, required=True, help="key position")
    tl.add_argument("--step", type=int, default=0, help="step (default 0)")
    tl.add_argument("--level", type=int, default=0, help="0 exact cells, K pools 2^K x 2^K (default 0)")
    tl.add_argument("--ty", type=int, default=0)
    tl.add_argument("--tx", type=int, default=0)
    tl.add_argument("--stat", choices=("max", "mean"), default="max")
    tl.add_argument("--out", required=True, help="OUT.npy")
    a = ap.parse_args(argv)
    try:
        with Session(a.file) as s:
            return {"info": _cmd_info, "score": _cmd_score, "tile": _cmd_tile}[a.command](s, a)
    except (ValueError, LookupError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, LookupError) and e.args else e
        print(f"mnemo_session.py: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
