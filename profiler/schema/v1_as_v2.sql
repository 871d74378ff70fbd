-- Version 1 sessions, read through the version 2 shape. One file for both readers: the C++ reader
-- (embedded by profiler/session/embed_schema.cmake as kSchemaV1AsV2Views) and
-- tools/mnemo_session.py (read from here). TEMP views, created in the reading connection and never
-- in the file (which stays as version 1 wrote it), that present each _attention_query row as two factor rows (q, fp16; lse, f32) and each
-- _attention_key row as one (k, fp16), without checksums (crc32 NULL), and _layer from the rows'
-- masks and scales. blob_table/blob_column/blob_rowid say where a factor's bytes live, so the
-- reader still reads one head's slice alone (incremental BLOB I/O works on tables, not views).
CREATE TEMP VIEW _mixer_kind AS SELECT 0 AS kind, 'softmax' AS name;
CREATE TEMP VIEW _layer AS
  SELECT q.run_id, q.layer, 0 AS mixer, 'kv_cache' AS memory, q.n_heads, q.n_kv_heads, r.head_dim AS key_dim,
         r.head_dim AS value_dim, 0 AS state_rows, 0 AS state_cols, q.mask, q.window, q.scale
  FROM main._attention_query AS q JOIN main._run AS r ON r.run_id = q.run_id
  WHERE q.step = (SELECT max(step) FROM main._attention_query AS n WHERE n.run_id = q.run_id AND n.layer = q.layer);
CREATE TEMP VIEW _mixer_factor AS
  SELECT q.run_id, q.layer, q.step, 'q' AS factor, q.n_heads, q.n_q AS n, r.head_dim AS width, 'f16' AS dtype,
         q.q_pos0 AS pos0, NULL AS positions, q.n_k AS n_keys, NULL AS crc32, q.q AS data,
         '_attention_query' AS blob_table, 'q' AS blob_column, q.rowid AS blob_rowid
  FROM main._attention_query AS q JOIN main._run AS r ON r.run_id = q.run_id
  UNION ALL
  SELECT q.run_id, q.layer, q.step, 'lse', q.n_heads, q.n_q, 1, 'f32', q.q_pos0, NULL, q.n_k, NULL, q.lse,
         '_attention_query', 'lse', q.rowid
  FROM main._attention_query AS q
  UNION ALL
  SELECT k.run_id, k.layer, k.step, 'k', k.n_kv_heads, k.n, r.head_dim, 'f16', k.pos0, NULL, 0, NULL, k.k,
         '_attention_key', 'k', k.rowid
  FROM main._attention_key AS k JOIN main._run AS r ON r.run_id = k.run_id;
CREATE TEMP VIEW layer AS
  SELECT l.run_id, l.layer, 'softmax' AS mixer, l.memory, l.n_heads, l.n_kv_heads, l.key_dim, l.value_dim, l.state_rows,
         l.state_cols, l.mask, l.window, l.scale
  FROM temp._layer AS l;
CREATE TEMP VIEW mixer_factor AS
  SELECT run_id, layer, step, factor, n_heads, n, width, dtype, pos0, n_keys, length(data) AS bytes FROM temp._mixer_factor;
