#!/usr/bin/env python3
"""The session schema is data and every column is documented: applies profiler/schema/v2.sql (and
the tables added within v2, v2_answers.sql, twice: a recorder applies it to every file it opens) to a
fresh SQLite database, checks the application id and version, and checks that
docs/SESSION_FORMAT.md lists exactly the tables, views and columns the schema has."""

import re
import sqlite3
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
schema = (root / "profiler" / "schema" / "v2.sql").read_text()
doc = (root / "docs" / "SESSION_FORMAT.md").read_text()

db = sqlite3.connect(":memory:")
db.executescript(schema)
additions = (root / "profiler" / "schema" / "v2_answers.sql").read_text()
db.executescript(additions)
db.executescript(additions)
failures = []
if db.execute("PRAGMA application_id").fetchone()[0] != 0x4D4E454D:
    failures.append("application_id is not 0x4D4E454D")
if db.execute("PRAGMA user_version").fetchone()[0] != 2:
    failures.append("user_version is not 2")

# Documented columns: "### name" sections, then "| `column` |" rows.
documented = {}
current = None
for line in doc.splitlines():
    m = re.match(r"^### (\w+)\s*$", line)
    if m:
        current = documented.setdefault(m.group(1), [])
        continue
    m = re.match(r"^\| `(\w+)` \|", line)
    if m and current is not None:
        current.append(m.group(1))

objects = db.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name").fetchall()
for name, kind in objects:
    columns = [row[1] for row in db.execute(f"PRAGMA table_info({name})")]
    if name not in documented:
        failures.append(f"{kind} {name} is not documented")
        continue
    if documented[name] != columns:
        failures.append(f"{kind} {name}: schema columns {columns} != documented {documented[name]}")
for name in documented:
    if name not in {n for n, _ in objects}:
        failures.append(f"documented {name} is not in the schema")

# Every view must be readable (its SELECT is valid against the tables).
for name, kind in objects:
    if kind == "view":
        try:
            db.execute(f"SELECT * FROM {name} LIMIT 0")
        except sqlite3.Error as e:
            failures.append(f"view {name}: {e}")

for f in failures:
    print(f, file=sys.stderr)
print(f"{len(objects)} tables and views checked")
print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)
