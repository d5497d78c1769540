#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <thread>

#include "hookd/behaviours.hpp"
#include "hookd/cluster.hpp"
#include "hookd/defaults.hpp"
#include "hookd/http.hpp"
#include "hookd/layout.hpp"
#include "hookd/log.hpp"
#include "hookd/membership.hpp"
#include "hookd/node.hpp"
#include "hookd/type_ids.hpp"

#include <sys/resource.h>

namespace {

constexpr const char* usage
    = "usage: hookd [--config FILE]\n"
      "       hookd leave [--wait] [--config FILE]\n"
      "         asks the node on this machine to leave its cluster for good:\n"
      "         it hands its partitions over, then stops (--wait: until it\n"
      "         has)\n"
      "Settings: see config/hookd.conf; every one can be overridden by its\n"
      "HOOKD_* variable.\n";

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
  hookd::log::warn("not ready yet; serving anyway", {{"reason", why}});
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
    hookd::log::warn("cannot raise the open-file limit",
                     {{"error", std::strerror(errno)}});
}

/// The middleman between cluster members: heartbeats so that a hung member
/// is noticed in about a second, and the wire version as CAF's application
/// identifier, so that a member of another version is refused at connect.
void configure_cluster_transport(hookd::system_config& cfg,
                                 const hookd::config& settings) {
  using namespace std::chrono_literals;
  // Mutual TLS: each member proves itself with a certificate of the
  // cluster's own CA, and checks the other's against it.
  if (!settings.cluster.cert.empty()) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = settings.cluster.cert;
    cfg.openssl_key = settings.cluster.key;
    cfg.openssl_cafile = settings.cluster.ca;
  }
  cfg.set("middleman.heartbeat-interval", caf::timespan{200ms});
  cfg.set("middleman.connection-timeout", caf::timespan{1s});
  cfg.set("middleman.app-identifiers",
          std::vector<std::string>{"hookd-wire-"
                                   + std::to_string(hookd::wire_version)});
}

/// Every partition holds descriptors of its own: refuse to start, saying
/// what to change, rather than fail opening the hundredth store.
std::string check_open_file_limit(const hookd::config& cfg) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return {};
  auto need = hookd::defaults::store_descriptors_min(cfg.partitions)
              + hookd::defaults::spare_descriptors;
  if (lim.rlim_cur >= need)
    return {};
  return "HOOKD_PARTITIONS=" + std::to_string(cfg.partitions) + " needs "
         + std::to_string(need) + " open files, but the limit is "
         + std::to_string(lim.rlim_cur)
         + ": raise it (ulimit -n) or create the data directory with fewer "
           "partitions";
}

int main(int argc, char** argv) {
  raise_open_file_limit();
  std::string config_path;
  bool leave = false;
  bool wait = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i == 1 && arg == "leave") {
      leave = true;
    } else if (leave && arg == "--wait") {
      wait = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--version") {
      std::cout << "hookd " << hookd::defaults::version << '\n';
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else {
      hookd::log::error("unknown argument '" + arg + "'; see --help");
      return 2;
    }
  }

  auto cfg = hookd::load_config(config_path, hookd::process_env());
  if (!cfg) {
    hookd::log::error(hookd::message_of(cfg.error()));
    return 2;
  }
  hookd::log::set_level(cfg->log_level);
  if (leave) {
    auto said = hookd::ask_to_leave(*cfg, wait, std::chrono::minutes{10});
    if (!said) {
      std::cerr << "hookd leave: " << hookd::message_of(said.error()) << '\n';
      return 1;
    }
    std::cout << *said << '\n';
    return 0;
  }
  if (auto why = check_open_file_limit(*cfg); !why.empty()) {
    hookd::log::error(why);
    return 2;
  }
  // Plugins are opened before anything starts: a bad one stops hookd here,
  // saying which and why.
  auto behaviours = hookd::builtin_behaviours();
  if (auto err = hookd::load_plugins(*behaviours, cfg->plugins)) {
    hookd::log::error(hookd::message_of(err));
    return 2;
  }
  for (const auto& path : cfg->plugins)
    hookd::log::info("loaded plugin", {{"path", path}});
#ifdef HOOKD_TEST_HOOKS
  // The test build: webhook actors accept the crash route. Release builds
  // have neither the route nor this line.
  cfg->testing = true;
#endif

  auto setup = hookd::prepare_host(*cfg, !cfg->clustered());
  if (!setup) {
    hookd::log::error(hookd::message_of(setup.error()));
    return 1;
  }
  // The one time a token is printed: on stdout, for the operator, never in
  // the log on stderr.
  if (!setup->new_admin_token.empty()) {
    std::cout << "hookd created the admin token (shown once, stored only as "
                 "a hash):\n  "
              << setup->new_admin_token << std::endl;
    hookd::log::warn("created an admin token; it was printed once on stdout");
  }
  setup->new_admin_token.clear();
  setup->behaviours = std::move(behaviours);
  hookd::log::info("starting", {{"version", hookd::defaults::version},
                                {"data_dir", cfg->data_dir}});

  hookd::system_config sys_cfg;
  sys_cfg.load<caf::io::middleman>();
  if (cfg->clustered())
    configure_cluster_transport(sys_cfg, *cfg);
  caf::actor_system sys{sys_cfg};
  auto sealer = setup->sealer;
  auto control = std::make_shared<hookd::membership_control>();
  // A single node's front end reaches its partitions without the router.
  auto board
      = cfg->clustered() ? nullptr : std::make_shared<hookd::route_board>();
  auto router = hookd::spawn_router(sys, std::move(*setup), control, board);
  auto node = caf::actor_cast<hookd::node_actor>(router);
  std::unique_ptr<hookd::membership> member;
  auto stop = [&] {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    node = nullptr;
    router = nullptr;
    sys.await_all_actors_done();
    // The lease goes last: the partitions wrote their last outcomes under
    // it, and revoking it frees them for their next owner at once.
    if (member)
      member->leave();
  };
  std::function<void(std::uint16_t)> on_listening;
  if (cfg->clustered()) {
    // Other nodes reach this one's router on the cluster port, then it
    // joins: registered in etcd, it claims the partitions placed here.
    auto port = cfg->cluster.cert.empty()
                    ? sys.middleman().publish(router, cfg->cluster.port,
                                              cfg->cluster.bind.c_str(), true)
                    : caf::openssl::publish(router, cfg->cluster.port,
                                            cfg->cluster.bind.c_str(), true);
    if (!port) {
      hookd::log::error("cannot listen on the cluster port",
                        {{"bind", cfg->cluster.bind},
                         {"port", cfg->cluster.port},
                         {"error", sys.render(port.error())}});
      stop();
      return 1;
    }
    hookd::member_info self{cfg->node_name, {}, cfg->cluster.bind, *port};
    auto joined = hookd::membership::join(*cfg, self);
    if (!joined) {
      hookd::log::error(hookd::message_of(joined.error()));
      stop();
      return 1;
    }
    member = std::move(*joined);
    // A member leaving for good stops once others hold what it held.
    member->start(router, control, [] { ::kill(::getpid(), SIGTERM); });
    hookd::log::info("joined the cluster",
                     {{"node", cfg->node_name},
                      {"cluster_port", static_cast<std::int64_t>(*port)}});
    on_listening = [&](std::uint16_t http_port) {
      member->set_http(cfg->bind + ':' + std::to_string(http_port));
    };
  } else {
    wait_until_ready(sys, node);
  }
  bool ok = hookd::serve_http(sys, *cfg, node, std::move(sealer), stop,
                              on_listening, board);
  if (ok)
    hookd::log::info("stopped");
  return ok ? 0 : 1;
}
