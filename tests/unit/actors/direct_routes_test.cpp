// Which requests a single node's front end sends straight to a partition
// (direct_routes.hpp), and which still go through the router: the same
// decisions the router makes, so that every answer stays the same.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <gtest/gtest.h>

#include <filesystem>

#include "hookd/api.hpp"
#include "hookd/crypto.hpp"
#include "hookd/direct_routes.hpp"
#include "hookd/ingest_gate.hpp"
#include "hookd/keys.hpp"
#include "hookd/partition.hpp"
#include "hookd/type_ids.hpp"

using namespace hookd;

namespace {

constexpr const char* admin = "test-admin-token-0123456789";

class direct_routes_test : public ::testing::Test {
protected:
  void SetUp() override {
    auto idle = sys_.spawn([]() -> caf::behavior { return {[](int) {}}; });
    entry_ = caf::actor_cast<access_actor>(idle);
    routes_.admin_hash = credential_of_token(admin).digest;
    routes_.entries.assign(8, entry_);
  }
  void TearDown() override {
    caf::anon_send_exit(entry_, caf::exit_reason::user_shutdown);
  }

  api_call call(operation op, const std::string& org,
                const std::string& token) {
    api_call c;
    c.op = op;
    c.where.org = org;
    c.who = credential_of_token(token);
    return c;
  }

  system_config cfg_;
  caf::actor_system sys_{cfg_};
  access_actor entry_;
  direct_routes routes_;
};

TEST_F(direct_routes_test, the_admin_and_an_organizations_own_token_go_direct) {
  auto p = partition_of("acme", 8);
  EXPECT_EQ(
      direct_partition(routes_, call(operation::read_hook, "acme", admin)), p);
  EXPECT_EQ(direct_partition(routes_, call(operation::ingest_events, "acme",
                                           new_org_token("acme"))),
            p);
  // No token, or one that names no organization: the partition answers
  // (401), as it would through the router.
  EXPECT_EQ(direct_partition(routes_, call(operation::list_hooks, "acme", "")),
            p);
  EXPECT_EQ(direct_partition(routes_,
                             call(operation::list_hooks, "acme", "whatever")),
            p);
}

TEST_F(direct_routes_test, what_the_router_decides_goes_through_it) {
  // Another organization's token: the router tells 403 from 401.
  EXPECT_FALSE(direct_partition(
      routes_, call(operation::read_hook, "acme", new_org_token("other"))));
  for (auto op :
       {operation::whoami, operation::cluster_info, operation::cluster_leave})
    EXPECT_FALSE(direct_partition(routes_, call(op, "acme", admin)));
  EXPECT_FALSE(
      direct_partition(routes_, call(operation::list_hooks, "", admin)));
  // A partition not running (starting, stopping): the router holds it.
  routes_.entries[partition_of("acme", 8)] = nullptr;
  EXPECT_FALSE(
      direct_partition(routes_, call(operation::read_hook, "acme", admin)));
  // Nothing published (a stopping node): everything through the router.
  EXPECT_FALSE(direct_partition(direct_routes{},
                                call(operation::read_hook, "acme", admin)));
}

} // namespace

// The answers the front end gives itself (kept_answer): only a read of one
// webhook its shard keeps, only with the admin token or a token the
// partition's access actor published for that organization.
TEST_F(direct_routes_test,
       a_kept_read_is_answered_only_for_a_token_that_may_read_it) {
  auto p = partition_of("acme", 8);
  routes_.reads.resize(8);
  auto reads = std::make_shared<partition_reads>(4, 64 * 1024);
  routes_.reads[p] = reads;
  auto read = [&](const std::string& token) {
    auto c = call(operation::read_hook, "acme", token);
    c.hook = "h";
    return kept_answer(routes_, c);
  };
  scope where;
  where.org = "acme";
  auto cache = reads->answers(shard_of(where, 4));
  // Nothing kept yet: the actors answer.
  EXPECT_FALSE(read(admin));
  cache->remember(where.key() + "/h", R"({"name":"h"})", cache->changes());
  EXPECT_EQ(read(admin), std::optional<std::string>{R"({"name":"h"})"});

  // An organization token: taken once the access actor published it, for
  // its own organization, with its whole secret.
  auto own = new_org_token("acme");
  auto own_cred = credential_of_token(own);
  EXPECT_FALSE(read(own)); // no table published yet
  auto table = std::make_shared<token_table>();
  table->by_id.emplace(own_cred.token_id,
                       token_table::token{"acme", own_cred.digest});
  // An id made before ids carried their organization, held for "other".
  auto old = std::string{"hookd_0123456789abcdef_secret"};
  auto old_cred = credential_of_token(old);
  table->by_id.emplace(old_cred.token_id,
                       token_table::token{"other", old_cred.digest});
  auto claim = reads->claim_tokens();
  reads->publish_tokens(claim, table);
  EXPECT_TRUE(read(own));
  EXPECT_FALSE(read(old)) << "another organization's token";
  auto forged = own.substr(0, own.size() - 1) + (own.back() == 'a' ? "b" : "a");
  EXPECT_FALSE(read(forged)) << "the right id with a wrong secret";
  EXPECT_FALSE(read("")) << "no token";
  EXPECT_FALSE(read(new_org_token("acme"))) << "a token nobody published";
  // Deleted: the table published without it.
  reads->publish_tokens(claim, std::make_shared<token_table>());
  EXPECT_FALSE(read(own));
  EXPECT_TRUE(read(admin));
  // A new access actor claims the table: it starts empty, and the old
  // actor, still publishing on its way out, is not heard.
  reads->publish_tokens(claim, table);
  EXPECT_TRUE(read(own));
  auto newer = reads->claim_tokens();
  EXPECT_FALSE(read(own));
  reads->publish_tokens(claim, table);
  EXPECT_FALSE(read(own));
  reads->publish_tokens(newer, table);
  EXPECT_TRUE(read(own));

  // Anything but a read of one webhook goes to the actors.
  for (auto op : {operation::list_hooks, operation::update_hook,
                  operation::delete_hook, operation::list_deliveries}) {
    auto c = call(op, "acme", admin);
    c.hook = "h";
    EXPECT_FALSE(kept_answer(routes_, c));
  }
  // A change forgets the answer; a partition not running keeps nothing.
  cache->forget(where.key() + "/h");
  EXPECT_FALSE(read(admin));
  cache->remember(where.key() + "/h", "{}", cache->changes());
  routes_.entries[p] = nullptr;
  EXPECT_FALSE(read(admin));
}

// -- ingestion on the front end (prepare_ingest, commit_ingests)

class direct_ingest_test : public direct_routes_test {
protected:
  void SetUp() override {
    direct_routes_test::SetUp();
    auto opened = store::open(dir_, false);
    ASSERT_TRUE(opened) << message_of(opened.error());
    db_ = *opened;
    open_door(100);
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
    direct_routes_test::TearDown();
  }

  /// Publishes acme's partition's ingestion with a bound of `max_pending`;
  /// the front end writes to the store itself when `write_here`.
  void open_door(std::int64_t max_pending, bool write_here = true) {
    ingest_limits limits;
    limits.max_pending = max_pending;
    gate_ = std::make_shared<ingest_gate>(shards, limits);
    reads_ = std::make_shared<partition_reads>();
    reads_->publish_ingest(
        reads_->claim_ingest(),
        std::make_shared<const ingest_door>(ingest_door{
            gate_, ingest_actor{}, db_, store_writer_actor{}, write_here}));
    routes_.reads.assign(8, nullptr);
    routes_.reads[partition_of("acme", 8)] = reads_;
  }

  api_call post(const std::string& org, const std::string& body,
                const std::string& token = admin) {
    auto c = call(operation::ingest_events, org, token);
    c.body = body;
    return c;
  }

  /// Another organization of acme's partition.
  static std::string neighbour() {
    for (int i = 0;; ++i) {
      auto org = "org" + std::to_string(i);
      if (partition_of(org, 8) == partition_of("acme", 8))
        return org;
    }
  }

  bool stored(const std::string& key) {
    auto found = db_->get(key);
    return found && found->has_value();
  }

  static constexpr std::size_t shards = 4;
  static constexpr const char* event_body
      = R"({"event":"stack_created","projectName":"p","stackName":"s"})";
  std::string dir_
      = testing::TempDir() + "hookd-direct-" + crypto::random_hex(6);
  store_ptr db_;
  ingest_gate_ptr gate_;
  partition_reads_ptr reads_;
};

TEST_F(direct_ingest_test, events_are_admitted_then_written_together) {
  auto one = prepare_ingest(routes_, post("acme", event_body));
  auto two
      = prepare_ingest(routes_, post("acme", std::string{"["} + event_body + ","
                                                 + event_body + "]"));
  ASSERT_TRUE(one && *one) << (one ? message_of(one->error()) : "");
  ASSERT_TRUE(two && *two);
  ASSERT_EQ((*one)->fresh.events.size(), 1u);
  ASSERT_EQ((*two)->fresh.events.size(), 2u);
  auto id = (*one)->fresh.events.front()->id;
  EXPECT_EQ((*one)->answer, R"({"id":")" + id + R"("})");
  EXPECT_EQ((*two)->answer.rfind(R"({"ids":[")", 0), 0u) << (*two)->answer;
  // Admitted is not written: nothing is on disk until the commit.
  EXPECT_FALSE(stored(keys::event(id)));
  std::vector<direct_ingest> turn;
  turn.push_back(std::move(**one));
  turn.push_back(std::move(**two));
  auto errors = commit_ingests(turn);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_FALSE(errors[0]);
  EXPECT_FALSE(errors[1]);
  // Each event with its fan-out marker, for the ingest actor to fan out
  // (or the next start, after a crash).
  for (const auto& in : turn)
    for (const auto& ev : in.fresh.events) {
      EXPECT_TRUE(stored(keys::event(ev->id)));
      EXPECT_TRUE(stored(keys::fanout_marker(ev->id)));
      EXPECT_FALSE(gate_->known_org(ev->id));
    }
}

TEST_F(direct_ingest_test, a_chosen_id_is_written_once_and_only_for_its_org) {
  auto body = std::string{R"({"id":"0F1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0",)"}
              + (event_body + 1);
  const std::string id = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
  auto first = prepare_ingest(routes_, post("acme", body));
  ASSERT_TRUE(first && *first);
  ASSERT_EQ((*first)->fresh.events.size(), 1u);
  EXPECT_EQ((*first)->fresh.events.front()->id, id);
  // While the first is being written, the same id again is acknowledged
  // and not written twice; another organization's use of it is refused.
  auto again = prepare_ingest(routes_, post("acme", body));
  ASSERT_TRUE(again && *again);
  EXPECT_TRUE((*again)->fresh.events.empty());
  EXPECT_EQ((*again)->answer, R"({"id":")" + id + R"("})");
  auto theirs = prepare_ingest(routes_, post(neighbour(), body));
  ASSERT_TRUE(theirs);
  ASSERT_FALSE(*theirs);
  EXPECT_EQ(code_of(theirs->error()), ec::conflict);
  std::vector<direct_ingest> turn;
  turn.push_back(std::move(**first));
  EXPECT_FALSE(commit_ingests(turn)[0]);
  // Once written, the store says the same.
  auto later = prepare_ingest(routes_, post("acme", body));
  ASSERT_TRUE(later && *later);
  EXPECT_TRUE((*later)->fresh.events.empty());
  auto theirs_later = prepare_ingest(routes_, post(neighbour(), body));
  ASSERT_TRUE(theirs_later);
  ASSERT_FALSE(*theirs_later);
  EXPECT_EQ(code_of(theirs_later->error()), ec::conflict);
}

TEST_F(direct_ingest_test, the_bounds_on_pending_work_hold_here_too) {
  open_door(3);
  // Two webhooks on acme's organization scope: an event adds two
  // deliveries.
  scope org_scope{scope_kind::org, "acme", {}, {}};
  shard_report report;
  report.scope_hooks.emplace_back(org_scope.key(), 2);
  gate_->report(shard_of(org_scope, shards), 0, report);
  auto batch = std::string{"["} + event_body + "," + event_body + "]";
  auto too_big = prepare_ingest(routes_, post("acme", batch));
  ASSERT_TRUE(too_big);
  ASSERT_FALSE(*too_big);
  EXPECT_EQ(code_of(too_big->error()), ec::payload_too_large);
  // One event fits, and holds its two deliveries until its fan-out: the
  // next does not.
  auto one = prepare_ingest(routes_, post("acme", event_body));
  ASSERT_TRUE(one && *one);
  EXPECT_EQ((*one)->reserved, 2);
  auto next = prepare_ingest(routes_, post("acme", event_body));
  ASSERT_TRUE(next);
  ASSERT_FALSE(*next);
  EXPECT_EQ(code_of(next->error()), ec::too_many_requests);
  // Released (as the ingest actor does when it fans them out), there is
  // room again.
  gate_->add_fanning("acme", -(*one)->reserved);
  auto after = prepare_ingest(routes_, post("acme", event_body));
  ASSERT_TRUE(after && *after);
  // A bad body is the client's error, from here as from the actors.
  auto bad = prepare_ingest(routes_, post("acme", "{"));
  ASSERT_TRUE(bad);
  ASSERT_FALSE(*bad);
  EXPECT_EQ(code_of(bad->error()), ec::bad_request);
}

TEST_F(direct_ingest_test, a_door_that_does_not_write_here_leaves_the_write) {
  // HOOKD_SYNC=1: the store writer gathers the fsync, not the I/O thread.
  open_door(100, false);
  scope org_scope{scope_kind::org, "acme", {}, {}};
  shard_report report;
  report.scope_hooks.emplace_back(org_scope.key(), 1);
  gate_->report(shard_of(org_scope, shards), 0, report);
  auto prepared = prepare_ingest(routes_, post("acme", event_body));
  ASSERT_TRUE(prepared && *prepared);
  std::vector<direct_ingest> turn;
  turn.push_back(std::move(**prepared));
  auto id = turn[0].fresh.events.front()->id;
  EXPECT_FALSE(commit_ingests(turn)[0]);
  EXPECT_FALSE(stored(keys::event(id)));
  EXPECT_FALSE(turn[0].writes.empty());
  EXPECT_EQ(gate_->known_org(id), "acme");
  EXPECT_EQ(turn[0].reserved, 1);
  // When the store writer fails, the claims and the reservations go: a
  // bound that was full has room again.
  open_door(1, false);
  gate_->report(shard_of(org_scope, shards), 0, report);
  auto held = prepare_ingest(routes_, post("acme", event_body));
  ASSERT_TRUE(held && *held);
  auto full = prepare_ingest(routes_, post("acme", event_body));
  ASSERT_TRUE(full);
  EXPECT_FALSE(*full);
  ingest_turn failed;
  failed.requests.push_back((*held)->fresh);
  failed.reserved.push_back((*held)->reserved);
  settle_ingests(*reads_->ingest(), failed,
                 make_error(ec::unavailable, "the disk is full"));
  EXPECT_FALSE(gate_->known_org((*held)->fresh.events.front()->id));
  auto again = prepare_ingest(routes_, post("acme", event_body));
  ASSERT_TRUE(again && *again);
}

TEST_F(direct_ingest_test, what_the_front_end_may_not_take_goes_to_the_actors) {
  auto token = new_org_token("acme");
  // An organization token the published table does not hold (the access
  // actor decides), another organization's token, another operation.
  EXPECT_FALSE(prepare_ingest(routes_, post("acme", event_body, token)));
  EXPECT_FALSE(prepare_ingest(
      routes_, post("acme", event_body, new_org_token(neighbour()))));
  auto read = post("acme", event_body);
  read.op = operation::read_hook;
  EXPECT_FALSE(prepare_ingest(routes_, read));
  // Held by the table: taken here.
  auto table = std::make_shared<token_table>();
  auto who = credential_of_token(token);
  table->by_id[who.token_id] = {"acme", who.digest};
  reads_->publish_tokens(reads_->claim_tokens(), table);
  EXPECT_TRUE(prepare_ingest(routes_, post("acme", event_body, token)));
  // No door (an ingest actor starting, a cluster): the actors.
  reads_->claim_ingest();
  EXPECT_FALSE(prepare_ingest(routes_, post("acme", event_body)));
}

TEST(answer_cache,
     a_read_begun_before_a_change_is_not_kept_and_the_budget_holds) {
  answer_cache cache{1000};
  auto before = cache.changes();
  cache.forget("s/a"); // a change of any webhook while "s/b" was read
  cache.remember("s/b", "old", before);
  EXPECT_FALSE(cache.find("s/b"));
  cache.remember("s/b", "new", cache.changes());
  EXPECT_EQ(cache.find("s/b"), std::optional<std::string>{"new"});
  // Past the budget the oldest go first; an entry larger than it is not kept.
  for (int i = 0; i < 100; ++i)
    cache.remember("k" + std::to_string(i), std::string(40, 'x'),
                   cache.changes());
  EXPECT_LE(cache.bytes(), 1000u);
  EXPECT_FALSE(cache.find("k0"));
  EXPECT_TRUE(cache.find("k99"));
  cache.remember("big", std::string(2000, 'x'), cache.changes());
  EXPECT_FALSE(cache.find("big"));
}
