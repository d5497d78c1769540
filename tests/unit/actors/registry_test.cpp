// The registry and webhook actors in a real actor system over a real store.
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "hookd/node.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

constexpr const char* admin = "test-admin-token-0123456789";

/// Records the one answer to a request.
struct answer {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  int status = 0; ///< success as 2xx, or the error code
  std::string body;
  header_list headers;
};

class recorder final : public responder {
public:
  explicit recorder(std::shared_ptr<answer> a) : a_(std::move(a)) {
  }
  ~recorder() override {
    finish(-1, "dropped", {});
  }
  void respond(success s, std::string body, header_list h) override {
    static const int codes[] = {200, 201, 202, 204};
    finish(codes[static_cast<int>(s)], std::move(body), std::move(h));
  }
  void fail(failure err) override {
    finish(1000 + static_cast<int>(err.code), std::move(err.message), {});
  }

private:
  void finish(int status, std::string body, header_list h) {
    std::lock_guard<std::mutex> guard{a_->mtx};
    if (a_->done)
      return;
    a_->done = true;
    a_->status = status;
    a_->body = std::move(body);
    a_->headers = std::move(h);
    a_->cv.notify_all();
  }
  std::shared_ptr<answer> a_;
};

int error_status(ec code) {
  return 1000 + static_cast<int>(code);
}

class registry_test : public testing::Test {
protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "hookd-registry-" + crypto::random_hex(6);
    cfg_.data_dir = dir_;
    cfg_.slack_url_prefix = "https://hooks.slack.com/";
    cfg_.admin_token = admin;
    cfg_.testing = true;
    failure err;
    std::string generated;
    ASSERT_TRUE(node_.start(sys_, cfg_, err, generated)) << err.message;
  }

  void TearDown() override {
    node_.stop();
    sys_.await_all_actors_done();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<answer> call(operation op, scope where, std::string hook = {},
                               std::string body = {}) {
    api_call c;
    c.op = op;
    c.where = std::move(where);
    c.hook = std::move(hook);
    c.body = std::move(body);
    c.credential = admin;
    auto a = std::make_shared<answer>();
    caf::anon_send(node_.access(), std::move(c),
                   responder_ptr{std::make_shared<recorder>(a)});
    std::unique_lock<std::mutex> lock{a->mtx};
    EXPECT_TRUE(a->cv.wait_for(lock, 10s, [&] { return a->done; }));
    return a;
  }

  /// Hooks indexed, webhook actors running, revivals: summed over shards.
  std::tuple<std::size_t, std::size_t, std::size_t> stats() {
    std::size_t hooks = 0, running = 0, revived = 0;
    caf::scoped_actor self{sys_};
    for (const auto& shard : node_.shards())
      self->request(shard, 5s, atom::stats::value)
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
    auto& shard = node_.shards()[shard_of(where, node_.shards().size())];
    self->request(shard, 5s, atom::crash::value, where.key(), name)
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
  caf::actor_system_config sys_cfg_;
  caf::actor_system sys_{sys_cfg_};
  node node_;
};

const scope prod{scope_kind::stack, "acme", "web", "prod"};
const scope org{scope_kind::org, "acme", "", ""};

} // namespace

TEST_F(registry_test, crashed_webhook_actor_is_revived_from_the_store) {
  auto made = call(operation::create_hook, prod, {},
                   R"({"name":"h1","displayName":"D","payloadUrl":"http://h",
                       "secret":"s1"})");
  ASSERT_EQ(made->status, 201) << made->body;
  ASSERT_EQ(call(operation::create_hook, org, {},
                 R"({"name":"o1","displayName":"O","payloadUrl":"http://o"})")
              ->status,
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
  EXPECT_EQ(deliveries->status, 200);
  EXPECT_EQ(deliveries->body, "[]");
  auto read = call(operation::read_hook, prod, "h1");
  ASSERT_EQ(read->status, 200);
  EXPECT_EQ(read->body, made->body);
  // The other webhook never noticed.
  EXPECT_EQ(call(operation::read_hook, org, "o1")->status, 200);
}

TEST_F(registry_test, repeated_crashes_back_off) {
  ASSERT_EQ(call(operation::create_hook, prod, {},
                 R"({"name":"h1","displayName":"D","payloadUrl":"http://h"})")
              ->status,
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
  ASSERT_EQ(made->status, 201);
  auto name = nlohmann::json::parse(made->body)["name"].get<std::string>();
  EXPECT_EQ(name.size(), 8u);
  EXPECT_EQ(call(operation::create_hook, prod, {},
                 R"({"name":")" + name
                   + R"(","displayName":"D","payloadUrl":"http://h"})")
              ->status,
            error_status(ec::conflict));
  EXPECT_EQ(call(operation::update_hook, prod, name,
                 R"({"displayName":"E","payloadUrl":"http://e","active":true})")
              ->status,
            200);
  EXPECT_EQ(std::get<0>(stats()), 1u);
  EXPECT_EQ(call(operation::delete_hook, prod, name)->status, 204);
  EXPECT_EQ(call(operation::read_hook, prod, name)->status,
            error_status(ec::not_found));
  EXPECT_EQ(std::get<0>(stats()), 0u);
}
