#include <iostream>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/actor_system_config.hpp>

#include "hookd/defaults.hpp"
#include "hookd/http.hpp"
#include "hookd/node.hpp"

namespace {

constexpr const char* usage = "usage: hookd [--config FILE]\n"
                              "Settings: see config/hookd.conf; every one can "
                              "be overridden by its HOOKD_* variable.\n";

} // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--version") {
      std::cout << "hookd " << hookd::defaults::version << '\n';
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else {
      std::cerr << "hookd: unknown argument '" << arg << "'\n" << usage;
      return 2;
    }
  }

  hookd::config cfg;
  hookd::failure err;
  if (!hookd::load_config(config_path, hookd::process_env(), cfg, err)) {
    std::cerr << "hookd: " << err.message << '\n';
    return 2;
  }
#ifdef HOOKD_TEST_HOOKS
  // The test build: webhook actors accept the crash route. Release builds
  // have neither the route nor this line.
  cfg.testing = true;
#endif

  caf::actor_system_config sys_cfg;
  // CAF's default work-stealing workers fall asleep for up to 10 ms when
  // idle, which is the whole latency budget of a request. The sharing
  // policy wakes a worker through a condition variable instead.
  sys_cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{sys_cfg};
  hookd::node node;
  std::string new_admin_token;
  if (!node.start(sys, cfg, err, new_admin_token)) {
    std::cerr << "hookd: " << err.message << '\n';
    return 1;
  }
  if (!new_admin_token.empty())
    std::cerr << "hookd: created the admin token (shown once, stored only as "
                 "a hash):\n  "
              << new_admin_token << '\n';

  auto db = node.db();
  hookd::http_node front;
  front.access = node.access();
  front.healthy = [db] {
    try {
      return db->healthy();
    } catch (...) {
      return false;
    }
  };
  front.metrics = [&node] {
    return "# HELP hookd_deliveries_pending Deliveries recorded and not yet "
           "finished.\n# TYPE hookd_deliveries_pending gauge\n"
           "hookd_deliveries_pending "
           + std::to_string(node.pending()) + "\n";
  };
  front.drain = [&] { node.drain(sys, cfg.shutdown_timeout); };
  front.stop = [&] {
    node.stop();
    sys.await_all_actors_done();
  };
  bool ok = hookd::serve_http(cfg, front);
  return ok ? 0 : 1;
}
