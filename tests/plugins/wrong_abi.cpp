// A plugin built against another plugin.hpp: hookd must refuse it.
#include <hookd/plugin.hpp>

extern "C" __attribute__((visibility("default"))) int hookd_plugin_abi() {
  return HOOKD_PLUGIN_ABI_VERSION + 41;
}

extern "C" __attribute__((visibility("default"))) void
hookd_plugin_register(hookd::plugin::registrar&) {}
