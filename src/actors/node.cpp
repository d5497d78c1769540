#include "hookd/node.hpp"

#include <fstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hookd/defaults.hpp"

namespace hookd {

namespace {

constexpr const char* master_key_file = "master.key";
constexpr const char* admin_hash_key = "m/admin-token";

/// Writes a file readable by its owner only, failing if it exists.
bool write_private_file(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return false;
  auto n = ::write(fd, content.data(), content.size());
  bool ok = n == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

} // namespace

bool load_master_key(const config& cfg, std::string& key, failure& err) {
  if (!cfg.master_key.empty()) {
    key = *crypto::from_hex(cfg.master_key);
    return true;
  }
  auto path = cfg.data_dir + '/' + master_key_file;
  std::ifstream in{path};
  if (!in) {
    auto fresh = crypto::random_bytes(32);
    if (!write_private_file(path, crypto::to_hex(fresh) + '\n')) {
      err = {ec::internal, "cannot create the master key file '" + path + "'"};
      return false;
    }
    key = std::move(fresh);
    return true;
  }
  std::string hex;
  in >> hex;
  auto bytes = crypto::from_hex(hex);
  if (!bytes || bytes->size() != 32) {
    err = {ec::internal, "the master key file '" + path
                           + "' does not hold 64 hex digits"};
    return false;
  }
  key = std::move(*bytes);
  return true;
}

bool node::start(caf::actor_system& sys, const config& cfg, failure& err,
                 std::string& new_admin_token) {
  std::shared_ptr<store> db{store::open(cfg.data_dir, cfg.sync, err)};
  if (!db)
    return false;
  std::string key;
  if (!load_master_key(cfg, key, err))
    return false;

  std::string admin_hash;
  try {
    if (!cfg.admin_token.empty()) {
      admin_hash = crypto::sha256_hex(cfg.admin_token);
    } else if (!db->get(admin_hash_key, admin_hash)) {
      new_admin_token = "hookd_admin_" + crypto::random_hex(24);
      admin_hash = crypto::sha256_hex(new_admin_token);
      db->put(admin_hash_key, admin_hash);
    }
  } catch (const store_error& e) {
    err = {ec::internal, std::string{"the store failed: "} + e.what()};
    return false;
  }

  db_ = db;
  crypto::sealer sealer{key};
  delivery_options options;
  options.allow_private_targets = cfg.allow_private_targets;
  options.ca_file = cfg.ca_file;
  delivery_ = spawn_delivery(sys, std::move(options));
  pending_ = std::make_shared<std::atomic<std::int64_t>>(0);
  for (std::size_t i = 0; i < defaults::registry_shards; ++i)
    shards_.push_back(spawn_registry(sys, db, cfg, sealer, delivery_, pending_,
                                     i, defaults::registry_shards));
  ingest_ = spawn_ingest(sys, db, shards_, pending_, cfg.max_pending);
  access_ = spawn_access(sys, db, shards_, ingest_, std::move(admin_hash));
  return true;
}

void node::drain(caf::actor_system& sys, std::chrono::milliseconds deadline) {
  for (auto& shard : shards_)
    caf::anon_send(shard, atom::drain::value);
  if (!delivery_)
    return;
  auto until = std::chrono::steady_clock::now() + deadline;
  caf::scoped_actor self{sys};
  constexpr auto poll = std::chrono::milliseconds{20};
  while (std::chrono::steady_clock::now() < until) {
    std::size_t in_flight = 1;
    self->request(delivery_, poll * 10, atom::stats::value)
      .receive([&](std::size_t n) { in_flight = n; }, [](caf::error&) {});
    if (in_flight == 0)
      return;
    std::this_thread::sleep_for(poll);
  }
}

void node::stop() {
  if (access_)
    caf::anon_send_exit(access_, caf::exit_reason::user_shutdown);
  if (ingest_)
    caf::anon_send_exit(ingest_, caf::exit_reason::user_shutdown);
  for (auto it = shards_.rbegin(); it != shards_.rend(); ++it)
    caf::anon_send_exit(*it, caf::exit_reason::user_shutdown);
  if (delivery_)
    caf::anon_send_exit(delivery_, caf::exit_reason::user_shutdown);
  access_ = nullptr;
  ingest_ = nullptr;
  delivery_ = nullptr;
  shards_.clear();
}

} // namespace hookd
