// Writes the sample trace for the independent Python decoder (check_perfetto.py):
//   trace_write_sample OUT_DIR  →  sample.pftrace, sample.json, sample.expected.json
#include <filesystem>
#include <fstream>
#include <iostream>

#include "mnemo/profiler/chrome_json_writer.h"
#include "mnemo/profiler/perfetto_writer.h"
#include "sample_trace.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: trace_write_sample OUT_DIR\n";
    return 2;
  }
  try {
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir);
    const auto trace = mnemo::profiler::testing::sample_trace();
    mnemo::profiler::write_perfetto_file(trace, dir + "/sample.pftrace");
    mnemo::profiler::write_chrome_json_file(trace, dir + "/sample.json");
    std::ofstream(dir + "/sample.expected.json") << mnemo::profiler::testing::model_as_json(trace).dump(2);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
