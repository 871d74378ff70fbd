# Turns profiler/schema/v1.sql into a C++ header (a raw string), so the binaries carry their schema.
file(READ ${SCHEMA_SQL} sql)
file(WRITE ${OUT_HEADER}.tmp "// Generated from profiler/schema/v1.sql by embed_schema.cmake; do not edit.\n#pragma once\nnamespace mnemo::profiler {\ninline constexpr const char kSchemaV1[] = R\"mnemo_sql(${sql})mnemo_sql\";\n}\n")
file(COPY_FILE ${OUT_HEADER}.tmp ${OUT_HEADER} ONLY_IF_DIFFERENT)
