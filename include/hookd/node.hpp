#pragma once

#include <string>
#include <vector>

#include "hookd/actors.hpp"

namespace hookd {

/// A running hookd node: the store and its actors, spawned in dependency
/// order (store, delivery, registry shards, ingest, access) and stopped in
/// reverse.
class node {
public:
  /// Opens the store in cfg.data_dir and spawns the actors. When no admin
  /// token exists yet, one is generated and returned in `new_admin_token`
  /// (its hash is stored; the value exists only there).
  bool start(caf::actor_system& sys, const config& cfg, failure& err,
             std::string& new_admin_token);
  /// Starts no new delivery attempts and waits up to `deadline` for those
  /// in flight; what remains stays queued on disk for the next start.
  void drain(caf::actor_system& sys, std::chrono::milliseconds deadline);
  /// Sends every actor an exit message, last spawned first.
  void stop();
  /// Deliveries recorded but not finished, over all webhooks.
  std::int64_t pending() const {
    return pending_ ? pending_->load() : 0;
  }

  access_actor access() const {
    return access_;
  }
  const std::vector<registry_actor>& shards() const {
    return shards_;
  }
  ingest_actor ingest() const {
    return ingest_;
  }
  const store_ptr& db() const {
    return db_;
  }

private:
  store_ptr db_;
  delivery_actor delivery_;
  std::vector<registry_actor> shards_;
  ingest_actor ingest_;
  access_actor access_;
  pending_counter pending_;
};

/// The 32-byte master key: cfg.master_key, or the key file in the data
/// directory (created with mode 0600 when missing).
bool load_master_key(const config& cfg, std::string& key, failure& err);

} // namespace hookd
