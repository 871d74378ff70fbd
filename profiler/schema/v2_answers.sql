-- Added within schema version 2 (2026-12): the answers of a task prompt (tools/train/tasks.py),
-- each with the model's prediction, written when a run was recorded on a task example. A v2 file
-- made before has no such table (readers then see no answers); a recorder adds it to such a file
-- when it opens it, so the statements are IF NOT EXISTS: they apply to new and older v2 files alike.
-- Older builds ignore it: the file stays a v2 session for them.

CREATE TABLE IF NOT EXISTS _answer (
  run_id           INTEGER NOT NULL,
  position         INTEGER NOT NULL,
  expected_token   INTEGER NOT NULL,
  predicted_token  INTEGER NOT NULL,
  expected_p       REAL NOT NULL,
  predicted_p      REAL NOT NULL,
  predicted_text   BLOB NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

CREATE VIEW IF NOT EXISTS answer AS
  SELECT run_id, position, expected_token, predicted_token, expected_p, predicted_p, predicted_text,
         predicted_token = expected_token AS correct
  FROM _answer;
