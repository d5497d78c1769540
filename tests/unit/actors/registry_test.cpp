// The node, its registries and webhook actors in a real actor system over a
// real store: answers as values, supervision of webhook actors and of the
// node's components.
#include <filesystem>
#include <set>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "hookd/defaults.hpp"
#include "hookd/node.hpp"
#include "hookd/type_ids.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

constexpr const char* admin = "test-admin-token-0123456789";

/// One answer: a status (2xx, or the HTTP status of the error) and a body.
struct answer {
  int status = 0;
  std::string body;
};

int http_status(success s) {
  static const int codes[] = {200, 201, 202, 204};
  return codes[static_cast<int>(s)];
}

class registry_test : public testing::Test {
protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "hookd-registry-" + crypto::random_hex(6);
    cfg_.data_dir = dir_;
    cfg_.slack_url_prefix = "https://hooks.slack.com/";
    cfg_.admin_token = admin;
    cfg_.testing = true;
    cfg_.max_pending = 1000;
    cfg_.delivery_timeout = 2s;
    cfg_.retry_schedule = {0s};
    auto setup = prepare_node(cfg_);
    ASSERT_TRUE(setup) << message_of(setup.error());
    node_ = spawn_node(sys_, std::move(*setup));
    ASSERT_TRUE(eventually([&] { return healthy(); }));
  }

  void TearDown() override {
    caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
    node_ = nullptr;
    sys_.await_all_actors_done();
    std::filesystem::remove_all(dir_);
  }

  bool healthy() {
    caf::scoped_actor self{sys_};
    bool ok = false;
    self->request(node_, 5s, atom::health::value)
        .receive([&](api_response&) { ok = true; }, [&](caf::error&) {});
    return ok;
  }

  access_actor entry() {
    caf::scoped_actor self{sys_};
    access_actor result;
    self->request(node_, 5s, atom::entry::value)
        .receive([&](access_actor& a) { result = a; },
                 [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return result;
  }

  answer call(operation op, scope where, std::string hook = {},
              std::string body = {}) {
    api_call c;
    c.op = op;
    c.where = std::move(where);
    c.hook = std::move(hook);
    c.body = std::move(body);
    c.who = credential_of_token(admin);
    answer a;
    caf::scoped_actor self{sys_};
    self->request(entry(), 10s, std::move(c))
        .receive(
            [&](api_response& r) {
              a.status = http_status(r.status);
              a.body = std::move(r.body);
            },
            [&](caf::error& err) {
              a.status = 1000 + static_cast<int>(code_of(err));
              a.body = message_of(err);
            });
    return a;
  }

  registry_actor shard(std::size_t n) {
    caf::scoped_actor self{sys_};
    registry_actor result;
    self->request(node_, 5s, atom::stats::value, n)
        .receive([&](registry_actor& r) { result = r; },
                 [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return result;
  }

  /// Hooks indexed, webhook actors running, revivals: summed over shards.
  std::tuple<std::size_t, std::size_t, std::size_t> stats() {
    std::size_t hooks = 0, running = 0, revived = 0;
    caf::scoped_actor self{sys_};
    for (std::size_t n = 0; n < defaults::registry_shards; ++n)
      self->request(shard(n), 5s, atom::stats::value)
          .receive(
              [&](std::size_t h, std::size_t r, std::size_t v) {
                hooks += h;
                running += r;
                revived += v;
              },
              [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return {hooks, running, revived};
  }

  webhook_actor actor_of(const scope& where, const std::string& name) {
    caf::scoped_actor self{sys_};
    webhook_actor result;
    self->request(shard(shard_of(where, defaults::registry_shards)), 5s,
                  atom::crash::value, where.key(), name)
        .receive([&](webhook_actor& h) { result = h; },
                 [&](caf::error& err) { ADD_FAILURE() << sys_.render(err); });
    return result;
  }

  template <class Predicate>
  bool eventually(Predicate pred, std::chrono::milliseconds deadline = 10s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      if (pred())
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }

  std::string dir_;
  config cfg_;
  system_config sys_cfg_;
  caf::actor_system sys_{sys_cfg_};
  node_actor node_;
};

const scope prod{scope_kind::stack, "acme", "web", "prod"};
const scope org{scope_kind::org, "acme", "", ""};

int error_status(ec code) {
  return 1000 + static_cast<int>(code);
}

} // namespace

TEST_F(registry_test, crashed_webhook_actor_is_revived_from_the_store) {
  auto made = call(operation::create_hook, prod, {},
                   R"({"name":"h1","displayName":"D","payloadUrl":"http://h",
                       "secret":"s1"})");
  ASSERT_EQ(made.status, 201) << made.body;
  ASSERT_EQ(call(operation::create_hook, org, {},
                 R"({"name":"o1","displayName":"O","payloadUrl":"http://o"})")
                .status,
            201);

  auto before = actor_of(prod, "h1");
  ASSERT_TRUE(before);
  caf::anon_send(before, atom::crash::value);

  // The registry notices the crash and revives the actor at once.
  EXPECT_TRUE(eventually([&] { return std::get<2>(stats()) == 1; }));
  EXPECT_TRUE(eventually([&] { return std::get<1>(stats()) == 1; }));
  auto after = actor_of(prod, "h1");
  EXPECT_NE(after.address(), before.address());

  // It serves again, with the configuration it had.
  auto deliveries = call(operation::list_deliveries, prod, "h1");
  EXPECT_EQ(deliveries.status, 200);
  EXPECT_EQ(deliveries.body, "[]");
  auto read = call(operation::read_hook, prod, "h1");
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(read.body, made.body);
  // The other webhook never noticed.
  EXPECT_EQ(call(operation::read_hook, org, "o1").status, 200);
}

TEST_F(registry_test, repeated_crashes_back_off) {
  ASSERT_EQ(call(operation::create_hook, prod, {},
                 R"({"name":"h1","displayName":"D","payloadUrl":"http://h"})")
                .status,
            201);
  for (std::size_t n = 1; n <= 3; ++n) {
    auto actor = actor_of(prod, "h1");
    ASSERT_TRUE(actor);
    caf::anon_send(actor, atom::crash::value);
    ASSERT_TRUE(eventually([&] { return std::get<2>(stats()) == n; }));
  }
  // After the third crash in a row the revival waits: nothing runs at once.
  EXPECT_EQ(std::get<1>(stats()), 0u);
  // ... and then it comes back by itself.
  EXPECT_TRUE(eventually([&] { return std::get<1>(stats()) == 1; }));
}

TEST_F(registry_test, crud_through_the_actors) {
  auto made = call(operation::create_hook, prod, {},
                   R"({"displayName":"D","payloadUrl":"http://h"})");
  ASSERT_EQ(made.status, 201);
  auto name = nlohmann::json::parse(made.body)["name"].get<std::string>();
  EXPECT_EQ(name.size(), 8u);
  EXPECT_EQ(call(operation::create_hook, prod, {},
                 R"({"name":")" + name
                     + R"(","displayName":"D","payloadUrl":"http://h"})")
                .status,
            error_status(ec::conflict));
  EXPECT_EQ(call(operation::update_hook, prod, name,
                 R"({"displayName":"E","payloadUrl":"http://e","active":true})")
                .status,
            200);
  EXPECT_EQ(std::get<0>(stats()), 1u);
  EXPECT_EQ(call(operation::delete_hook, prod, name).status, 204);
  EXPECT_EQ(call(operation::read_hook, prod, name).status,
            error_status(ec::not_found));
  EXPECT_EQ(std::get<0>(stats()), 0u);
}

// Reads of a webhook are answered from the shard's kept answers once read;
// every change shows at once, and a webhook made again under a deleted
// one's name is read afresh.
TEST_F(registry_test, a_kept_read_follows_every_change) {
  auto body = [](const std::string& display) {
    return R"({"name":"k","displayName":")" + display
           + R"(","payloadUrl":"http://h","active":true})";
  };
  ASSERT_EQ(call(operation::create_hook, prod, {}, body("one")).status, 201);
  auto display = [&] {
    auto r = call(operation::read_hook, prod, "k");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200
               ? nlohmann::json::parse(r.body)["displayName"].get<std::string>()
               : std::string{};
  };
  EXPECT_EQ(display(), "one");
  EXPECT_EQ(display(), "one");
  ASSERT_EQ(call(operation::update_hook, prod, "k", body("two")).status, 200);
  EXPECT_EQ(display(), "two");
  EXPECT_EQ(display(), "two");
  ASSERT_EQ(call(operation::delete_hook, prod, "k").status, 204);
  EXPECT_EQ(call(operation::read_hook, prod, "k").status,
            error_status(ec::not_found));
  ASSERT_EQ(call(operation::create_hook, prod, {}, body("three")).status, 201);
  EXPECT_EQ(display(), "three");
  // Many webhooks read: the kept answers stay within their budget and
  // each read is still right.
  for (int i = 0; i < 300; ++i)
    ASSERT_EQ(call(operation::create_hook, prod, {},
                   R"({"name":"m)" + std::to_string(i) + R"(","displayName":"D)"
                       + std::to_string(i) + R"(","payloadUrl":"http://h"})")
                  .status,
              201);
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 300; ++i) {
      auto r = call(operation::read_hook, prod, "m" + std::to_string(i));
      ASSERT_EQ(r.status, 200);
      EXPECT_EQ(nlohmann::json::parse(r.body)["displayName"],
                "D" + std::to_string(i));
    }
  EXPECT_EQ(display(), "three");
}

TEST_F(registry_test, a_foreign_or_missing_token_is_refused_as_a_value) {
  api_call c;
  c.op = operation::list_hooks;
  c.where = org;
  c.who = credential_of_token("hookd_nosuchid_nosuchsecret");
  caf::scoped_actor self{sys_};
  caf::error got;
  self->request(entry(), 5s, std::move(c))
      .receive([](api_response&) { ADD_FAILURE() << "answered"; },
               [&](caf::error& err) { got = err; });
  EXPECT_EQ(code_of(got), ec::unauthenticated);
}

TEST_F(registry_test, the_node_revives_a_dead_component_and_those_after_it) {
  ASSERT_EQ(call(operation::create_hook, prod, {},
                 R"({"name":"h1","displayName":"D","payloadUrl":"http://h"})")
                .status,
            201);
  auto old_entry = entry();
  auto victim = shard(0);
  ASSERT_TRUE(victim);
  // As a bug would: the shard dies with an error.
  caf::anon_send_exit(victim, caf::exit_reason::kill);
  // While it is down, /healthz says so ...
  EXPECT_TRUE(eventually([&] { return !healthy(); }, 2s));
  // ... then the shard, the shards after it and access come back.
  ASSERT_TRUE(eventually([&] { return healthy(); }));
  EXPECT_NE(shard(0).address(), victim.address());
  EXPECT_NE(entry().address(), old_entry.address());
  // And serve what the store holds.
  EXPECT_EQ(call(operation::read_hook, prod, "h1").status, 200);
  EXPECT_EQ(std::get<0>(stats()), 1u);
}

TEST_F(registry_test, an_organizations_scopes_are_gathered_from_every_shard) {
  // Scopes hash to different shards; the listing merges them by key.
  std::set<std::string> expected;
  for (int i = 0; i < 12; ++i) {
    auto p = "p" + std::to_string(i % 3);
    auto n = "n" + std::to_string(i);
    scope where{i % 2 == 0 ? scope_kind::stack : scope_kind::env, "acme", p, n};
    for (int k = 0; k <= i % 2; ++k)
      ASSERT_EQ(call(operation::create_hook, where, {},
                     R"({"displayName":"D","payloadUrl":"http://h"})")
                    .status,
                201);
    expected.insert(where.key());
  }
  ASSERT_EQ(call(operation::create_hook, org, {},
                 R"({"displayName":"O","payloadUrl":"http://o"})")
                .status,
            201);
  ASSERT_EQ(call(operation::create_hook, {scope_kind::stack, "other", "p", "n"},
                 {}, R"({"displayName":"X","payloadUrl":"http://x"})")
                .status,
            201);

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    api_call c;
    c.op = operation::list_scopes;
    c.where = org;
    c.limit = "5";
    c.continuation = token;
    c.base_path = "/api/orgs/acme/scopes";
    c.who = credential_of_token(admin);
    caf::scoped_actor self{sys_};
    api_response page;
    self->request(entry(), 10s, std::move(c))
        .receive([&](api_response& r) { page = std::move(r); },
                 [&](caf::error& err) { FAIL() << message_of(err); });
    auto items = nlohmann::json::parse(page.body);
    ASSERT_LE(items.size(), 5u);
    for (const auto& s : items) {
      bool stack = s["kind"] == "stack";
      scope where{stack ? scope_kind::stack : scope_kind::env, "acme",
                  s["projectName"].get<std::string>(),
                  s[stack ? "stackName" : "envName"].get<std::string>()};
      EXPECT_EQ(s["hooks"], stack ? 1 : 2) << s;
      seen.push_back(where.key());
    }
    token.clear();
    for (const auto& [name, value] : page.headers)
      if (name == "Link") {
        auto at = value.find("continuationToken=") + 18;
        token = value.substr(at, value.find('>') - at);
      }
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, std::vector<std::string>(expected.begin(), expected.end()));
}

TEST_F(registry_test, a_webhook_actor_ends_with_its_registry) {
  ASSERT_EQ(call(operation::create_hook, prod, {},
                 R"({"name":"h1","displayName":"D","payloadUrl":"http://h"})")
                .status,
            201);
  auto hook = actor_of(prod, "h1");
  ASSERT_TRUE(hook);
  caf::scoped_actor self{sys_};
  self->monitor(hook);
  // Its registry shard dies (and is revived by the node): the webhook
  // actor must not go on beside the one the new registry starts.
  caf::anon_send_exit(shard(shard_of(prod, defaults::registry_shards)),
                      caf::exit_reason::kill);
  bool ended = false;
  self->receive([&](caf::down_msg& dm) { ended = dm.source == hook.address(); },
                caf::after(10s) >> [] {});
  EXPECT_TRUE(ended) << "the webhook actor outlived its registry";
  // The revived registry serves the webhook with an actor of its own.
  EXPECT_TRUE(eventually([&] { return !healthy(); }, 2s));
  ASSERT_TRUE(eventually([&] { return healthy(); }));
  EXPECT_EQ(call(operation::read_hook, prod, "h1").status, 200);
  auto again = actor_of(prod, "h1");
  EXPECT_TRUE(again);
  EXPECT_NE(again.address(), hook.address());
}
