// The CPU backend: buffers in host memory (per-step scratch from a pre-touched arena), ops on the
// engine's kernels and thread pool.
#pragma once

#include <memory>

#include "mnemo/backend/backend.h"
#include "mnemo/core/thread_pool.h"

namespace mnemo::backend {

// pool must outlive the backend.
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool);

}  // namespace mnemo::backend
