// Every message between hookd's actors is serializable: a second actor
// system, connected through CAF's middleman on loopback, drives a node's
// actors (access, registry, webhook actors) with the same messages and gets
// the same answers as the node's own system.
#include <filesystem>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <gtest/gtest.h>

#include "hookd/defaults.hpp"
#include "hookd/node.hpp"
#include "hookd/type_ids.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

constexpr const char* admin = "test-admin-token-0123456789";

system_config with_middleman() {
  system_config cfg;
  cfg.load<caf::io::middleman>();
  return cfg;
}

/// An answer in comparable form: status and body, or error code and text.
struct outcome {
  bool ok = false;
  int code = 0;
  std::string body;
  header_list headers;

  bool operator==(const outcome& other) const {
    return ok == other.ok && code == other.code && body == other.body
           && headers == other.headers;
  }
};

std::ostream& operator<<(std::ostream& out, const outcome& o) {
  return out << (o.ok ? "ok " : "error ") << o.code << ": " << o.body;
}

outcome ask(caf::actor_system& sys, const access_actor& entry, api_call c) {
  outcome o;
  caf::scoped_actor self{sys};
  self->request(entry, 10s, std::move(c))
      .receive(
          [&](api_response& r) {
            o.ok = true;
            o.code = static_cast<int>(r.status);
            o.body = std::move(r.body);
            o.headers = std::move(r.headers);
          },
          [&](caf::error& err) {
            o.code = static_cast<int>(code_of(err));
            o.body = message_of(err);
          });
  return o;
}

api_call make_call(operation op, scope where, std::string hook = {},
                   std::string body = {}, std::string token = admin) {
  api_call c;
  c.op = op;
  c.where = std::move(where);
  c.hook = std::move(hook);
  c.body = std::move(body);
  c.who = credential_of_token(token);
  c.base_path = "/api/x";
  return c;
}

const scope prod{scope_kind::stack, "acme", "web", "prod"};
const scope org{scope_kind::org, "acme", "", ""};

} // namespace

TEST(middleman, a_remote_system_gets_the_same_answers) {
  auto dir = testing::TempDir() + "hookd-middleman-" + crypto::random_hex(6);
  // Removed after the actor systems below are gone: their store may still
  // be writing while the node stops.
  struct remove_on_exit {
    std::string dir;
    ~remove_on_exit() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{dir};
  config cfg;
  cfg.data_dir = dir;
  cfg.admin_token = admin;
  cfg.max_pending = 1000;
  cfg.delivery_timeout = 2s;
  cfg.retry_schedule = {0s};
  auto setup = prepare_node(cfg);
  ASSERT_TRUE(setup) << message_of(setup.error());

  auto home_cfg = with_middleman();
  caf::actor_system home{home_cfg};
  auto node = spawn_node(home, std::move(*setup));
  auto port = home.middleman().publish(node, 0, "127.0.0.1");
  ASSERT_TRUE(port) << home.render(port.error());

  auto away_cfg = with_middleman();
  caf::actor_system away{away_cfg};
  auto remote = away.middleman().remote_actor<node_actor>("127.0.0.1", *port);
  ASSERT_TRUE(remote) << away.render(remote.error());

  auto entry_of = [](caf::actor_system& sys, const node_actor& n) {
    caf::scoped_actor self{sys};
    access_actor entry;
    auto until = std::chrono::steady_clock::now() + 10s;
    while (!entry && std::chrono::steady_clock::now() < until) {
      self->request(n, 5s, atom::entry::value)
          .receive([&](access_actor& a) { entry = a; }, [](caf::error&) {});
      if (!entry)
        std::this_thread::sleep_for(10ms);
    }
    return entry;
  };
  auto local_entry = entry_of(home, node);
  auto remote_entry = entry_of(away, *remote);
  ASSERT_TRUE(local_entry);
  ASSERT_TRUE(remote_entry);

  // Writes from across the wire, reads compared from both sides.
  auto created = ask(away, remote_entry,
                     make_call(operation::create_hook, prod, {},
                               R"({"name":"h1","displayName":"D",
                                   "payloadUrl":"http://127.0.0.1:9/x",
                                   "secret":"s3cret","active":true})"));
  ASSERT_TRUE(created.ok) << created;
  EXPECT_EQ(created.body.find("s3cret"), std::string::npos);
  for (auto op : {operation::read_hook, operation::list_hooks}) {
    auto here = ask(home, local_entry, make_call(op, prod, "h1"));
    auto there = ask(away, remote_entry, make_call(op, prod, "h1"));
    EXPECT_TRUE(here.ok) << here;
    EXPECT_EQ(here, there);
  }
  // Errors cross with their code and message.
  for (auto call :
       {make_call(operation::read_hook, prod, "nope"),
        make_call(operation::list_hooks, org, {}, {}, "hookd_bad_token-value"),
        make_call(operation::create_hook, prod, {}, "{")}) {
    auto here = ask(home, local_entry, call);
    auto there = ask(away, remote_entry, call);
    EXPECT_FALSE(here.ok) << here;
    EXPECT_EQ(here, there);
  }

  // An event in from the remote side is recorded by the webhook actor; its
  // delivery history reads the same from both sides.
  auto accepted = ask(away, remote_entry,
                      make_call(operation::ingest_events, org, {},
                                R"({"event":"update_succeeded",
                                    "projectName":"web","stackName":"prod"})"));
  ASSERT_TRUE(accepted.ok) << accepted;

  // The registry protocol itself, over the wire: fan an event batch out to
  // the shard of the stack and get the count of deliveries it recorded.
  registry_actor shard;
  {
    caf::scoped_actor self{away};
    self->request(*remote, 5s, atom::stats::value,
                  shard_of(prod, defaults::registry_shards))
        .receive([&](registry_actor& r) { shard = r; },
                 [&](caf::error& err) { ADD_FAILURE() << away.render(err); });
  }
  ASSERT_TRUE(shard);
  auto ev = make_event("update_failed", "acme", "web", "prod", "{}", 0, {});
  event_batch batch;
  batch.events.push_back(std::make_shared<const event>(ev));
  std::size_t recorded = 0;
  {
    caf::scoped_actor self{away};
    self->request(shard, 10s, atom::fanout::value, batch, prod)
        .receive([&](std::size_t n) { recorded = n; },
                 [&](caf::error& err) { ADD_FAILURE() << away.render(err); });
  }
  EXPECT_EQ(recorded, 1u);

  auto deliveries = make_call(operation::list_deliveries, prod, "h1");
  outcome here, there;
  auto until = std::chrono::steady_clock::now() + 10s;
  do {
    here = ask(home, local_entry, deliveries);
    there = ask(away, remote_entry, deliveries);
    if (here.body.find(ev.id) != std::string::npos)
      break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < until);
  EXPECT_NE(here.body.find(ev.id), std::string::npos) << here;
  EXPECT_EQ(here.ok, there.ok);
  EXPECT_NE(there.body.find(ev.id), std::string::npos) << there;

  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  node = nullptr;
}
