#!/usr/bin/env python3
"""Reads Mnemoscope sessions (.mnemo, docs/SESSION_FORMAT.md) from Python: a module and a small CLI.

Depends only on the standard library (sqlite3) and NumPy. It agrees with the C++ reader
(profiler/session/src/session_reader.cpp): the same checks on open, the same assembly of a head's
factors, the same map shape and tile grid. Scores are recomputed in float64 from the recorded
factors (fp32 by default, fp16 when recorded so; each head's slice checked against its CRC-32):

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
    ``application_id`` 0x4D4E454D, or of a schema newer than version 2. A version 1 file is read
    through TEMP views in the version 2 shape (as the C++ reader does: fp16 factors, no
    checksums). Usable as a context manager; ``close()`` closes it.
``runs()``
    One dict per run from the ``run`` view, plus ``n_tokens``, ``n_steps`` and ``prompt_bytes``
    (the prompt's exact bytes: the recorder stores the prompt as given, which need not be UTF-8).
    Every TEXT column reads as ``str`` decoded as UTF-8 with ``errors="replace"``, so a prompt,
    label or path with invalid bytes shows U+FFFD where they were instead of failing.
``steps(run)``, ``tokens(run)``, ``head_metrics(run, step=None)``, ``kv(run)``
    Dicts from the ``step``, ``_token``, ``head_metric`` and ``_kv_occupancy`` tables. A token's
    ``text`` is its bytes decoded as UTF-8 with ``errors="replace"`` (a token may hold part of a
    character); ``bytes`` holds the raw bytes. A KV row's ``ranges`` is a list of [begin, end).
``layer(run, layer)``
    The ``layer`` view's row (mixer kind name, memory, heads, KV heads, dims, mask, window, scale).
``map_label(run, layer, head=None, channel=None)``
    What the layer's maps are: ``"softmax probabilities"``, ``"implicit attention, exact"`` (linear,
    retnet, gla, delta, gated_delta, mamba2) or ``"implicit attention, exact, mean over channels"``
    (mamba1); other kinds raise ``LookupError`` naming the mixer. With a ``channel`` (and its
    ``head``): ``"implicit attention, exact, channel C of head H"``. The recurrent maps are
    recomputed in float64 from the recorded factors (docs/ARCHITECTURES.md), a head's (or a
    channel's) whole map at once.
``channels_per_head(run, layer)``
    Channel maps a head of the layer offers besides its own (mamba1: ``state_rows``, the channels a
    head's map averages; 0 for every other kind). ``factors``, ``score``, ``row``, ``tile_shape`` and
    ``tile`` take ``channel=C`` for channel C's own map (``LookupError`` naming the layer when it has
    no such channel); ``None`` is the head's map.
``factors(run, layer, head)``
    ``HeadFactors``: ``q`` float32 [n_pos, d] (zero rows where no query was recorded), ``lse``
    float32 [n_pos], ``n_k`` int64 [n_pos] (−1 where no query was recorded), ``pos`` (row
    positions), ``row_step``, ``mask`` (``none``/``causal``/``window``), ``window``, ``scale``
    (float32, as the C++ reader uses it), ``kv_head``, ``k`` float32 [n_keys, d]. Assembled from
    this head's slice of each ``_mixer_factor`` row of factors ``q`` and ``lse`` (rows at positions
    pos0 .. pos0+n−1, or the row's ``positions``) and KV head ``head // (n_heads // n_kv_heads)``'s
    slice of each ``k`` row, over the steps committed so far. A slice whose CRC-32 differs from
    the recorded one raises ``ValueError`` naming the run, layer, head (or KV head), step, factor
    and column.
``score(run, layer, head, i, j)``
    One probability, float.
``row(run, layer, head, i)``
    float64 [n_k of row i]: the row's probabilities over keys 0 .. n_k−1.
``tile(run, step, layer, head, level=0, ty=0, tx=0, stat="max", channel=None)``
    float64 [rows, cols], recomputed from the factors (the stored pyramid is not read). The map
    at a step has R = pos0 + n_tokens of the step rows and C = max n_k over rows < R columns.
    Level 0: exact probabilities of rows [ty·256, ty·256+256) ∩ [0, R) and columns
    [tx·256, tx·256+256) ∩ [0, C). Level L >= 1: each cell pools 2^L × 2^L map cells, tiles of
    256 × 256 pooled cells; ``stat="max"`` takes their maximum, ``stat="mean"`` their sum divided
    by the number of map cells inside the pooled cell (hidden cells count as 0).
    ``tile_shape(...)`` gives the map and tile extents without computing.
``stored_pyramid_tile(run, step, layer, head, level, ty, tx)``
    ``StoredTile`` with ``max`` and ``mean`` float32 [rows, cols] decoded from the
    ``_pyramid_tile`` row recorded at exactly that step (``LookupError`` when there is none),
    each payload checked against its CRC-32 first (``ValueError`` naming the tile and column).
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
        [--channel C --level K --ty Y --tx X --stat max|mean] --out OUT.npy   # float32, like mnemo tile --npy
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

APPLICATION_ID = 0x4D4E454D  # "MNEM"
SCHEMA_VERSION = 2  # the newest schema this reader knows
TILE_SIZE = 256
_CACHED_HEADS = 16
_MAX_BLOCK_CELLS = 1 << 22  # map cells recomputed at once when pooling

__all__ = ["Session", "SessionError", "HeadFactors", "StoredTile", "TileShape", "APPLICATION_ID", "SCHEMA_VERSION",
           "TILE_SIZE", "decode_tile_blob"]


# A version 1 file in the version 2 shape: TEMP views, created in the connection, never in the
# file; the C++ reader embeds the same file.
_V1_AS_V2_VIEWS_SQL = Path(__file__).resolve().parents[1] / "profiler" / "schema" / "v1_as_v2.sql"

# The maps this reader can recompute, by mixer kind, and what their values are.
MAP_LABELS = {"softmax": "softmax probabilities",
              **{kind: "implicit attention, exact" for kind in ("linear", "retnet", "gla", "delta", "gated_delta", "mamba2")},
              "mamba1": "implicit attention, exact, mean over channels"}
_RECURRENT = frozenset(MAP_LABELS) - {"softmax"}
# Kinds whose heads offer one map per channel, and how many channels a head has (from the layer row).
CHANNELS_PER_HEAD = {"mamba1": lambda layer: int(layer["state_rows"])}
CHANNEL_LABEL = "implicit attention, exact"  # before ", channel C of head H"
_DTYPES = {"f32": "<f4", "f16": "<f2"}


def _decay_map(q: np.ndarray, k: np.ndarray, g: np.ndarray, w: np.ndarray, scale: float) -> np.ndarray:
    """Diagonal decay: A[i][j] = scale · w_j · Σ_d q_i[d] k_j[d] exp(G_i[d] − G_j[d]), j ≤ i, G the cumulative
    sum of the per-token log decay g ([T, 1] broadcasts over d)."""
    T = q.shape[0]
    G = np.cumsum(np.broadcast_to(g, (T, max(g.shape[1], 1))).astype(np.float64), axis=0)
    out = np.zeros((T, T))
    for i in range(T):
        out[i, :i + 1] = scale * w[:i + 1] * ((q[i] * np.exp(G[i] - G[:i + 1])) * k[:i + 1]).sum(axis=1)
    return out


def _delta_map(q: np.ndarray, k: np.ndarray, beta: np.ndarray, alpha: np.ndarray, scale: float) -> np.ndarray:
    """Delta rule: A[i][j] = scale · β_j q_iᵀ Π_{t=i..j+1} α_t (I − β_t k_t k_tᵀ) k_j, walked forward from each j."""
    T = q.shape[0]
    out = np.zeros((T, T))
    for j in range(T):
        u = beta[j] * k[j]
        out[j, j] = scale * (q[j] @ u)
        for i in range(j + 1, T):
            u = alpha[i] * (u - beta[i] * k[i] * (k[i] @ u))
            out[i, j] = scale * (q[i] @ u)
    return out


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
    # Recurrent mixers: the whole implicit attention map [n_pos, n_pos] (float64), recomputed from
    # the recorded factors when loaded; q and k are then empty [n_pos, 0].
    implicit: np.ndarray | None = None

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


def _text(raw: bytes) -> str:
    """A TEXT value as str whatever its bytes. The recorder stores text as it was given (a prompt
    file in Latin-1, a label from the command line), and SQLite does not check UTF-8, so strict
    decoding (sqlite3's default) would fail the whole query on one bad byte. Where the exact bytes
    matter they are read as BLOBs instead (token text, ``prompt_bytes``)."""
    return raw.decode("utf-8", errors="replace")


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
        self._db.text_factory = _text
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
        if version == 1:
            self._db.execute("PRAGMA query_only = OFF")  # TEMP views only: the file itself stays read-only
            self._db.executescript(_V1_AS_V2_VIEWS_SQL.read_text())
            self._db.execute("PRAGMA query_only = ON")
        n = self._db.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                             "AND name IN ('_run', '_step', '_token')").fetchone()[0]
        if n != 3:
            self._db.close()
            raise SessionError(f"{p}: damaged session: core tables are missing")
        self.schema_version = int(version)
        self._cache: dict[tuple[int, int, int, Optional[int]], HeadFactors] = {}

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

    _RUN_COLUMNS = "*, CAST(prompt AS BLOB) AS prompt_bytes"

    def _run_row(self, run: int) -> dict:
        rows = self._rows(f"SELECT {self._RUN_COLUMNS} FROM run WHERE run_id = ?", (run,))
        if not rows:
            raise LookupError(f"{self.path}: no run {run}")
        return rows[0]

    # -- runs, steps, tokens, metrics, KV ---------------------------------------------------------

    def runs(self) -> list[dict]:
        out = self._rows(f"SELECT {self._RUN_COLUMNS} FROM run ORDER BY run_id")
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

    def answers(self, run: int) -> list[dict]:
        """The task answers of a run recorded on a task example (position, expected_token,
        predicted_token, expected_p, predicted_p, predicted_text, correct); [] for other runs and
        older files."""
        if not self._db.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_answer'").fetchone():
            return []
        out = []
        for r in self._rows("SELECT position, expected_token, predicted_token, expected_p, predicted_p, predicted_text, "
                            "predicted_token = expected_token AS correct FROM _answer WHERE run_id = ? ORDER BY position",
                            (run,)):
            r["predicted_text"] = bytes(r["predicted_text"]).decode("utf-8", errors="replace")
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

    def factors(self, run: int, layer: int, head: int, channel: Optional[int] = None) -> HeadFactors:
        """The head's factors (or its channel's map) over every step committed so far (cached; reloaded when
        steps were added)."""
        if channel is not None:
            self._check_channel(run, layer, channel)
        key = (int(run), int(layer), int(head), None if channel is None else int(channel))
        newest = self._newest_step(run)
        f = self._cache.get(key)
        if f is not None and f.max_step >= newest:
            self._cache[key] = self._cache.pop(key)  # most recent last
            return f
        f = self._load_factors(*key[:3], newest, channel=key[3])
        self._cache.pop(key, None)
        self._cache[key] = f
        while len(self._cache) > _CACHED_HEADS:
            self._cache.pop(next(iter(self._cache)))
        return f

    def layer(self, run: int, layer: int) -> dict:
        rows = self._rows("SELECT l.run_id, l.layer, m.name AS mixer, l.memory, l.n_heads, l.n_kv_heads, l.key_dim, "
                          "l.value_dim, l.state_rows, l.state_cols, l.mask, l.window, l.scale FROM _layer AS l "
                          "JOIN _mixer_kind AS m ON m.kind = l.mixer WHERE l.run_id = ? AND l.layer = ?", (run, layer))
        if not rows:
            raise LookupError(f"{self.path}: run {run} describes no layer {layer} (no attention recorded for it, or no "
                              "such layer)")
        return rows[0]

    def map_label(self, run: int, layer: int, head: Optional[int] = None, channel: Optional[int] = None) -> str:
        mixer = self.layer(run, layer)["mixer"]
        if mixer not in MAP_LABELS:
            raise LookupError(f"{self.path}: run {run} layer {layer} has mixer {mixer!r}, which this reader cannot show")
        # A segmented model's tokens attend within their segment; the rest went to memory slots.
        note = ", within each segment (the rest went to memory slots)" if self.layer(run, layer)["mask"] == "segments" else ""
        if channel is None:
            return MAP_LABELS[mixer] + note
        if head is None:
            raise ValueError("a channel's label names its head: give head=")
        self._check_channel(run, layer, channel)
        return f"{CHANNEL_LABEL}, channel {int(channel)} of head {int(head)}{note}"

    def channels_per_head(self, run: int, layer: int) -> int:
        desc = self.layer(run, layer)
        per_head = CHANNELS_PER_HEAD.get(desc["mixer"])
        return max(per_head(desc), 0) if per_head else 0

    def _check_channel(self, run: int, layer: int, channel: int) -> None:
        n = self.channels_per_head(run, layer)
        if 0 <= channel < n:
            return
        of_layer = f"{self.path}: run {run} layer {layer} (mixer {self.layer(run, layer)['mixer']!r})"
        if n == 0:
            raise LookupError(f"{of_layer} has no channel maps: its heads' maps are all there is (no channel {channel})")
        raise LookupError(f"{of_layer} has no channel {channel}: a head has channels 0..{n - 1}")

    def _factor_slices(self, run: int, layer: int, factor: str, head: int, newest: int, what: str) -> list[tuple]:
        """(step, n, width, pos0, positions, n_keys, values float32 [n, width]) of a factor's head slice, by step."""
        out = []
        for (step, n_heads, n, width, dtype, pos0, positions, n_keys, crc, data) in self._db.execute(
                "SELECT step, n_heads, n, width, dtype, pos0, positions, n_keys, crc32, data FROM _mixer_factor "
                "WHERE run_id = ?1 AND layer = ?2 AND factor = ?3 AND step <= ?4 AND ?5 < n_heads ORDER BY step",
                (run, layer, factor, newest, head)).fetchall():
            at = f"{what}{f' (KV head {head})' if factor == 'k' else ''} step {step} factor {factor} (column data)"
            if dtype not in _DTYPES:
                raise ValueError(f"{at}: unknown dtype {dtype!r}")
            if n < 0 or width <= 0 or width > 65536 or pos0 < 0 or n_keys < 0 or pos0 + n > (1 << 24) or n_keys > (1 << 24):
                raise ValueError(f"{at}: impossible extents")
            size = n * width * np.dtype(_DTYPES[dtype]).itemsize
            raw = bytes(data) if data is not None else b""
            if len(raw) < (head + 1) * size:
                raise ValueError(f"{at}: the value holds {len(raw)} bytes, the row needs {(head + 1) * size}")
            piece = raw[head * size:(head + 1) * size]
            if crc is not None:
                crcs = _blob(crc, n_heads, "<u4", f"{at} crc32")
                got = zlib.crc32(piece) & 0xFFFFFFFF
                if got != int(crcs[head]):
                    raise ValueError(f"{at}: checksum mismatch (CRC-32 {got:08x}, recorded {int(crcs[head]):08x}): the "
                                     "value is damaged")
            pos = (np.arange(pos0, pos0 + n, dtype=np.int64) if positions is None
                   else _blob(positions, n, "<i8", f"{at} positions").astype(np.int64))
            if len(pos) and (pos.min() < 0 or pos.max() >= (1 << 24)):
                raise ValueError(f"{at}: impossible positions")
            values = np.frombuffer(piece, dtype=_DTYPES[dtype]).astype(np.float32).reshape(n, width)
            out.append((int(step), int(n), int(width), int(pos0), pos, int(n_keys), values))
        return out

    def _load_factors(self, run: int, layer: int, head: int, newest: int, channel: Optional[int] = None) -> HeadFactors:
        what = f"{self.path}: run {run} layer {layer} head {head}" + (f" channel {channel}" if channel is not None else "")
        if self._scalar("SELECT count(*) FROM _run WHERE run_id = ?", (run,)) == 0:
            raise LookupError(f"{self.path}: no run {run}")
        desc = self.layer(run, layer)
        self.map_label(run, layer)  # a kind this reader cannot recompute is named, not guessed at
        if desc["mixer"] in _RECURRENT:
            return self._load_recurrent(run, layer, head, newest, desc, what, channel)
        d = int(desc["key_dim"])
        if d <= 0 or d > 4096:
            raise ValueError(f"{what}: key_dim {d}")
        n_heads, n_kv_heads = int(desc["n_heads"]), int(desc["n_kv_heads"])
        if n_kv_heads <= 0 or n_heads % n_kv_heads:
            raise ValueError(f"{what}: the layer has {n_heads} heads over {n_kv_heads} KV heads")
        mask, window, scale = str(desc["mask"]), int(desc["window"]), float(np.float32(desc["scale"]))
        if mask not in ("none", "causal", "window", "segments"):
            raise ValueError(f"{what}: unknown mask {mask!r}")
        kv_head = head // (n_heads // n_kv_heads)
        qs = self._factor_slices(run, layer, "q", head, newest, what)
        if not qs and newest < 0:
            raise LookupError(self._no_committed_step(run))
        if not qs:
            raise LookupError(f"{what}: no attention factors recorded (capture off, head out of range, or dropped by "
                              "the byte budget)")
        lses = {s[0]: s for s in self._factor_slices(run, layer, "lse", head, newest, what)}
        n_pos = max((int(s[4].max()) + 1 for s in qs if len(s[4])), default=0)
        q = np.zeros((n_pos, d), dtype=np.float32)
        lse = np.zeros(n_pos, dtype=np.float32)
        n_k_arr = np.full(n_pos, -1, dtype=np.int64)
        row_step = np.full(n_pos, -1, dtype=np.int64)
        max_step = -1
        for (step, n, width, _pos0, pos, n_keys, values) in qs:
            if width != d:
                raise ValueError(f"{what} step {step}: q rows of width {width}, key_dim {d}")
            if step not in lses or lses[step][1] != n or lses[step][2] != 1:
                raise ValueError(f"{what} step {step}: q rows without their lse")
            q[pos] = values
            lse[pos] = lses[step][6][:, 0]
            n_k_arr[pos] = n_keys
            row_step[pos] = step
            max_step = step
        ks = self._factor_slices(run, layer, "k", kv_head, newest, what)
        n_keys_total = max((int(s[4].max()) + 1 for s in ks if len(s[4])), default=0)
        k = np.zeros((n_keys_total, d), dtype=np.float32)
        for (step, _n, width, _pos0, pos, _nk, values) in ks:
            if width != d:
                raise ValueError(f"{what} step {step}: keys of width {width}")
            k[pos] = values
        return HeadFactors(run=run, layer=layer, head=head, kv_head=kv_head, d=d, mask=mask, window=window, scale=scale,
                           max_step=max_step, q=q, lse=lse, n_k=n_k_arr, row_step=row_step, k=k)

    def _per_token(self, run: int, layer: int, factor: str, head: int, newest: int, what: str,
                   n_pos: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """(values float64 [n_pos, width], n_keys int64 [n_pos], max step) of a per-token factor's head slice."""
        slices = self._factor_slices(run, layer, factor, head, newest, what)
        if not slices:
            raise LookupError(f"{what}: no {factor!r} factors recorded (capture off, head out of range, or dropped by "
                              "the byte budget)")
        n = max((int(s[4].max()) + 1 for s in slices if len(s[4])), default=0) if n_pos is None else n_pos
        width = slices[0][2]
        out = np.zeros((n, width), dtype=np.float64)
        n_k = np.full(n, -1, dtype=np.int64)
        for (_step, _n, w, _pos0, pos, n_keys, values) in slices:
            if w != width or (len(pos) and pos.max() >= n):
                raise ValueError(f"{what}: factor {factor!r} rows do not match the layer's other factors")
            out[pos] = values
            n_k[pos] = n_keys
        return out, n_k, slices[-1][0]

    def _per_layer(self, run: int, layer: int, factor: str, head: int, newest: int, what: str) -> np.ndarray:
        slices = self._factor_slices(run, layer, factor, head, newest, what)
        if not slices:
            raise LookupError(f"{what}: no {factor!r} factor recorded")
        return slices[-1][6].astype(np.float64)

    def _load_recurrent(self, run: int, layer: int, head: int, newest: int, desc: dict, what: str,
                        channel: Optional[int] = None) -> HeadFactors:
        """A recurrent head's implicit attention A[i][j] (o_i = Σ_j A[i][j] v_j), float64; Mamba-1: the mean of
        the head's channels' maps, or channel `channel`'s own."""
        mixer, scale = desc["mixer"], float(np.float32(desc["scale"]))
        if not 0 <= head < int(desc["n_heads"]):
            raise LookupError(f"{what}: the layer has {int(desc['n_heads'])} heads")
        if self._scalar("SELECT count(*) FROM _mixer_factor WHERE run_id = ? AND layer = ? AND step <= ?",
                        (run, layer, newest)) == 0 and newest < 0:
            raise LookupError(self._no_committed_step(run))
        if mixer in ("mamba1", "mamba2"):
            B, n_k, max_step = self._per_token(run, layer, "B", 0, newest, what)
            C = self._per_token(run, layer, "C", 0, newest, what, len(B))[0]
            N = int(desc["state_cols"])
            G = B.shape[1] // N
            if mixer == "mamba2":
                dt = self._per_token(run, layer, "dt", head, newest, what, len(B))[0][:, 0]
                A = float(self._per_layer(run, layer, "A", head, newest, what).reshape(-1)[0])
                g = head // (int(desc["n_heads"]) // G)
                amap = _decay_map(C[:, g * N:(g + 1) * N], B[:, g * N:(g + 1) * N], (A * dt)[:, None], dt, 1.0)
            else:
                dt = self._per_token(run, layer, "dt", 0, newest, what, len(B))[0]
                A = self._per_layer(run, layer, "A", 0, newest, what)
                rows = int(desc["state_rows"])
                D = dt.shape[1]
                channels = range(head * rows, (head + 1) * rows) if channel is None else [head * rows + channel]
                amap = np.zeros((len(B), len(B)))
                for d in channels:
                    g = d // (D // G)
                    amap += _decay_map(C[:, g * N:(g + 1) * N], B[:, g * N:(g + 1) * N], dt[:, d:d + 1] * A[d][None, :],
                                       dt[:, d], 1.0)
                amap /= len(channels)
        else:
            q, n_k, max_step = self._per_token(run, layer, "q", head, newest, what)
            k = self._per_token(run, layer, "k", head, newest, what, len(q))[0]
            T = len(q)
            if mixer in ("delta", "gated_delta"):
                beta = self._per_token(run, layer, "beta", head, newest, what, T)[0][:, 0]
                log_alpha = (self._per_token(run, layer, "g", head, newest, what, T)[0][:, 0] if mixer == "gated_delta"
                             else np.zeros(T))
                amap = _delta_map(q, k, beta, np.exp(log_alpha), scale)
            else:
                if mixer == "retnet":
                    g = np.full((T, 1), float(self._per_layer(run, layer, "g", head, newest, what).reshape(-1)[0]))
                elif mixer == "gla":
                    g = self._per_token(run, layer, "g", head, newest, what, T)[0]
                else:
                    g = np.zeros((T, 1))
                amap = _decay_map(q, k, g, np.ones(T), scale)
        T = amap.shape[0]
        return HeadFactors(run=run, layer=layer, head=head, kv_head=head, d=0, mask="causal", window=0, scale=scale,
                           max_step=max_step, q=np.zeros((T, 0), dtype=np.float32), lse=np.zeros(T, dtype=np.float32),
                           n_k=n_k, row_step=np.full(T, max_step, dtype=np.int64), k=np.zeros((T, 0), dtype=np.float32),
                           implicit=amap)

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
        if f.mask == "segments":  # a segmented model's tokens: causal within a segment of `window` positions
            vis &= (j // f.window) == (i // f.window)
        return vis

    def _probs(self, f: HeadFactors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float64 [len(rows), len(cols)] probabilities; every row must have a recorded query."""
        if len(rows) and (rows.max() >= f.n_pos or (f.n_k[rows] < 0).any()):
            bad = next(int(r) for r in rows if r >= f.n_pos or f.n_k[r] < 0)
            raise LookupError(f"{self.path}: run {f.run} layer {f.layer} head {f.head}: no factors for query position {bad}")
        out = np.zeros((len(rows), len(cols)), dtype=np.float64)
        if f.implicit is not None:
            kc = cols[cols < f.n_pos]
            out[:, :len(kc)] = f.implicit[np.ix_(rows, kc)]
            return out
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

    def score(self, run: int, layer: int, head: int, i: int, j: int, channel: Optional[int] = None) -> float:
        f = self.factors(run, layer, head, channel)
        if i < 0 or i >= f.n_pos or f.n_k[i] < 0:
            raise LookupError(f"{self.path}: run {run} layer {layer} head {head} has no query at position {i}")
        return float(self._probs(f, np.array([i], dtype=np.int64), np.array([j], dtype=np.int64))[0, 0])

    def row(self, run: int, layer: int, head: int, i: int, channel: Optional[int] = None) -> np.ndarray:
        f = self.factors(run, layer, head, channel)
        if i < 0 or i >= f.n_pos or f.n_k[i] < 0:
            raise LookupError(f"{self.path}: run {run} layer {layer} head {head} has no query at position {i}")
        return self._probs(f, np.array([i], dtype=np.int64), np.arange(int(f.n_k[i]), dtype=np.int64))[0]

    def tile_shape(self, run: int, step: int, layer: int, head: int, level: int = 0, ty: int = 0,
                   tx: int = 0, channel: Optional[int] = None) -> TileShape:
        if level < 0 or level > 24 or ty < 0 or tx < 0:
            raise ValueError("tile level must be 0..24 and ty, tx >= 0")
        R = self._rows_at_step(run, step)
        f = self.factors(run, layer, head, channel)
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
             stat: str = "max", channel: Optional[int] = None) -> np.ndarray:
        if stat not in ("max", "mean"):
            raise ValueError("stat must be max or mean")
        t = self.tile_shape(run, step, layer, head, level, ty, tx, channel)
        f = self.factors(run, layer, head, channel)
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
        crcs = "max_crc32, mean_crc32" if self.schema_version >= 2 else "NULL, NULL"
        r = self._db.execute(
            f"SELECT rows, cols, codec, max, mean, {crcs} FROM _pyramid_tile WHERE run_id = ? AND layer = ? AND head = ? "
            "AND step = ? AND level = ? AND ty = ? AND tx = ?", (run, layer, head, step, level, ty, tx)).fetchone()
        if r is None:
            raise LookupError(f"{self.path}: no stored pyramid tile for run {run} step {step} layer {layer} head {head} "
                              f"level {level} tile ({ty}, {tx})")
        rows, cols, codec, mx, mean, max_crc, mean_crc = r
        if rows <= 0 or cols <= 0 or rows > TILE_SIZE or cols > TILE_SIZE:
            raise ValueError(f"{self.path}: pyramid tile with {rows} × {cols} cells")
        what = f"{self.path}: pyramid tile of run {run} layer {layer} head {head} step {step} level {level} ({ty}, {tx})"
        for column, payload, crc in (("max", mx, max_crc), ("mean", mean, mean_crc)):
            got = zlib.crc32(bytes(payload)) & 0xFFFFFFFF
            if crc is not None and got != int(crc) & 0xFFFFFFFF:
                raise ValueError(f"{what} column {column}: checksum mismatch (CRC-32 {got:08x}, recorded "
                                 f"{int(crc) & 0xFFFFFFFF:08x}): the value is damaged")
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
    t = s.tile(a.run, a.step, a.layer, a.head, a.level, a.ty, a.tx, a.stat, a.channel)
    np.save(a.out, t.astype(np.float32))
    print(f"{s.map_label(a.run, a.layer, a.head, a.channel)}, tile level {a.level} ({a.ty}, {a.tx}): {t.shape[0]} × {t.shape[1]} cells "
          f"-> {a.out}", file=sys.stderr)
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
    tl.add_argument("--channel", type=int, default=None,
                    help="one channel's own map instead of the head's (layers whose maps have channels: mamba1)")
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
