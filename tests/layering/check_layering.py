#!/usr/bin/env python3
"""Fails when a source file includes a header its layer may not see.

The dependency direction (docs/ARCHITECTURE.md):
  core → kernels → backend (interface + cpu) → io → tokenizer → runtime → app
  plugin_sdk (C ABI + adapter) ← plugins, runtime
  profiler (sessions) and viz (canvases) never see the engine's internals; viz reads sessions
  through the profiler's reader only. app/record is the one bridge that sees both the engine's
  probes and the profiler's recorder (and no SQLite: it goes through the recorder). app/tasks
  scores task models through the runtime and sees no profiler.
  profiler builds without Qt or ImGui; viz draws with ImGui but never calls Qt or a graphics API
  (pixels go through its TextureStore); app/gui, the Qt shell, reaches SQLite only through the
  profiler.
The CMake targets enforce the same at link time; this catches header-only leaks."""

import re
import sys
from pathlib import Path

ENGINE_MODULES = ["core", "kernels", "backend", "io", "tokenizer", "runtime"]
FOREIGN_GUI = re.compile(r"^(Q[A-Za-z]+|Qt[A-Za-z]*/.*|imgui.*|backends/imgui.*|GL/.*|sqlite3\.h|cuda.*|cupti.*)$")
QT_IMGUI_GL = re.compile(r"^(Q[A-Za-z]+|Qt[A-Za-z]*/.*|imgui.*|backends/imgui.*|GL/.*|cuda.*|cupti.*)$")
QT_GL_SQLITE = re.compile(r"^(Q[A-Za-z]+|Qt[A-Za-z]*/.*|backends/imgui.*|GL/.*|sqlite3\.h|cuda.*|cupti.*)$")
SQLITE_CUDA = re.compile(r"^(sqlite3\.h|cuda.*|cupti.*)$")

# For each layer: the mnemo/ include prefixes it may use, and the foreign headers it may not.
RULES = {
    "engine/core": (["mnemo/core/"], FOREIGN_GUI),
    "engine/kernels": (["mnemo/core/", "mnemo/kernels/"], FOREIGN_GUI),
    "engine/backend": (["mnemo/core/", "mnemo/kernels/", "mnemo/backend/"], FOREIGN_GUI),
    "engine/io": (["mnemo/core/", "mnemo/io/"], FOREIGN_GUI),
    "engine/tokenizer": (["mnemo/core/", "mnemo/io/", "mnemo/tokenizer/"], FOREIGN_GUI),
    "engine/plugin_sdk": (["mnemo/plugin_abi.h", "mnemo/plugin_sdk.hpp"], FOREIGN_GUI),
    "engine/runtime": (["mnemo/core/", "mnemo/kernels/", "mnemo/backend/", "mnemo/io/", "mnemo/tokenizer/", "mnemo/runtime/",
                        "mnemo/plugin_abi.h", "mnemo/plugin_sdk.hpp"], FOREIGN_GUI),
    "plugins": (["mnemo/plugin_abi.h", "mnemo/plugin_sdk.hpp"], FOREIGN_GUI),
    "profiler": (["mnemo/core/", "mnemo/profiler/"], QT_IMGUI_GL),
    "app/record": (["mnemo/core/", "mnemo/kernels/", "mnemo/backend/", "mnemo/io/", "mnemo/tokenizer/", "mnemo/runtime/",
                    "mnemo/plugin_abi.h", "mnemo/plugin_sdk.hpp", "mnemo/profiler/", "mnemo/record/", "mnemo/tasks/"],
                   FOREIGN_GUI),
    # app/tasks: the memory tasks' held-out sets, scored through the engine (no profiler).
    "app/tasks": (["mnemo/core/", "mnemo/kernels/", "mnemo/backend/", "mnemo/io/", "mnemo/tokenizer/", "mnemo/runtime/",
                   "mnemo/plugin_abi.h", "mnemo/plugin_sdk.hpp", "mnemo/tasks/"], FOREIGN_GUI),
    "viz": (["mnemo/core/", "mnemo/profiler/", "mnemo/viz/"], QT_GL_SQLITE),
    "app/gui": (["mnemo/core/", "mnemo/io/", "mnemo/runtime/", "mnemo/plugin_abi.h", "mnemo/profiler/", "mnemo/record/",
                 "mnemo/tasks/", "mnemo/viz/"], SQLITE_CUDA),
}

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]')


def layer_of(rel: Path):
    parts = rel.parts
    for key in RULES:
        kparts = tuple(key.split("/"))
        if parts[: len(kparts)] == kparts:
            return key
    return None


def main(root: Path) -> int:
    problems = []
    checked = 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in {".h", ".hpp", ".c", ".cc", ".cpp"} or "build" in path.parts[0]:
            continue
        rel = path.relative_to(root)
        layer = layer_of(rel)
        if layer is None:
            continue
        allowed, banned = RULES[layer]
        checked += 1
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            header = m.group(1)
            if header.startswith("mnemo/") and not any(header.startswith(a) for a in allowed):
                problems.append(f"{rel}:{n}: {layer} may not include {header}")
            if banned.match(header):
                problems.append(f"{rel}:{n}: {layer} may not include {header}")
    for p in problems:
        print(p, file=sys.stderr)
    print(f"layering: {checked} files checked")
    print(f"{0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])))
