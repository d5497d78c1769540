// Fan-outs a crash left unfinished are done again, after a restart, in the
// order the events were accepted: the stamps of their markers, not their
// ids. A real node over a real store, prepared as a crash leaves it: events
// with their markers, no deliveries yet.
#include <filesystem>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <gtest/gtest.h>

#include "hookd/event.hpp"
#include "hookd/keys.hpp"
#include "hookd/node.hpp"
#include "hookd/type_ids.hpp"
#include "hookd/webhook.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

std::string stamp(std::uint64_t n) {
  auto text = std::to_string(n);
  return std::string(20 - text.size(), '0') + text;
}

/// The event ids in the order the webhook recorded them (its history's
/// sequence numbers: "h/<hook id>/<seq>/<event id>").
std::vector<std::string> recorded(store& db, const std::string& hook_id) {
  std::vector<std::string> ids;
  auto prefix = keys::history_prefix(hook_id);
  auto err
      = db.scan(prefix, {}, false, [&](std::string_view key, std::string_view) {
          ids.emplace_back(key.substr(key.rfind('/') + 1));
          return true;
        });
  EXPECT_FALSE(err);
  return ids;
}

std::size_t markers(store& db) {
  std::size_t n = 0;
  auto err = db.scan(keys::fanout_markers_prefix(), {}, false,
                     [&](std::string_view, std::string_view) {
                       ++n;
                       return true;
                     });
  EXPECT_FALSE(err);
  return n;
}

} // namespace

TEST(recovery_test, unfinished_fan_outs_are_done_again_in_stamp_order) {
  auto dir = testing::TempDir() + "hookd-recovery-" + crypto::random_hex(6);
  config cfg;
  cfg.data_dir = dir;
  cfg.admin_token = "test-admin-token-0123456789";
  cfg.max_pending = 1000;
  cfg.delivery_timeout = 2s;
  cfg.retry_schedule = {0s};
  auto setup = prepare_node(cfg);
  ASSERT_TRUE(setup) << message_of(setup.error());
  auto db = setup->db;
  auto now = static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());

  webhook hook;
  hook.where = scope{scope_kind::org, "acme", "", ""};
  hook.name = "h";
  hook.id = crypto::uuid4();
  hook.display_name = "H";
  hook.payload_url = "http://127.0.0.1:1/h";
  hook.active = true;
  hook.created_at = now;
  write_batch b;
  b.puts.emplace_back(keys::hook_config(hook.where.key() + "/h"),
                      storage_json(hook, *setup->sealer));
  // Ids in one order, acceptance stamps in the opposite one.
  constexpr int n = 6;
  std::vector<std::string> accepted;
  for (int i = 0; i < n; ++i) {
    event ev;
    ev.id = "00000000-0000-4000-8000-00000000000" + std::to_string(i);
    ev.index = event_index("update_succeeded");
    ev.org = "acme";
    ev.project = "web";
    ev.subject = "prod";
    ev.body = R"({"event":"update_succeeded","projectName":"web",)"
              R"("stackName":"prod"})";
    ev.created_at = now;
    b.puts.emplace_back(keys::event(ev.id), event_storage_json(ev));
    b.puts.emplace_back(keys::fanout_marker(ev.id),
                        stamp(1700000000000000000ull + 1000 * (n - i)));
    b.puts.emplace_back(keys::event_time(ev.created_at, ev.id), "");
    accepted.insert(accepted.begin(), ev.id);
  }
  ASSERT_FALSE(db->commit(std::move(b)));

  {
    system_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto node = spawn_node(sys, std::move(*setup));
    auto until = std::chrono::steady_clock::now() + 10s;
    while (recorded(*db, hook.id).size() < accepted.size()
           && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(recorded(*db, hook.id), accepted);
    // Each fan-out finished: its marker goes.
    while (markers(*db) > 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(markers(*db), 0u);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }
  db.reset();
  std::filesystem::remove_all(dir);
}
