// A hookd cluster for tests: a private etcd (etcd_fixture.hpp) and N real
// hookd processes (tests/integration/harness.hpp) on kernel-chosen ports,
// each with its own data dir and node name, all in one cluster.
//
//   test_cluster c;                 // etcd and three nodes, listening
//   ASSERT_TRUE(c.wait_healthy());  // every /healthz 200: placement done
//   auto owners = c.owners(0);      // partition -> node name, via node 0
//   c.kill(1); c.restart(1);        // SIGKILL, then the same name and data
//   c.pause(2); c.resume(2);        // SIGSTOP / SIGCONT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "etcd_fixture.hpp"
#include "harness.hpp"

namespace hookd_test {

using env_list
    = std::vector<std::pair<std::string, std::optional<std::string>>>;

/// The key every node of a test cluster encrypts secrets with.
inline constexpr const char* test_master_key
    = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// An organization's partition: FNV-1a-64 of its name modulo the count
/// (SPEC section 9), computed here independently of hookd.
std::uint32_t partition_of(const std::string& org, std::uint32_t partitions);

struct cluster_options {
  /// Nodes started by the constructor (add_node starts more).
  std::size_t nodes = 3;
  /// HOOKD_CLUSTER_SIZE: the members placement waits for; 0 means `nodes`.
  std::size_t expect = 0;
  std::uint32_t partitions = 16;
  std::string lease_ttl = "2s";
  /// Extra settings for every node, applied after the cluster's own.
  env_list env;
};

class test_cluster {
public:
  /// Starts etcd, then each node in turn; every node has printed its
  /// listening line when this returns (placement may still be under way).
  /// Throws std::runtime_error when etcd or a node does not start.
  explicit test_cluster(cluster_options opts = {});
  ~test_cluster();
  test_cluster(const test_cluster&) = delete;
  test_cluster& operator=(const test_cluster&) = delete;

  hookd::testing::etcd_server& etcd() {
    return *etcd_;
  }
  std::size_t size() const {
    return nodes_.size();
  }
  std::uint32_t partitions() const {
    return opts_.partitions;
  }
  /// "n1", "n2", ...: node i's HOOKD_NODE_NAME.
  std::string name(std::size_t i) const;
  /// The index of the node called `name`.
  std::size_t index_of(const std::string& name) const;
  hookd_process& node(std::size_t i) {
    return *nodes_.at(i);
  }
  /// An admin client of node i (its current HTTP port).
  http_client client(std::size_t i) const;

  /// The settings node i is started with (for extra processes of a test:
  /// change what the test is about and start a hookd_process with them).
  process_options options_for(const std::string& name) const;

  /// Polls until every running, not paused node answers /healthz 200 with
  /// every partition owned (`"unowned": 0`).
  bool wait_healthy(std::chrono::milliseconds deadline
                    = std::chrono::seconds{20}) const;
  /// Node i's /healthz answer.
  http_response health(std::size_t i) const;

  /// GET /api/cluster through node i: the body, or a discarded value.
  json cluster_info(std::size_t i) const;
  /// Each partition's owner ("" for none) as node i sees it; empty when
  /// node i does not answer.
  std::vector<std::string> owners(std::size_t i) const;
  /// The first `count` organization names ("org-0", "org-1", ...) whose
  /// partitions `owner` owns in `owners`.
  std::vector<std::string> orgs_owned_by(const std::vector<std::string>& owners,
                                         const std::string& owner,
                                         std::size_t count) const;

  /// Starts one more node (the next name) and waits for its listening line.
  std::size_t add_node();

  /// SIGKILL, as a crash would; the data dir stays.
  exit_status kill(std::size_t i);
  /// Starts node i again with the same name, settings and data dir (stop
  /// or kill it first); throws when it does not print its listening line.
  void restart(std::size_t i);
  /// SIGSTOP / SIGCONT, as a hung process would be.
  void pause(std::size_t i);
  void resume(std::size_t i);
  bool paused(std::size_t i) const {
    return paused_.at(i);
  }

  /// The end of every node's stderr and of etcd's log, for failure
  /// messages.
  std::string logs(std::size_t bytes_per_node = 3000) const;
  /// Keep every node's directories after the test.
  void keep_files();

private:
  cluster_options opts_;
  std::unique_ptr<hookd::testing::etcd_server> etcd_;
  std::vector<std::unique_ptr<hookd_process>> nodes_;
  std::vector<bool> paused_;
};

} // namespace hookd_test
