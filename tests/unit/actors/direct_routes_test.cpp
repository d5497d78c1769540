// Which requests a single node's front end sends straight to a partition
// (direct_routes.hpp), and which still go through the router: the same
// decisions the router makes, so that every answer stays the same.
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <gtest/gtest.h>

#include "hookd/api.hpp"
#include "hookd/crypto.hpp"
#include "hookd/direct_routes.hpp"
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
