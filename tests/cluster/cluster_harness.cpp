#include "cluster_harness.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

#include <signal.h>

namespace hookd_test {

std::uint32_t partition_of(const std::string& org, std::uint32_t partitions) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char ch : org) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return static_cast<std::uint32_t>(h % partitions);
}

test_cluster::test_cluster(cluster_options opts) : opts_(std::move(opts)) {
  if (opts_.expect == 0)
    opts_.expect = opts_.nodes;
  etcd_ = std::make_unique<hookd::testing::etcd_server>();
  for (std::size_t i = 0; i < opts_.nodes; ++i)
    add_node();
}

std::size_t test_cluster::add_node() {
  auto i = nodes_.size();
  auto proc = std::make_unique<hookd_process>(options_for(name(i)));
  if (!proc->listening())
    throw std::runtime_error(name(i)
                             + " did not start: " + proc->start_error());
  nodes_.push_back(std::move(proc));
  paused_.push_back(false);
  return i;
}

test_cluster::~test_cluster() {
  // SIGKILL reaches a stopped process too; the nodes go before etcd.
  nodes_.clear();
  etcd_.reset();
}

std::string test_cluster::name(std::size_t i) const {
  return "n" + std::to_string(i + 1);
}

std::size_t test_cluster::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (this->name(i) == name)
      return i;
  throw std::runtime_error("no node called '" + name + "'");
}

http_client test_cluster::client(std::size_t i) const {
  return nodes_.at(i)->client();
}

process_options test_cluster::options_for(const std::string& name) const {
  process_options o;
  o.env = {{"HOOKD_NODE_NAME", name},
           {"HOOKD_CLUSTER_ETCD", etcd_->endpoint()},
           {"HOOKD_CLUSTER_PORT", "0"},
           {"HOOKD_CLUSTER_SIZE", std::to_string(opts_.expect)},
           {"HOOKD_LEASE_TTL", opts_.lease_ttl},
           {"HOOKD_PARTITIONS", std::to_string(opts_.partitions)},
           {"HOOKD_MASTER_KEY", test_master_key},
           {"HOOKD_ALLOW_PRIVATE_TARGETS", "1"}};
  for (const auto& kv : opts_.env)
    o.env.push_back(kv);
  return o;
}

http_response test_cluster::health(std::size_t i) const {
  return nodes_.at(i)->client(std::nullopt).get("/healthz");
}

bool test_cluster::wait_healthy(std::chrono::milliseconds deadline) const {
  return eventually(
      [&] {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (!nodes_[i]->running() || paused_[i])
            continue;
          auto r = health(i);
          auto j = r.body_json();
          if (r.status != 200 || !j.is_object() || !j.contains("cluster")
              || j["cluster"].value("unowned", -1) != 0)
            return false;
        }
        return true;
      },
      deadline);
}

json test_cluster::cluster_info(std::size_t i) const {
  auto r = client(i).get("/api/cluster");
  if (r.status != 200)
    return json::value_t::discarded;
  return r.body_json();
}

std::vector<std::string> test_cluster::owners(std::size_t i) const {
  auto info = cluster_info(i);
  if (!info.is_object() || !info.contains("partitions")
      || !info["partitions"].is_array())
    return {};
  std::vector<std::string> out(opts_.partitions);
  for (const auto& p : info["partitions"]) {
    auto n = p.value("partition", -1);
    if (n < 0 || static_cast<std::size_t>(n) >= out.size())
      continue;
    if (p.contains("owner") && p["owner"].is_string())
      out[static_cast<std::size_t>(n)] = p["owner"].get<std::string>();
  }
  return out;
}

std::vector<std::string>
test_cluster::orgs_owned_by(const std::vector<std::string>& owners,
                            const std::string& owner, std::size_t count) const {
  std::vector<std::string> out;
  if (owners.size() != opts_.partitions)
    return out;
  for (int i = 0; out.size() < count && i < 10000; ++i) {
    auto org = "org-" + std::to_string(i);
    if (owners[partition_of(org, opts_.partitions)] == owner)
      out.push_back(org);
  }
  return out;
}

exit_status test_cluster::kill(std::size_t i) {
  paused_.at(i) = false;
  return nodes_.at(i)->kill();
}

void test_cluster::restart(std::size_t i) {
  auto next = nodes_.at(i)->restart();
  if (!next->listening())
    throw std::runtime_error(name(i)
                             + " did not start again: " + next->start_error());
  // The old process object goes, its directories stay with the new one.
  nodes_[i] = std::move(next);
  paused_[i] = false;
}

void test_cluster::pause(std::size_t i) {
  hookd::testing::stop_process(nodes_.at(i)->pid());
  paused_.at(i) = true;
}

void test_cluster::resume(std::size_t i) {
  ::kill(nodes_.at(i)->pid(), SIGCONT);
  paused_.at(i) = false;
}

std::string test_cluster::logs(std::size_t bytes_per_node) const {
  std::string out;
  auto tail = [&](const std::string& text) {
    return text.size() > bytes_per_node
               ? "..." + text.substr(text.size() - bytes_per_node)
               : text;
  };
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    out += "--- " + name(i) + " stderr ---\n" + tail(nodes_[i]->stderr_text());
  if (etcd_)
    out += "--- etcd ---\n" + etcd_->log_tail(bytes_per_node);
  return out;
}

void test_cluster::keep_files() {
  for (auto& n : nodes_)
    n->keep_files();
}

} // namespace hookd_test
