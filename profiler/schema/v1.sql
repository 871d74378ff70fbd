-- Mnemoscope session schema, version 1 (docs/SESSION_FORMAT.md documents every table and column).
-- A session is one SQLite file holding any number of runs. Internal tables start with "_"; tools
-- read the public views at the end of this file, which keep their shape across schema versions.
-- Times are CLOCK_MONOTONIC nanoseconds of the recording process; _run.wall_start_utc anchors them.
-- Vectors are little-endian BLOBs: fp16 for q and k factors, fp32 for log-sum-exps.
-- Tables of large BLOBs are rowid tables with a UNIQUE key: SQLite appends their rows cheaply,
-- where a WITHOUT ROWID tree rebalances big cells on every small insert (5× slower decode steps,
-- measured); tables of small rows are WITHOUT ROWID, keyed so that a recording appends.

PRAGMA application_id = 1296975181;  -- 0x4D4E454D, "MNEM"
PRAGMA user_version = 1;

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

-- One row per layer and step, every head in it: a decode step writes one row per layer, not one
-- per head. Head h's rows are one contiguous slice of the BLOBs (layouts in SESSION_FORMAT.md).
CREATE TABLE _attention_query (
  run_id      INTEGER NOT NULL,
  layer       INTEGER NOT NULL,
  step        INTEGER NOT NULL,
  n_heads     INTEGER NOT NULL,
  n_kv_heads  INTEGER NOT NULL,
  q_pos0      INTEGER NOT NULL,
  n_q         INTEGER NOT NULL,
  n_k         INTEGER NOT NULL,
  mask        TEXT NOT NULL CHECK (mask IN ('none', 'causal', 'window')),
  window      INTEGER NOT NULL DEFAULT 0,
  scale       REAL NOT NULL,
  q           BLOB NOT NULL,
  lse         BLOB NOT NULL,
  UNIQUE (run_id, layer, step)
);

CREATE TABLE _attention_key (
  run_id      INTEGER NOT NULL,
  layer       INTEGER NOT NULL,
  step        INTEGER NOT NULL,
  n_kv_heads  INTEGER NOT NULL,
  pos0        INTEGER NOT NULL,
  n           INTEGER NOT NULL,
  k           BLOB NOT NULL,
  UNIQUE (run_id, layer, step)
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
  level   INTEGER NOT NULL CHECK (level >= 1),
  ty      INTEGER NOT NULL,
  tx      INTEGER NOT NULL,
  rows    INTEGER NOT NULL,
  cols    INTEGER NOT NULL,
  codec   TEXT NOT NULL CHECK (codec IN ('f16', 'zstd-f16')),
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

CREATE TABLE _op_kind (
  kind  INTEGER PRIMARY KEY,
  name  TEXT NOT NULL UNIQUE
);
INSERT INTO _op_kind (kind, name) VALUES
  (0, 'embed'), (1, 'norm'), (2, 'matmul'), (3, 'rope'), (4, 'attention'), (5, 'activation'), (6, 'add'),
  (7, 'lm_head');

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
  SELECT q.run_id, q.layer, heads.head, q.step, heads.head / (q.n_heads / q.n_kv_heads) AS kv_head, q.q_pos0, q.n_q,
         q.n_k, q.mask, q.window, q.scale
  FROM _attention_query AS q JOIN heads ON heads.head < q.n_heads;

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
