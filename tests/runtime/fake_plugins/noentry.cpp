// A shared library that is not a plugin: it exports no mnemo_plugin_entry.
extern "C" __attribute__((visibility("default"))) int not_a_plugin() { return 42; }
