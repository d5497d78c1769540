// The stage runner with a fake clock and fake timers: stages in order,
// their state as the store gets it, timers, and stages that throw.
#include "hookd/stages.hpp"

#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

#include "hookd/keys.hpp"

using namespace hookd;
using namespace std::chrono_literals;

namespace {

/// Appends its config's "tag" to the body and passes events on; "twice"
/// passes each on twice (the second with a new id).
class tag_stage final : public plugin::stage {
public:
  explicit tag_stage(std::string cfg) : cfg_(std::move(cfg)) {}
  void on_event(const plugin::event& ev, plugin::stage_context& ctx) override {
    auto out = ev;
    out.body += cfg_;
    ctx.emit(out);
    if (cfg_ == "twice") {
      out.id = "";
      ctx.emit(out);
    }
  }

private:
  std::string cfg_;
};

/// Keeps the last event of a subject, delivered by a timer; throws on a
/// body that says "boom" (after writing, which must not stand); counts its
/// starts; renames events to "nonsense" when the body says so.
class hold_stage final : public plugin::stage {
public:
  explicit hold_stage(int& starts) : starts_(starts) {}
  void on_start(plugin::stage_context& ctx) override {
    ++starts_;
    for (auto& [key, value] : ctx.state().list("held/"))
      ctx.set_timer(key, 0ms);
  }
  void on_event(const plugin::event& ev, plugin::stage_context& ctx) override {
    ctx.state().put("held/" + ev.subject, ev.id + "|" + ev.body);
    if (ev.body.find("boom") != std::string::npos)
      throw std::runtime_error("boom");
    ctx.set_timer("held/" + ev.subject, 1s);
  }
  void on_timer(const std::string& key, plugin::stage_context& ctx) override {
    auto v = ctx.state().get(key);
    ctx.state().erase(key);
    if (!v)
      return;
    plugin::event ev;
    ev.id = v->substr(0, v->find('|'));
    ev.body = v->substr(v->find('|') + 1);
    ev.name = ev.body == "nonsense" ? "nonsense" : "update_succeeded";
    ev.org = "acme";
    ev.subject = key.substr(5);
    ctx.emit(ev);
  }

private:
  int& starts_;
};

/// Fills its state as an event's body says: "keys:N" puts N keys named
/// after the event, "bytes:N" one value of N bytes, "timers:N" arms N
/// timers, "drop" erases every key. A timer going off puts 4 keys.
class fill_stage final : public plugin::stage {
public:
  void on_event(const plugin::event& ev, plugin::stage_context& ctx) override {
    auto colon = ev.body.find(':');
    auto op = ev.body.substr(0, colon);
    auto n = colon == std::string::npos ? 0
                                        : std::stoul(ev.body.substr(colon + 1));
    if (op == "keys")
      for (unsigned long i = 0; i < n; ++i)
        ctx.state().put(ev.id + "/" + std::to_string(i), "v");
    else if (op == "bytes")
      ctx.state().put(ev.id, std::string(n, 'x'));
    else if (op == "timers")
      for (unsigned long i = 0; i < n; ++i)
        ctx.set_timer(ev.id + "/" + std::to_string(i), 1s);
    else if (op == "drop")
      for (const auto& [key, value] : ctx.state().list())
        ctx.state().erase(key);
    ctx.emit(ev);
  }
  void on_timer(const std::string& key, plugin::stage_context& ctx) override {
    for (int i = 0; i < 4; ++i)
      ctx.state().put(key + "/t" + std::to_string(i), "v");
  }
};

class fill_kind final : public plugin::stage_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config&) const override {
    return std::nullopt;
  }
  std::unique_ptr<plugin::stage>
  make(const plugin::config&, const plugin::webhook_info&) const override {
    return std::make_unique<fill_stage>();
  }
};

class tag_kind final : public plugin::stage_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config&) const override {
    return std::nullopt;
  }
  std::unique_ptr<plugin::stage>
  make(const plugin::config& cfg, const plugin::webhook_info&) const override {
    return std::make_unique<tag_stage>(cfg);
  }
};

class hold_kind final : public plugin::stage_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config&) const override {
    return std::nullopt;
  }
  std::unique_ptr<plugin::stage>
  make(const plugin::config&, const plugin::webhook_info&) const override {
    return std::make_unique<hold_stage>(starts);
  }
  mutable int starts = 0;
};

struct armed {
  std::uint32_t position;
  std::string key;
  std::chrono::milliseconds delay;
  std::uint64_t generation;
};

class stage_runner_test : public ::testing::Test {
protected:
  stage_runner_test() {
    auto reg = builtin_behaviours();
    reg->add_stage("tag", std::make_shared<tag_kind>());
    hold = std::make_shared<hold_kind>();
    reg->add_stage("hold", hold);
    reg->add_stage("fill", std::make_shared<fill_kind>());
    behaviours = reg;
    hook.id = "h1";
    hook.name = "hook";
  }

  std::unique_ptr<stage_runner> make(std::vector<behaviour_use> pipeline) {
    stage_runner::services svc;
    svc.now_ms = [this] { return now; };
    svc.arm = [this](std::uint32_t p, const std::string& k,
                     std::chrono::milliseconds d, std::uint64_t g) {
      timers.push_back({p, k, d, g});
    };
    svc.limits = limits;
    return std::make_unique<stage_runner>(behaviours, std::move(pipeline), hook,
                                          std::move(svc));
  }

  static event_ptr ev(std::string id, std::string subject, std::string body) {
    event e;
    e.id = std::move(id);
    e.index = event_index("update_succeeded");
    e.org = "acme";
    e.subject = std::move(subject);
    e.body = std::move(body);
    return std::make_shared<const event>(std::move(e));
  }

  std::shared_ptr<hold_kind> hold;
  behaviours_ptr behaviours;
  plugin::webhook_info hook;
  std::int64_t now = 1000;
  std::vector<armed> timers;
  stage_limits limits;
};

std::map<std::string, std::string> puts_of(const stage_output& out) {
  return {out.state.puts.begin(), out.state.puts.end()};
}

TEST_F(stage_runner_test, events_go_through_the_stages_in_order) {
  auto r = make({{"tag", "a"}, {"tag", "twice"}, {"tag", "b"}});
  EXPECT_TRUE(r->start().events.empty());
  auto out = r->offer({ev("e1", "prod", "x")});
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].id, "e1");
  EXPECT_EQ(out.events[0].body, "xatwiceb");
  EXPECT_EQ(out.events[1].body, "xatwiceb");
  EXPECT_TRUE(valid_uuid(out.events[1].id)) << out.events[1].id;
  EXPECT_TRUE(out.failed.empty());
  EXPECT_TRUE(out.state.empty());
  EXPECT_EQ(out.timers, 0u);
}

TEST_F(stage_runner_test, state_is_handed_out_under_the_stage_prefix) {
  auto r = make({{"tag", "a"}, {"hold", "{}"}});
  r->start();
  auto out = r->offer({ev("e1", "prod", "x"), ev("e2", "prod", "y")});
  EXPECT_TRUE(out.events.empty());
  auto key = keys::stages_prefix("h1") + "1.hold/held/prod";
  EXPECT_EQ(stage_state_prefix("h1", 1, "hold"), "p/h1/1.hold/");
  // One change a key: the last.
  ASSERT_EQ(out.state.puts.size(), 1u);
  EXPECT_EQ(puts_of(out)[key], "e2|ya");
  EXPECT_EQ(out.timers, 1u);
  ASSERT_EQ(timers.size(), 2u);
  EXPECT_EQ(timers.back().delay, 1s);
  EXPECT_EQ(timers.back().position, 1u);
  // The first timer was replaced: it does nothing.
  auto stale = r->fire(1, timers[0].key, timers[0].generation);
  EXPECT_TRUE(stale.events.empty());
  EXPECT_EQ(stale.timers, 1u);
  auto fired = r->fire(1, timers[1].key, timers[1].generation);
  ASSERT_EQ(fired.events.size(), 1u);
  EXPECT_EQ(fired.events[0].id, "e2");
  EXPECT_EQ(fired.events[0].body, "ya");
  EXPECT_EQ(fired.state.deletes, std::vector<std::string>{key});
  EXPECT_EQ(fired.timers, 0u);
}

TEST_F(stage_runner_test, stored_state_comes_back_and_strays_are_deleted) {
  auto r = make({{"hold", "{}"}});
  r->load({{"p/h1/0.hold/held/prod", "e7|z"},
           {"p/h1/0.gone/x", "1"},
           {"p/h1/1.hold/held/y", "2"}});
  auto out = r->start();
  EXPECT_EQ(hold->starts, 1);
  EXPECT_EQ(out.state.deletes,
            (std::vector<std::string>{"p/h1/0.gone/x", "p/h1/1.hold/held/y"}));
  ASSERT_EQ(out.timers, 1u);
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers[0].delay, 0ms);
  auto fired = r->fire(0, timers[0].key, timers[0].generation);
  ASSERT_EQ(fired.events.size(), 1u);
  EXPECT_EQ(fired.events[0].id, "e7");
}

TEST_F(stage_runner_test, a_throwing_stage_fails_its_event_and_is_made_again) {
  auto r = make({{"hold", "{}"}});
  r->start();
  auto out = r->offer({ev("e1", "prod", "boom"), ev("e2", "dev", "ok")});
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_EQ(out.failed[0].id, "e1");
  EXPECT_EQ(out.errors[0], "stage 'hold' (pipeline[0]) failed: boom");
  // What it wrote before it threw does not stand; the next event met a
  // new instance, started again.
  EXPECT_EQ(puts_of(out).count("p/h1/0.hold/held/prod"), 0u);
  EXPECT_EQ(puts_of(out).count("p/h1/0.hold/held/dev"), 1u);
  EXPECT_EQ(hold->starts, 2);
  auto revivals = r->take_revivals();
  ASSERT_EQ(revivals.size(), 1u);
  EXPECT_EQ(revivals[0].first, 0u);
  EXPECT_EQ(revivals[0].second, 1000ms);
  // Reviving a stage that runs does nothing.
  r->revive(0);
  EXPECT_EQ(hold->starts, 2);
}

TEST_F(stage_runner_test, an_event_that_is_not_in_the_catalogue_fails) {
  auto r = make({{"hold", "{}"}});
  r->start();
  r->offer({ev("e1", "prod", "nonsense")});
  auto fired = r->fire(0, timers.back().key, timers.back().generation);
  EXPECT_TRUE(fired.events.empty());
  ASSERT_EQ(fired.failed.size(), 1u);
  EXPECT_NE(fired.errors[0].find("'nonsense'"), std::string::npos);
}

TEST_F(stage_runner_test, an_unregistered_stage_fails_every_event) {
  auto r = make({{"missing", "{}"}});
  r->start();
  auto out = r->offer({ev("e1", "prod", "x")});
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_NE(out.errors[0].find("is not registered"), std::string::npos);
}

TEST_F(stage_runner_test, an_event_taking_a_stage_past_its_keys_fails) {
  limits.keys = 5;
  auto r = make({{"fill", "{}"}});
  r->start();
  auto out = r->offer({ev("a", "prod", "keys:3"), ev("b", "prod", "keys:3"),
                       ev("c", "prod", "keys:2")});
  // b would make 6: it fails, and nothing it wrote stands; c makes 5.
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_EQ(out.failed[0].id, "b");
  EXPECT_NE(out.errors[0].find("stage 'fill' (pipeline[0]) failed"),
            std::string::npos)
      << out.errors[0];
  EXPECT_NE(out.errors[0].find("more than 5 keys"), std::string::npos)
      << out.errors[0];
  EXPECT_NE(out.errors[0].find("stage_state_keys_max"), std::string::npos)
      << out.errors[0];
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].id, "a");
  EXPECT_EQ(out.events[1].id, "c");
  auto puts = puts_of(out);
  EXPECT_EQ(puts.size(), 5u);
  for (const auto& [key, value] : puts)
    EXPECT_EQ(key.find("p/h1/0.fill/b/"), std::string::npos) << key;
  // Full: one more key fails; making room lets it in.
  out = r->offer({ev("d", "prod", "keys:1")});
  EXPECT_EQ(out.failed.size(), 1u);
  out = r->offer({ev("e", "prod", "drop"), ev("f", "prod", "keys:5")});
  EXPECT_TRUE(out.failed.empty()) << out.errors[0];
  EXPECT_EQ(out.state.deletes.size(), 5u);
  EXPECT_EQ(out.state.puts.size(), 5u);
}

TEST_F(stage_runner_test, an_event_taking_a_stage_past_its_bytes_fails) {
  limits.bytes = 100;
  auto r = make({{"fill", "{}"}});
  r->start();
  auto out = r->offer({ev("a", "prod", "bytes:60"), ev("b", "prod", "bytes:60"),
                       ev("a", "prod", "bytes:90")});
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_EQ(out.failed[0].id, "b");
  EXPECT_NE(out.errors[0].find("more than 100 bytes"), std::string::npos)
      << out.errors[0];
  EXPECT_NE(out.errors[0].find("stage_state_bytes_max"), std::string::npos)
      << out.errors[0];
  // Replacing a's value with a larger one still fits ("a" + 90 bytes).
  auto puts = puts_of(out);
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(puts["p/h1/0.fill/a"].size(), 90u);
  // Stored state counts too.
  auto again = make({{"fill", "{}"}});
  again->load({{"p/h1/0.fill/old", std::string(90, 'x')}});
  again->start();
  out = again->offer({ev("c", "prod", "bytes:10")});
  ASSERT_EQ(out.failed.size(), 1u);
}

TEST_F(stage_runner_test, an_event_arming_too_many_timers_fails) {
  limits.timers = 3;
  auto r = make({{"fill", "{}"}});
  r->start();
  auto out = r->offer({ev("a", "prod", "timers:4")});
  ASSERT_EQ(out.failed.size(), 1u);
  EXPECT_NE(out.errors[0].find("more than 3 timers"), std::string::npos)
      << out.errors[0];
  EXPECT_NE(out.errors[0].find("stage_timers_max"), std::string::npos)
      << out.errors[0];
  EXPECT_EQ(out.timers, 0u);
  // Only three were ever armed; none of them is live.
  EXPECT_EQ(timers.size(), 3u);
  for (const auto& t : timers)
    EXPECT_TRUE(r->fire(t.position, t.key, t.generation).state.empty());
  out = r->offer({ev("b", "prod", "timers:3")});
  EXPECT_TRUE(out.failed.empty());
  EXPECT_EQ(out.timers, 3u);
}

TEST_F(stage_runner_test, a_timer_taking_a_stage_past_a_bound_changes_nothing) {
  limits.keys = 3;
  auto r = make({{"fill", "{}"}});
  r->start();
  auto out = r->offer({ev("a", "prod", "timers:1")});
  ASSERT_TRUE(out.failed.empty());
  ASSERT_EQ(timers.size(), 1u);
  auto fired = r->fire(0, timers[0].key, timers[0].generation);
  EXPECT_TRUE(fired.state.empty());
  EXPECT_TRUE(fired.events.empty());
  EXPECT_TRUE(fired.failed.empty());
  // The stage is made again, as after a throw.
  EXPECT_EQ(r->take_revivals().size(), 1u);
}

} // namespace
