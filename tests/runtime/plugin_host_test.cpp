// The plugin host reads metadata without running plugin code, refuses other ABI majors naming
// both versions, and reports plugins it cannot load without failing the others.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mnemo/core/error.h"
#include "mnemo/plugin_sdk.hpp"
#include "test_util.h"

namespace fs = std::filesystem;

namespace mnemo::test {
namespace {

const std::string kFakeDir = MNEMO_FAKE_PLUGIN_DIR;

std::string host_abi() { return std::to_string(MNEMO_PLUGIN_ABI_MAJOR) + "." + std::to_string(MNEMO_PLUGIN_ABI_MINOR); }

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string meta(const std::string& id, int major, const std::string& library, const std::string& arch = "fake-arch") {
  return R"({"id": ")" + id + R"(", "version": "0.1.0", "abi": {"major": )" + std::to_string(major) +
         R"(, "minor": 0}, "library": ")" + library + R"(", "architectures": [")" + arch + R"("]})";
}

const std::string kTinyLlama = std::string(MNEMO_TINY_DIR) + "/llama-gguf/model.gguf";

class PluginHost : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-plugins-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* lib : {"abi1.so", "abi3.so", "noentry.so"}) fs::copy_file(kFakeDir + "/" + lib, dir_ / lib);
    const int host = MNEMO_PLUGIN_ABI_MAJOR;
    write(dir_ / "a_future.json", meta("future", 3, "abi3.so"));
    write(dir_ / "a_old.json", meta("old", 1, "abi1.so"));
    write(dir_ / "b_lying.json", meta("abi3", host, "abi3.so"));   // metadata says 2.0, library says 3.0
    write(dir_ / "b_lying_old.json", meta("abi1", host, "abi1.so"));  // metadata says 2.0, library says 1.1
    write(dir_ / "c_noentry.json", meta("noentry", host, "noentry.so"));
    write(dir_ / "d_broken.json", "{\"id\": \"broken\", ");
    write(dir_ / "e_missing.json", meta("missing", host, "missing.so"));
  }
  void TearDown() override { fs::remove_all(dir_); }

  const rt::PluginInfo& find(const rt::PluginRegistry& r, const std::string& id) {
    for (const auto& p : r.plugins())
      if (p.id == id) return p;
    throw std::runtime_error("no plugin " + id);
  }
  fs::path dir_;
};

TEST_F(PluginHost, TransformerPluginIsFoundAndLoads) {
  const auto& reg = build_plugins();
  const rt::PluginInfo* p = reg.find_for("llama");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, "transformer");
  EXPECT_EQ(reg.find_for("gpt2"), p);
  EXPECT_EQ(reg.find_for("bert"), p);
  auto loaded = rt::PluginRegistry::load(*p);
  EXPECT_EQ(loaded->api().abi_major, static_cast<uint32_t>(MNEMO_PLUGIN_ABI_MAJOR));
  EXPECT_STREQ(loaded->api().id, "transformer");
}

// A plugin built against 2.1 on a 2.0 host: the SDK sees from struct_size that the table ends
// before the recurrent mixers and says so, instead of calling past its end.
TEST(PluginSdk, RecurrentMixersNeedAHostOf21) {
  mnemo_host_api old{};
  old.abi_major = 2;
  old.abi_minor = 0;
  old.struct_size = offsetof(mnemo_host_api, linear_mixer);
  const sdk::Host host(&old, nullptr);
  EXPECT_FALSE(host.has_recurrent_mixers());
  try {
    host.ssm_scan(0, mnemo_ssm_args{});
    ADD_FAILURE() << "ssm_scan ran on a 2.0 host";
  } catch (const sdk::PluginError& e) {
    EXPECT_EQ(e.status(), MNEMO_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(e.what()).find("ABI 2.0 has no recurrent mixers"), std::string::npos) << e.what();
  }
  mnemo_host_api current{};
  current.struct_size = sizeof current;
  current.ssm_scan = [](mnemo_host*, int32_t, const mnemo_ssm_args*) { return MNEMO_OK; };
  EXPECT_TRUE(sdk::Host(&current, nullptr).has_recurrent_mixers());
}

TEST(PluginSdk, MemoryRowsNeedAHostOf22) {
  mnemo_host_api old{};
  old.abi_major = 2;
  old.abi_minor = 1;
  old.struct_size = offsetof(mnemo_host_api, set_rows);
  const sdk::Host host(&old, nullptr);
  EXPECT_FALSE(host.has_rows());
  host.clear_rows();  // nothing to clear on a host without rows
  host.probe_memory(MNEMO_ROW_MEMORY_READ, mnemo_view{});
  try {
    host.set_rows(mnemo_rows{});
    ADD_FAILURE() << "set_rows ran on a 2.1 host";
  } catch (const sdk::PluginError& e) {
    EXPECT_EQ(e.status(), MNEMO_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(e.what()).find("ABI 2.1 has no memory rows"), std::string::npos) << e.what();
  }
}

TEST_F(PluginHost, HostIsAbi2) {
  EXPECT_EQ(MNEMO_PLUGIN_ABI_MAJOR, 2);
  EXPECT_EQ(host_abi(), "2.2");
}

TEST_F(PluginHost, RefusesAnotherAbiMajorFromMetadataWithoutLoading) {
  auto reg = rt::PluginRegistry::scan({dir_.string()});
  for (const auto& [id, theirs] : {std::pair{"future", "3.0"}, std::pair{"old", "1.0"}}) {
    const auto& p = find(reg, id);
    EXPECT_FALSE(p.usable) << id;
    EXPECT_NE(p.problem.find("plugin ABI " + std::string(theirs)), std::string::npos) << p.problem;
    EXPECT_NE(p.problem.find("host's ABI " + host_abi()), std::string::npos) << p.problem;
  }
}

TEST_F(PluginHost, RefusesALibraryWhoseTableReportsAnotherMajor) {
  auto reg = rt::PluginRegistry::scan({dir_.string()});
  for (const auto& [id, theirs] : {std::pair{"abi3", "3.0"}, std::pair{"abi1", "1.1"}}) {
    const auto& p = find(reg, id);
    ASSERT_TRUE(p.usable) << id;  // the metadata claims the host's ABI
    try {
      rt::PluginRegistry::load(p);
      ADD_FAILURE() << "loaded a plugin built for ABI " << theirs;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("built for plugin ABI " + std::string(theirs)), std::string::npos) << msg;
      EXPECT_NE(msg.find("the host has ABI " + host_abi()), std::string::npos) << msg;
    }
  }
}

TEST_F(PluginHost, ReportsBrokenPluginsAndKeepsTheOthers) {
  auto reg = rt::PluginRegistry::scan({dir_.string(), plugin_dir()});
  reg.probe_all();
  EXPECT_NE(find(reg, "noentry").problem.find("mnemo_plugin_entry"), std::string::npos);
  EXPECT_NE(find(reg, "missing").problem.find("library not found"), std::string::npos);
  bool saw_broken = false;
  for (const auto& p : reg.plugins()) saw_broken |= p.problem.find("invalid plugin metadata") != std::string::npos;
  EXPECT_TRUE(saw_broken);
  EXPECT_TRUE(find(reg, "transformer").usable);
  EXPECT_NE(reg.find_for("llama"), nullptr);
}

// A plugin folder as users meet one: a broken plugin that claims llama sorts before the working
// one ("evil" < "transformer"). The working one must run the model.
TEST_F(PluginHost, ABrokenPluginClaimingAnArchitectureDoesNotHideOneThatServesIt) {
  fs::copy_file(kFakeDir + "/unresolved.so", dir_ / "evil.so");
  write(dir_ / "evil.json", meta("evil", MNEMO_PLUGIN_ABI_MAJOR, "evil.so", "llama"));
  write(dir_ / "c_noentry.json", meta("noentry", MNEMO_PLUGIN_ABI_MAJOR, "noentry.so", "llama"));  // loads, but is no plugin
  write(dir_ / "a_future.json", meta("future", MNEMO_PLUGIN_ABI_MAJOR + 1, "abi3.so", "llama"));       // another ABI major
  for (const char* f : {"transformer.so", "transformer.json"}) fs::copy_file(plugin_dir() + "/" + f, dir_ / f);
  const auto reg = rt::PluginRegistry::scan({dir_.string()});
  ASSERT_NE(reg.find_for("llama"), nullptr);
  ASSERT_NE(reg.find_for("llama")->id, "transformer") << "a broken plugin must come first for this test to mean anything";

  EXPECT_EQ(reg.load_for("llama")->info().id, "transformer");
  auto model = rt::Model::open(kTinyLlama, {}, reg);
  EXPECT_EQ(model->plugin().id, "transformer");
  EXPECT_FALSE(model->forward(std::vector<int32_t>{1, 2, 3}).empty());
}

TEST_F(PluginHost, WhenOnlyBrokenPluginsClaimAnArchitectureTheErrorNamesEachAndWhy) {
  fs::copy_file(kFakeDir + "/unresolved.so", dir_ / "evil.so");
  write(dir_ / "evil.json", meta("evil", MNEMO_PLUGIN_ABI_MAJOR, "evil.so", "llama"));
  write(dir_ / "c_noentry.json", meta("noentry", MNEMO_PLUGIN_ABI_MAJOR, "noentry.so", "llama"));
  const auto reg = rt::PluginRegistry::scan({dir_.string()});
  try {
    rt::Model::open(kTinyLlama, {}, reg);
    FAIL() << "opened a model with no working plugin";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(kTinyLlama), std::string::npos) << msg;
    EXPECT_NE(msg.find("architecture 'llama'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin 'evil'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mnemo_fake_table_nobody_defines"), std::string::npos) << msg;  // the loader's reason
    EXPECT_NE(msg.find("plugin 'noentry'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no mnemo_plugin_entry symbol"), std::string::npos) << msg;
  }
}

TEST_F(PluginHost, ModelWithoutAPluginForItsArchitectureIsAClearError) {
  auto empty = rt::PluginRegistry::scan({dir_.string()});
  try {
    rt::Model::open(kTinyLlama, {}, empty);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no plugin serves architecture 'llama'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mnemo::test
