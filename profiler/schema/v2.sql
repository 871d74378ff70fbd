-- Mnemoscope session schema, version 2 (docs/SESSION_FORMAT.md documents every table and column).
-- A session is one SQLite file holding any number of runs. Internal tables start with "_"; tools
-- read the public views at the end of this file, which keep their shape across schema versions.
-- Times are CLOCK_MONOTONIC nanoseconds of the recording process; _run.wall_start_utc anchors them.
-- Vectors are little-endian BLOBs. Mixer factors are fp32 by default (fp16 on request), each head's
-- slice with its CRC-32; stored tiles carry the CRC-32 of each payload.
-- Kinds (mixers, ops) and mask patterns are names, registered in the file at record time: a new
-- kind needs no schema change. Version 1 files stay readable (docs/SESSION_FORMAT.md).
-- Tables of large BLOBs are rowid tables with a UNIQUE key: SQLite appends their rows cheaply,
-- where a WITHOUT ROWID tree rebalances big cells on every small insert (5× slower decode steps,
-- measured); tables of small rows are WITHOUT ROWID, keyed so that a recording appends.

PRAGMA application_id = 1296975181;  -- 0x4D4E454D, "MNEM"
PRAGMA user_version = 2;

CREATE TABLE _meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE _run (
  run_id          INTEGER PRIMARY KEY,
  label           TEXT NOT NULL DEFAULT '',
  model_path      TEXT NOT NULL,
  model_format    TEXT NOT NULL,
  architecture    TEXT NOT NULL,
  plugin_id       TEXT NOT NULL,
  plugin_version  TEXT NOT NULL,
  model_kind      TEXT NOT NULL CHECK (model_kind IN ('decoder', 'encoder')),
  n_layers        INTEGER NOT NULL,
  d_model         INTEGER NOT NULL,
  n_heads         INTEGER NOT NULL,
  n_kv_heads      INTEGER NOT NULL,
  head_dim        INTEGER NOT NULL,
  vocab_size      INTEGER NOT NULL,
  context_length  INTEGER NOT NULL,
  prompt          TEXT NOT NULL,
  options_json    TEXT NOT NULL,
  machine_json    TEXT NOT NULL,
  captures        TEXT NOT NULL,
  max_bytes       INTEGER,
  degraded_json   TEXT NOT NULL DEFAULT '[]',
  wall_start_utc  TEXT NOT NULL,
  start_ns        INTEGER NOT NULL,
  end_ns          INTEGER,
  finished        INTEGER NOT NULL DEFAULT 0 CHECK (finished IN (0, 1)),
  error           TEXT
);

CREATE TABLE _step (
  run_id    INTEGER NOT NULL REFERENCES _run (run_id),
  step      INTEGER NOT NULL,
  kind      TEXT NOT NULL CHECK (kind IN ('prefill', 'decode', 'encode')),
  pos0      INTEGER NOT NULL,
  n_tokens  INTEGER NOT NULL,
  start_ns  INTEGER NOT NULL,
  end_ns    INTEGER NOT NULL,
  PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

CREATE TABLE _token (
  run_id    INTEGER NOT NULL,
  position  INTEGER NOT NULL,
  token_id  INTEGER NOT NULL,
  text      BLOB NOT NULL,
  step      INTEGER NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

-- Registered kinds, by name: the recorder adds a name the first time a run uses it.
CREATE TABLE _mixer_kind (
  kind  INTEGER PRIMARY KEY,
  name  TEXT NOT NULL UNIQUE
);

-- What each layer of a run is: its token mixer and what it keeps between steps.
CREATE TABLE _layer (
  run_id      INTEGER NOT NULL,
  layer       INTEGER NOT NULL,
  mixer       INTEGER NOT NULL REFERENCES _mixer_kind (kind),
  memory      TEXT NOT NULL,
  n_heads     INTEGER NOT NULL,
  n_kv_heads  INTEGER NOT NULL,
  key_dim     INTEGER NOT NULL,
  value_dim   INTEGER NOT NULL,
  state_rows  INTEGER NOT NULL DEFAULT 0,
  state_cols  INTEGER NOT NULL DEFAULT 0,
  mask        TEXT NOT NULL,
  window      INTEGER NOT NULL DEFAULT 0,
  scale       REAL NOT NULL,
  PRIMARY KEY (run_id, layer)
) WITHOUT ROWID;

-- One named factor of one layer at one step, every head in it: a decode step writes one row per
-- layer and factor, not one per head. Head h's rows are one contiguous slice of `data`, with its
-- own CRC-32 in `crc32` (layouts in SESSION_FORMAT.md).
CREATE TABLE _mixer_factor (
  run_id     INTEGER NOT NULL,
  layer      INTEGER NOT NULL,
  step       INTEGER NOT NULL,
  factor     TEXT NOT NULL,
  n_heads    INTEGER NOT NULL,
  n          INTEGER NOT NULL,
  width      INTEGER NOT NULL,
  dtype      TEXT NOT NULL CHECK (dtype IN ('f32', 'f16')),
  pos0       INTEGER NOT NULL,
  positions  BLOB,
  n_keys     INTEGER NOT NULL,
  crc32      BLOB NOT NULL,
  data       BLOB NOT NULL,
  UNIQUE (run_id, layer, step, factor)
);

CREATE TABLE _head_metric (
  run_id         INTEGER NOT NULL,
  layer          INTEGER NOT NULL,
  head           INTEGER NOT NULL,
  step           INTEGER NOT NULL,
  entropy        REAL NOT NULL,
  mean_distance  REAL NOT NULL,
  sink_mass      REAL NOT NULL,
  sparsity       REAL NOT NULL,
  PRIMARY KEY (run_id, step, layer, head)
) WITHOUT ROWID;

CREATE TABLE _pyramid_tile (
  run_id  INTEGER NOT NULL,
  layer   INTEGER NOT NULL,
  head    INTEGER NOT NULL,
  step    INTEGER NOT NULL,
  level   INTEGER NOT NULL CHECK (level >= 0),
  ty      INTEGER NOT NULL,
  tx      INTEGER NOT NULL,
  rows    INTEGER NOT NULL,
  cols    INTEGER NOT NULL,
  codec   TEXT NOT NULL CHECK (codec IN ('f16', 'zstd-f16')),
  max_crc32   INTEGER NOT NULL,
  mean_crc32  INTEGER NOT NULL,
  max     BLOB NOT NULL,
  mean    BLOB NOT NULL,
  UNIQUE (run_id, layer, head, step, level, ty, tx)
);

CREATE TABLE _kv_occupancy (
  run_id          INTEGER NOT NULL,
  step            INTEGER NOT NULL,
  layer           INTEGER NOT NULL,
  n_resident      INTEGER NOT NULL,
  capacity        INTEGER NOT NULL,
  bytes_used      INTEGER NOT NULL,
  bytes_reserved  INTEGER NOT NULL,
  ranges          BLOB NOT NULL,
  PRIMARY KEY (run_id, step, layer)
) WITHOUT ROWID;

CREATE TABLE _memory_snapshot (
  run_id   INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  layer    INTEGER NOT NULL,
  segment  INTEGER NOT NULL,
  kind     TEXT NOT NULL CHECK (kind IN ('memory_tokens', 'recurrent_state')),
  rows     INTEGER NOT NULL,
  cols     INTEGER NOT NULL,
  data     BLOB NOT NULL,
  norms    BLOB NOT NULL,
  UNIQUE (run_id, step, layer, segment, kind)
);

-- Recurrent state per layer, head and step: summaries always, full matrices on request.
CREATE TABLE _state_stat (
  run_id          INTEGER NOT NULL,
  layer           INTEGER NOT NULL,
  head            INTEGER NOT NULL,
  step            INTEGER NOT NULL,
  norm            REAL NOT NULL,
  effective_rank  REAL NOT NULL,
  PRIMARY KEY (run_id, step, layer, head)
) WITHOUT ROWID;

CREATE TABLE _state_matrix (
  run_id  INTEGER NOT NULL,
  layer   INTEGER NOT NULL,
  head    INTEGER NOT NULL,
  step    INTEGER NOT NULL,
  rows    INTEGER NOT NULL,
  cols    INTEGER NOT NULL,
  dtype   TEXT NOT NULL CHECK (dtype IN ('f32', 'f16')),
  crc32   INTEGER NOT NULL,
  data    BLOB NOT NULL,
  UNIQUE (run_id, layer, head, step)
);

CREATE TABLE _op_kind (
  kind  INTEGER PRIMARY KEY,
  name  TEXT NOT NULL UNIQUE
);

CREATE TABLE _op (
  run_id    INTEGER NOT NULL,
  op_id     INTEGER NOT NULL,
  step      INTEGER NOT NULL,
  kind      INTEGER NOT NULL REFERENCES _op_kind (kind),
  layer     INTEGER NOT NULL,
  head      INTEGER NOT NULL,
  thread    INTEGER NOT NULL,
  start_ns  INTEGER NOT NULL,
  end_ns    INTEGER NOT NULL,
  PRIMARY KEY (run_id, op_id)
) WITHOUT ROWID;

CREATE TABLE _kernel (
  run_id          INTEGER NOT NULL,
  kernel_id       INTEGER NOT NULL,
  device          INTEGER NOT NULL,
  stream          INTEGER NOT NULL,
  name            TEXT NOT NULL,
  start_ns        INTEGER NOT NULL,
  end_ns          INTEGER NOT NULL,
  correlation_id  INTEGER NOT NULL,
  op_id           INTEGER,
  PRIMARY KEY (run_id, kernel_id)
) WITHOUT ROWID;

CREATE TABLE _counter (
  run_id  INTEGER NOT NULL,
  name    TEXT NOT NULL,
  t_ns    INTEGER NOT NULL,
  value   REAL NOT NULL,
  PRIMARY KEY (run_id, name, t_ns)
) WITHOUT ROWID;

CREATE TABLE _op_lod (
  run_id      INTEGER NOT NULL,
  thread      INTEGER NOT NULL,
  level       INTEGER NOT NULL,
  bucket      INTEGER NOT NULL,
  count       INTEGER NOT NULL,
  busy_ns     INTEGER NOT NULL,
  longest_op  INTEGER NOT NULL,
  PRIMARY KEY (run_id, thread, level, bucket)
) WITHOUT ROWID;

-- Public views ------------------------------------------------------------------------------

CREATE VIEW run AS
  SELECT run_id, label, model_path, model_format, architecture, plugin_id, plugin_version, model_kind,
         n_layers, d_model, n_heads, n_kv_heads, head_dim, vocab_size, context_length, prompt,
         options_json, machine_json, captures, max_bytes, degraded_json, wall_start_utc, start_ns, end_ns,
         CASE WHEN finished = 1 AND error IS NULL THEN 'complete' ELSE 'incomplete' END AS status, error
  FROM _run;

CREATE VIEW step AS SELECT run_id, step, kind, pos0, n_tokens, start_ns, end_ns, end_ns - start_ns AS dur_ns FROM _step;

CREATE VIEW token AS SELECT run_id, position, token_id, text, step FROM _token;

CREATE VIEW attention_head AS
  WITH RECURSIVE heads (head) AS (SELECT 0 UNION ALL SELECT head + 1 FROM heads WHERE head < 4095)
  SELECT f.run_id, f.layer, heads.head, f.step, heads.head / (l.n_heads / l.n_kv_heads) AS kv_head, f.pos0 AS q_pos0,
         f.n AS n_q, f.n_keys AS n_k, l.mask, l.window, l.scale
  FROM _mixer_factor AS f
  JOIN _layer AS l ON l.run_id = f.run_id AND l.layer = f.layer
  JOIN _mixer_kind AS m ON m.kind = l.mixer AND m.name = 'softmax'
  JOIN heads ON heads.head < f.n_heads
  WHERE f.factor = 'q';

CREATE VIEW layer AS
  SELECT l.run_id, l.layer, m.name AS mixer, l.memory, l.n_heads, l.n_kv_heads, l.key_dim, l.value_dim, l.state_rows,
         l.state_cols, l.mask, l.window, l.scale
  FROM _layer AS l JOIN _mixer_kind AS m ON m.kind = l.mixer;

CREATE VIEW mixer_factor AS
  SELECT run_id, layer, step, factor, n_heads, n, width, dtype, pos0, n_keys, length(data) AS bytes FROM _mixer_factor;

CREATE VIEW head_metric AS
  SELECT run_id, layer, head, step, entropy, mean_distance, sink_mass, sparsity FROM _head_metric;

CREATE VIEW kv_occupancy AS
  SELECT run_id, step, layer, n_resident, capacity, bytes_used, bytes_reserved FROM _kv_occupancy;

CREATE VIEW op AS
  SELECT o.run_id, o.op_id, o.step, k.name AS kind, o.layer, o.head, o.thread, o.start_ns, o.end_ns,
         o.end_ns - o.start_ns AS dur_ns
  FROM _op AS o JOIN _op_kind AS k USING (kind);

CREATE VIEW kernel AS
  SELECT run_id, kernel_id, device, stream, name, start_ns, end_ns, end_ns - start_ns AS dur_ns, correlation_id, op_id
  FROM _kernel;

CREATE VIEW counter AS SELECT run_id, name, t_ns, value FROM _counter;

CREATE VIEW state_stat AS SELECT run_id, layer, head, step, norm, effective_rank FROM _state_stat;

CREATE VIEW state_matrix AS SELECT run_id, layer, head, step, rows, cols, dtype FROM _state_matrix;
