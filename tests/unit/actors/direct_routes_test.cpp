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
