# Turns profiler/schema/v<N>.sql (N = 1 .. LAST_VERSION) into one C++ header of raw strings
# (kSchemaV1, kSchemaV2, ...), v2_answers.sql into kSchemaV2Answers, and v1_as_v2.sql into kSchemaV1AsV2Views, so the binaries carry every
# schema they read.
set(body "// Generated from profiler/schema/v*.sql by embed_schema.cmake; do not edit.\n#pragma once\nnamespace mnemo::profiler {\n")
foreach(v RANGE 1 ${LAST_VERSION})
  file(READ ${SCHEMA_DIR}/v${v}.sql sql)
  string(APPEND body "inline constexpr const char kSchemaV${v}[] = R\"mnemo_sql(${sql})mnemo_sql\";\n")
endforeach()
# Tables added within version 2, applied to new files and to older v2 files opened for recording.
file(READ ${SCHEMA_DIR}/v2_answers.sql sql)
string(APPEND body "inline constexpr const char kSchemaV2Answers[] = R\"mnemo_sql(${sql})mnemo_sql\";\n")
# Version 1 files read through the version 2 shape (TEMP views; also read by tools/mnemo_session.py).
file(READ ${SCHEMA_DIR}/v1_as_v2.sql sql)
string(APPEND body "inline constexpr const char kSchemaV1AsV2Views[] = R\"mnemo_sql(${sql})mnemo_sql\";\n")
string(APPEND body "}\n")
file(WRITE ${OUT_HEADER}.tmp "${body}")
file(COPY_FILE ${OUT_HEADER}.tmp ${OUT_HEADER} ONLY_IF_DIFFERENT)
