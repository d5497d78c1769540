#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <thread>

#include "hookd/defaults.hpp"
#include "hookd/http.hpp"
#include "hookd/node.hpp"
#include "hookd/type_ids.hpp"

#include <sys/resource.h>

namespace {

constexpr const char* usage = "usage: hookd [--config FILE]\n"
                              "Settings: see config/hookd.conf; every one can "
                              "be overridden by its HOOKD_* variable.\n";

/// Waits (bounded) until every component says it is ready, so that
/// "listening" means ready; past the bound /healthz says what is not.
void wait_until_ready(caf::actor_system& sys, const hookd::node_actor& node) {
  using namespace std::chrono_literals;
  caf::scoped_actor self{sys};
  auto until = std::chrono::steady_clock::now()
               + hookd::defaults::component_start_timeout;
  std::string why;
  while (std::chrono::steady_clock::now() < until) {
    bool ready = false;
    self->request(node, 5s, hookd::atom::health::value)
        .receive([&](hookd::api_response&) { ready = true; },
                 [&](caf::error& err) { why = hookd::message_of(err); });
    if (ready)
      return;
    std::this_thread::sleep_for(5ms);
  }
  std::cerr << "hookd: not ready yet (" << why << "); serving anyway\n";
}

} // namespace

/// Takes the open-file limit up to the hard limit: the connection cap and
/// the store's and the delivery client's descriptors all come out of it.
void raise_open_file_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max)
    return;
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
    std::cerr << "hookd: cannot raise the open-file limit: "
              << std::strerror(errno) << '\n';
}

int main(int argc, char** argv) {
  raise_open_file_limit();
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

  auto cfg = hookd::load_config(config_path, hookd::process_env());
  if (!cfg) {
    std::cerr << "hookd: " << hookd::message_of(cfg.error()) << '\n';
    return 2;
  }
#ifdef HOOKD_TEST_HOOKS
  // The test build: webhook actors accept the crash route. Release builds
  // have neither the route nor this line.
  cfg->testing = true;
#endif

  auto setup = hookd::prepare_node(*cfg);
  if (!setup) {
    std::cerr << "hookd: " << hookd::message_of(setup.error()) << '\n';
    return 1;
  }
  if (!setup->new_admin_token.empty())
    std::cerr << "hookd: created the admin token (shown once, stored only as "
                 "a hash):\n  "
              << setup->new_admin_token << '\n';
  setup->new_admin_token.clear();

  hookd::system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  auto sealer = setup->sealer;
  auto node = hookd::spawn_node(sys, std::move(*setup));
  wait_until_ready(sys, node);
  auto stop = [&] {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    node = nullptr;
    sys.await_all_actors_done();
  };
  bool ok = hookd::serve_http(sys, *cfg, node, std::move(sealer), stop);
  return ok ? 0 : 1;
}
