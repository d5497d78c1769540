// The webhook actor on CAF's deterministic test coordinator: every message
// is stepped by the test and time moves only when the test advances the
// clock. Its collaborators are fakes spawned in the same system: a store
// writer and store readers over a real store in a temporary directory, a
// delivery client that answers what the test scripts, a deployments actor,
// and a registry that only records the pending deltas it is told.
#include <algorithm>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// caf/test/dsl.hpp calls a FAIL(message) of its own, which gtest's FAIL()
// would shadow: gtest's is still there as GTEST_FAIL().
#define GTEST_DONT_DEFINE_FAIL 1
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hookd/components.hpp"
#include "hookd/event.hpp"
#include "hookd/keys.hpp"
#include "hookd/type_ids.hpp"
#include "hookd/webhook.hpp"

// The fixture of CAF's test DSL reads the command line through CAF's own
// unit-test engine, whose definitions are in unit_test_impl.hpp: compiled
// here, once for the whole test binary, without CAF's main (gtest has it).
#define CAF_TEST_NO_MAIN
#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>
// `expect`, `inject` and `allow` report through the engine's current test,
// which exists only under CAF's own test runner: under gtest they would
// dereference a null test. These tests step the scheduler and check what
// the fakes recorded instead.
#undef expect
#undef inject
#undef allow
#undef disallow

using namespace hookd;
using namespace std::chrono_literals;

namespace {

// -- fakes --------------------------------------------------------------------

/// What the fake store writer saw and does.
struct writer_log {
  store_ptr db;
  /// Batches committed, in order.
  std::vector<write_batch> committed;
  /// Writes to let through before refusing `refuse` of them.
  std::size_t pass = 0;
  /// Writes still to refuse with an error (and not commit).
  std::size_t refuse = 0;
  std::size_t refused = 0;
};

store_writer_actor::behavior_type fake_writer(store_writer_actor::pointer,
                                              std::shared_ptr<writer_log> log) {
  return {
      [=](atom::write, write_batch& b) -> caf::result<std::uint64_t> {
        if (log->pass > 0) {
          --log->pass;
        } else if (log->refuse > 0) {
          --log->refuse;
          ++log->refused;
          return make_error(ec::unavailable, "the disk is full");
        }
        if (auto err = log->db->commit(b))
          return err;
        log->committed.push_back(std::move(b));
        return log->db->sequence();
      },
      [=](atom::status) {
        return component_status{"store", true, {}};
      },
      [=](atom::flush) {},
  };
}

/// Reads of the same store, as the store readers answer them (on the
/// test coordinator's thread: no reader thread may run here).
store_reader_actor::behavior_type fake_reader(store_reader_actor::pointer,
                                              store_ptr db) {
  return {
      [=](atom::get, read_request& req) -> caf::result<read_results> {
        auto out = read_now(*db, req);
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [=](atom::scan, scan_request& req) -> caf::result<scan_result> {
        auto out = scan_now(*db, req);
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [=](atom::status) {
        return component_status{"store-readers", true, {}};
      },
  };
}

/// What the fake delivery client saw and answers.
struct delivery_log {
  std::vector<http_request> requests;
  /// Answers to give, in order; with none left a request is held.
  std::deque<http_result> script;
  std::vector<caf::typed_response_promise<http_result>> held;
};

delivery_actor::behavior_type fake_delivery(delivery_actor::pointer self,
                                            std::shared_ptr<delivery_log> log) {
  return {
      [=](http_request& req) -> caf::result<http_result> {
        log->requests.push_back(req);
        if (log->script.empty()) {
          auto rp = self->make_response_promise<http_result>();
          log->held.push_back(rp);
          return rp;
        }
        auto r = std::move(log->script.front());
        log->script.pop_front();
        return r;
      },
      [=](atom::status) {
        return component_status{"delivery", true, {}};
      },
      // Answers held request `n` (promises are delivered by their actor).
      [=](atom::done, std::uint64_t n, http_result& r) {
        log->held.at(n).deliver(std::move(r));
      },
  };
}

struct deployments_log {
  std::vector<deployment_request> deploys;
  std::vector<std::string> forgotten;
};

deployments_actor::behavior_type
fake_deployments(deployments_actor::pointer,
                 std::shared_ptr<deployments_log> log) {
  return {
      [=](api_call&) -> caf::result<api_response> {
        return make_error(ec::internal, "not in this test");
      },
      [=](atom::deploy, deployment_request& req) -> std::string {
        log->deploys.push_back(req);
        return R"({"version":1})";
      },
      [=](atom::forget, std::string& id) { log->forgotten.push_back(id); },
      [=](atom::status) {
        return component_status{"deployments", true, {}};
      },
  };
}

/// The messages a webhook actor sends its registry. The webhook holds a
/// registry_actor handle: this actor is cast to one, which is fine for as
/// long as nothing else is sent to it.
using pending_sink
    = caf::typed_actor<caf::reacts_to<atom::pending, std::int64_t>,
                       caf::reacts_to<atom::resume, std::int64_t>>;

/// Changes to a webhook's unfinished deliveries, as its registry counts
/// them (what it owes after recovery is one), and how often it said it had
/// recovered.
struct registry_log {
  std::vector<std::int64_t> deltas;
  std::size_t recoveries = 0;
};

pending_sink::behavior_type fake_registry(pending_sink::pointer,
                                          std::shared_ptr<registry_log> log) {
  return {
      [=](atom::pending, std::int64_t delta) { log->deltas.push_back(delta); },
      [=](atom::resume, std::int64_t owed) {
        ++log->recoveries;
        if (owed != 0)
          log->deltas.push_back(owed);
      },
  };
}

// -- fixture ------------------------------------------------------------------

struct dsl_fixture : test_coordinator_fixture<system_config> {};

/// An answer to a request from the test: none yet, a value or an error.
template <class T> struct reply {
  bool answered = false;
  std::optional<T> value;
  caf::error error;
};

http_result answer(long code, std::string body = {}) {
  http_result r;
  r.code = code;
  r.response_body = std::move(body);
  r.duration_ms = 3;
  return r;
}

std::string header(const http_request& req, const std::string& name) {
  for (const auto& [key, value] : req.headers)
    if (key == name)
      return value;
  return "<none>";
}

class webhook_actor_test : public testing::Test {
protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "hookd-webhook-dsl-" + crypto::random_hex(6);
    auto db = store::open(dir_, false);
    ASSERT_TRUE(db) << message_of(db.error());
    db_ = std::move(*db);
    caf_ = std::make_unique<dsl_fixture>();
    writes_->db = db_;
    writer_ = keep(caf_->sys.spawn(fake_writer, writes_));
    reader_ = keep(caf_->sys.spawn(fake_reader, db_));
    delivery_ = keep(caf_->sys.spawn(fake_delivery, deliveries_));
    deployments_ = keep(caf_->sys.spawn(fake_deployments, deploys_));
    registry_ = caf::actor_cast<registry_actor>(
        keep(caf_->sys.spawn(fake_registry, registry_log_)));
    step();

    hook_.where = {scope_kind::stack, "acme", "web", "prod"};
    hook_.name = "h1";
    hook_.id = crypto::uuid4();
    hook_.display_name = "receiver";
    hook_.payload_url = "https://receiver.example/hook";
    hook_.secret = "s3cret";
    hook_.active = true;
    hook_.format = "raw";
    stored_ = storage_json(hook_, *sealer_);
  }

  void TearDown() override {
    if (!caf_)
      return;
    // Webhook actors first (their last writes still reach the writer),
    // then the fakes; every actor must be gone before the system is.
    for (auto& hdl : webhooks_)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    step();
    for (auto& hdl : actors_)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    step();
    // Held promises keep references to actors of the system.
    deliveries_->held.clear();
    caf_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  /// Remembers an actor, to stop it before the system goes.
  template <class Handle> Handle keep(Handle hdl) {
    actors_.push_back(caf::actor_cast<caf::actor>(hdl));
    return hdl;
  }

  /// Lets every actor handle every message it has, firing no timer.
  std::size_t step() {
    return caf_->consume_messages();
  }

  /// Advances the test clock (firing what falls due), then steps.
  void advance(caf::timespan by) {
    caf_->advance_time(by);
    step();
  }

  /// Answers the `n`th request the delivery fake held.
  void release(std::uint64_t n, http_result r) {
    caf::anon_send(delivery_, atom::done::value, n, std::move(r));
    step();
  }

  webhook_setup setup() {
    webhook_setup s;
    s.db = db_;
    s.writer = writer_;
    s.reader = reader_;
    s.delivery = delivery_;
    s.deployments = deployments_;
    s.registry = registry_;
    s.sealer = sealer_;
    s.retry_schedule = {0s, 5s, 30s};
    s.timeout = 10s;
    s.history_limit = history_limit_;
    s.max_in_flight = 4;
    return s;
  }

  /// Stores the webhook's configuration, spawns its actor and lets it
  /// start (it reads the configuration back, then its queue).
  webhook_actor spawn() {
    auto key = hook_.where.key() + '/' + hook_.name;
    write_batch b;
    b.puts.emplace_back(keys::hook_config(key), stored_);
    EXPECT_FALSE(db_->commit(std::move(b)));
    auto hdl = spawn_webhook(caf_->sys, key, setup());
    webhooks_.push_back(caf::actor_cast<caf::actor>(hdl));
    step();
    return hdl;
  }

  /// Sends a request from a test actor, steps, and returns what came back
  /// (if anything did).
  template <class T, class Handle, class... Ts>
  std::shared_ptr<reply<T>> ask(const Handle& dest, Ts... xs) {
    auto out = std::make_shared<reply<T>>();
    keep(caf_->sys.spawn([=](caf::event_based_actor* client) {
      client->request(dest, caf::infinite, xs...)
          .then(
              [=](T& x) {
                out->answered = true;
                out->value = std::move(x);
              },
              [=](caf::error& err) {
                out->answered = true;
                out->error = std::move(err);
              });
    }));
    step();
    return out;
  }

  event_batch batch_of(const event& ev) {
    event_batch b;
    b.events.push_back(std::make_shared<const event>(ev));
    return b;
  }

  event new_event() {
    return make_event("update_succeeded", "acme", "web", "prod",
                      R"({"kind":"update","result":"succeeded"})", 0, {});
  }

  /// The delivery record of an event, as stored; null when there is none.
  nlohmann::json stored_record(const std::string& event_id) {
    auto seq = db_->get(keys::history_index_prefix(hook_.id) + event_id);
    if (!seq || !*seq)
      return nullptr;
    auto text
        = db_->get(keys::history_prefix(hook_.id) + **seq + '/' + event_id);
    if (!text || !*text)
      return nullptr;
    return nlohmann::json::parse(**text);
  }

  bool queued_in_store(const std::string& event_id) {
    auto marker = db_->get(keys::queue_prefix(hook_.id) + event_id);
    return marker && marker->has_value();
  }

  /// Retries of `hdl` waiting in the test clock: how far ahead, for which
  /// event.
  std::vector<std::pair<caf::timespan, std::string>>
  scheduled_retries(const webhook_actor& hdl) {
    using clock_type = caf::detail::simple_actor_clock;
    std::vector<std::pair<caf::timespan, std::string>> out;
    auto& clk = caf_->sched.clock();
    auto target = caf::actor_cast<caf::strong_actor_ptr>(hdl);
    for (const auto& [due, ev] : clk.schedule()) {
      if (ev->subtype != clock_type::actor_msg_type)
        continue;
      const auto& msg = static_cast<const clock_type::actor_msg&>(*ev);
      if (msg.receiver != target)
        continue;
      auto& content = msg.content->content();
      if (content.match_elements<atom::retry, std::string>())
        out.emplace_back(due - clk.current_time,
                         content.get_as<std::string>(1));
    }
    return out;
  }

  std::string dir_;
  store_ptr db_;
  std::shared_ptr<const crypto::sealer> sealer_
      = std::make_shared<const crypto::sealer>(std::string(32, 'k'));
  std::unique_ptr<dsl_fixture> caf_;
  std::shared_ptr<writer_log> writes_ = std::make_shared<writer_log>();
  std::shared_ptr<delivery_log> deliveries_ = std::make_shared<delivery_log>();
  std::shared_ptr<deployments_log> deploys_
      = std::make_shared<deployments_log>();
  std::shared_ptr<registry_log> registry_log_
      = std::make_shared<registry_log>();
  store_writer_actor writer_;
  store_reader_actor reader_;
  delivery_actor delivery_;
  deployments_actor deployments_;
  registry_actor registry_;
  std::vector<caf::actor> actors_;
  std::vector<caf::actor> webhooks_;
  webhook hook_;
  std::string stored_;
  std::size_t history_limit_ = 1000;
};

using deltas = std::vector<std::int64_t>;

} // namespace

TEST_F(webhook_actor_test, a_failed_attempt_is_retried_on_schedule) {
  auto wh = spawn();
  deliveries_->script = {answer(500, "try later"), answer(200, "ok")};
  auto ev = new_event();

  auto taken = ask<std::size_t>(wh, batch_of(ev));
  ASSERT_TRUE(taken->answered);
  ASSERT_TRUE(taken->value) << caf_->sys.render(taken->error);
  EXPECT_EQ(*taken->value, 1u);
  // Recorded in one write (record, index, queue marker) before answering,
  // counted as pending, and attempted once.
  ASSERT_EQ(writes_->committed.size(), 1u);
  EXPECT_EQ(writes_->committed[0].puts.size(), 3u);
  EXPECT_TRUE(queued_in_store(ev.id));
  EXPECT_EQ(registry_log_->deltas, deltas({1}));
  ASSERT_EQ(deliveries_->requests.size(), 1u);
  EXPECT_EQ(deliveries_->requests[0].url, hook_.payload_url);
  EXPECT_EQ(header(deliveries_->requests[0], "Pulumi-Webhook-Id"), ev.id);

  // The 500 schedules the second attempt schedule[1] = 5 s ahead, give or
  // take the policy's 20% jitter, and nothing else for this event.
  auto retries = scheduled_retries(wh);
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_EQ(retries[0].second, ev.id);
  auto wait = retries[0].first;
  EXPECT_GE(wait, caf::timespan{4s});
  EXPECT_LE(wait, caf::timespan{6s});

  // The outcome is written a moment later (the outbox).
  advance(10ms);
  auto rec = stored_record(ev.id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec["status"], "retrying");
  EXPECT_EQ(rec["attempts"], 1);
  EXPECT_EQ(rec["responseCode"], 500);
  EXPECT_EQ(rec["error"], "HTTP 500");
  EXPECT_TRUE(rec["nextAttemptAt"].is_number());
  EXPECT_TRUE(queued_in_store(ev.id));
  EXPECT_EQ(registry_log_->deltas, deltas({1}));

  // Not a moment before its time ...
  advance(wait - 10ms - 1ms);
  EXPECT_EQ(deliveries_->requests.size(), 1u);
  // ... then the retry goes out, the same body for the same event.
  advance(1ms);
  ASSERT_EQ(deliveries_->requests.size(), 2u);
  EXPECT_EQ(deliveries_->requests[1].body, deliveries_->requests[0].body);
  EXPECT_EQ(header(deliveries_->requests[1], "Pulumi-Webhook-Id"), ev.id);
  EXPECT_TRUE(scheduled_retries(wh).empty());

  // The 200 finishes it: written with the outbox, and the registry told.
  advance(10ms);
  EXPECT_EQ(registry_log_->deltas, deltas({1, -1}));
  rec = stored_record(ev.id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec["status"], "succeeded");
  EXPECT_EQ(rec["attempts"], 2);
  EXPECT_EQ(rec["responseCode"], 200);
  EXPECT_EQ(rec["responseBody"], "ok");
  EXPECT_EQ(rec["error"], "");
  EXPECT_TRUE(rec["nextAttemptAt"].is_null());
  EXPECT_FALSE(queued_in_store(ev.id));
  EXPECT_TRUE(deliveries_->script.empty());

  // And nothing more happens for it.
  advance(1min - 1s);
  EXPECT_EQ(deliveries_->requests.size(), 2u);
  EXPECT_EQ(registry_log_->deltas, deltas({1, -1}));
}

TEST_F(webhook_actor_test, the_last_scheduled_attempt_fails_the_delivery) {
  auto wh = spawn();
  deliveries_->script = {answer(503), answer(502), answer(500)};
  auto ev = new_event();
  auto taken = ask<std::size_t>(wh, batch_of(ev));
  ASSERT_TRUE(taken->value);
  ASSERT_EQ(deliveries_->requests.size(), 1u);
  // Three waits in the schedule: three attempts, then no more. Attempt n
  // waits schedule[n - 1] (5 s, then 30 s), give or take 20%.
  const caf::timespan waits[] = {5s, 30s};
  for (std::size_t attempt = 2; attempt <= 3; ++attempt) {
    auto retries = scheduled_retries(wh);
    ASSERT_EQ(retries.size(), 1u) << "before attempt " << attempt;
    auto expected = waits[attempt - 2];
    EXPECT_GE(retries[0].first, expected * 8 / 10) << "attempt " << attempt;
    EXPECT_LE(retries[0].first, expected * 12 / 10) << "attempt " << attempt;
    advance(retries[0].first);
    EXPECT_EQ(deliveries_->requests.size(), attempt);
  }
  EXPECT_TRUE(scheduled_retries(wh).empty());
  advance(10ms);
  auto rec = stored_record(ev.id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec["status"], "failed");
  EXPECT_EQ(rec["attempts"], 3);
  EXPECT_EQ(rec["responseCode"], 500);
  EXPECT_FALSE(queued_in_store(ev.id));
  EXPECT_EQ(registry_log_->deltas, deltas({1, -1}));
}

TEST_F(webhook_actor_test, a_failed_write_records_nothing_and_takes_it_later) {
  auto wh = spawn();
  deliveries_->script = {answer(200)};
  auto ev = new_event();
  writes_->refuse = 1;
  auto first = ask<std::size_t>(wh, batch_of(ev));
  ASSERT_TRUE(first->answered);
  EXPECT_FALSE(first->value);
  EXPECT_EQ(code_of(first->error), ec::unavailable);
  EXPECT_EQ(writes_->refused, 1u);
  EXPECT_TRUE(deliveries_->requests.empty());
  EXPECT_FALSE(queued_in_store(ev.id));
  EXPECT_TRUE(stored_record(ev.id).is_null());
  EXPECT_EQ(registry_log_->deltas, deltas({1, -1}));

  // The fan-out comes again: the event was not kept as seen.
  auto again = ask<std::size_t>(wh, batch_of(ev));
  ASSERT_TRUE(again->value) << caf_->sys.render(again->error);
  EXPECT_EQ(*again->value, 1u);
  EXPECT_EQ(deliveries_->requests.size(), 1u);
  advance(10ms);
  EXPECT_EQ(registry_log_->deltas, deltas({1, -1, 1, -1}));
  auto rec = stored_record(ev.id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec["status"], "succeeded");
  EXPECT_EQ(rec["attempts"], 1);
}

TEST_F(webhook_actor_test, redeliver_attempts_a_finished_delivery_again) {
  auto wh = spawn();
  deliveries_->script = {answer(200, "first")};
  auto ev = new_event();
  auto taken = ask<std::size_t>(wh, batch_of(ev));
  ASSERT_TRUE(taken->value);
  advance(10ms);
  auto rec = stored_record(ev.id);
  ASSERT_TRUE(rec.is_object());
  ASSERT_EQ(rec["status"], "succeeded");
  ASSERT_EQ(rec["attempts"], 1);
  ASSERT_EQ(registry_log_->deltas, deltas({1, -1}));

  deliveries_->script = {answer(200, "second")};
  api_call call;
  call.op = operation::redeliver;
  call.where = hook_.where;
  call.hook = hook_.name;
  call.item = ev.id;
  auto res = ask<api_response>(wh, call);
  ASSERT_TRUE(res->answered);
  ASSERT_TRUE(res->value) << caf_->sys.render(res->error);
  EXPECT_EQ(res->value->status, success::ok);
  auto body = nlohmann::json::parse(res->value->body);
  EXPECT_EQ(body["id"], ev.id);
  EXPECT_EQ(body["attempts"], 2);
  EXPECT_EQ(body["status"], "succeeded");
  EXPECT_EQ(body["responseBody"], "second");

  // The same payload went out again, under the same event id.
  ASSERT_EQ(deliveries_->requests.size(), 2u);
  EXPECT_EQ(deliveries_->requests[1].body, deliveries_->requests[0].body);
  EXPECT_EQ(header(deliveries_->requests[1], "Pulumi-Webhook-Id"), ev.id);
  EXPECT_EQ(header(deliveries_->requests[1], "webhook-id"), ev.id);
  // The answer is what is stored, and a finished delivery is not pending.
  EXPECT_EQ(stored_record(ev.id), body);
  EXPECT_EQ(registry_log_->deltas, deltas({1, -1}));
  EXPECT_TRUE(scheduled_retries(wh).empty());
}

TEST_F(webhook_actor_test, redeliver_counts_an_outcome_not_yet_written) {
  auto wh = spawn();
  deliveries_->script = {answer(200, "first"), answer(200, "second")};
  auto ev = new_event();
  auto taken = ask<std::size_t>(wh, batch_of(ev));
  ASSERT_TRUE(taken->value);
  ASSERT_EQ(deliveries_->requests.size(), 1u);
  // The first outcome waits in the outbox (its flush is not due yet) ...
  auto rec = stored_record(ev.id);
  ASSERT_TRUE(rec.is_object());
  ASSERT_EQ(rec["attempts"], 0);

  // ... and a redelivery right now still counts it.
  api_call call;
  call.op = operation::redeliver;
  call.item = ev.id;
  auto res = ask<api_response>(wh, call);
  ASSERT_TRUE(res->value) << caf_->sys.render(res->error);
  auto body = nlohmann::json::parse(res->value->body);
  EXPECT_EQ(body["attempts"], 2);
  EXPECT_EQ(body["status"], "succeeded");
  EXPECT_EQ(body["responseBody"], "second");
  advance(10ms);
  EXPECT_EQ(stored_record(ev.id), body);
  EXPECT_EQ(registry_log_->deltas, deltas({1, -1}));
}

TEST_F(webhook_actor_test, redeliver_of_an_unknown_event_is_not_found) {
  auto wh = spawn();
  api_call call;
  call.op = operation::redeliver;
  call.where = hook_.where;
  call.hook = hook_.name;
  call.item = crypto::uuid4();
  auto res = ask<api_response>(wh, call);
  ASSERT_TRUE(res->answered);
  EXPECT_FALSE(res->value);
  EXPECT_EQ(code_of(res->error), ec::not_found);
  EXPECT_TRUE(deliveries_->requests.empty());
}

TEST_F(webhook_actor_test, a_new_actor_resumes_what_the_store_has_queued) {
  auto first = spawn();
  // The delivery client holds the attempt: it is in flight when the actor
  // goes.
  auto ev = new_event();
  auto taken = ask<std::size_t>(first, batch_of(ev));
  ASSERT_TRUE(taken->value);
  ASSERT_EQ(deliveries_->requests.size(), 1u);
  ASSERT_EQ(deliveries_->held.size(), 1u);
  ASSERT_TRUE(queued_in_store(ev.id));
  ASSERT_EQ(registry_log_->deltas, deltas({1}));
  caf::anon_send_exit(first, caf::exit_reason::kill);
  step();

  // A new actor over the same store, and no new event.
  auto second = spawn();
  ASSERT_NE(second.address(), first.address());
  EXPECT_EQ(registry_log_->recoveries, 2u);
  ASSERT_EQ(deliveries_->requests.size(), 2u);
  EXPECT_EQ(header(deliveries_->requests[1], "Pulumi-Webhook-Id"), ev.id);
  EXPECT_EQ(deliveries_->requests[1].body, deliveries_->requests[0].body);
  EXPECT_EQ(registry_log_->deltas, deltas({1, 1}));

  // The late answer to the dead actor changes nothing; the new one's
  // answer finishes the delivery.
  release(0, answer(200, "too late"));
  EXPECT_EQ(deliveries_->requests.size(), 2u);
  release(1, answer(200, "ok"));
  advance(10ms);
  auto rec = stored_record(ev.id);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec["status"], "succeeded");
  EXPECT_EQ(rec["attempts"], 1);
  EXPECT_EQ(rec["responseBody"], "ok");
  EXPECT_FALSE(queued_in_store(ev.id));
  EXPECT_EQ(registry_log_->deltas, deltas({1, 1, -1}));
}

// The finished history is pruned after a write once it passes the limit by
// a slack; when the prune's own write fails, its cursor and count stay, so
// the next prune deletes those records instead of stepping over them.
TEST_F(webhook_actor_test, a_failed_prune_strands_no_record_past_the_limit) {
  history_limit_ = 1; // slack 16: pruned once more than 17 are finished
  auto wh = spawn();
  auto records = [&] {
    std::size_t n = 0;
    auto err = db_->scan(keys::history_prefix(hook_.id), {}, false,
                         [&](std::string_view, std::string_view) {
                           ++n;
                           return true;
                         });
    EXPECT_FALSE(err);
    return n;
  };
  auto deliver = [&](std::size_t n) {
    event_batch b;
    for (std::size_t i = 0; i < n; ++i) {
      b.events.push_back(std::make_shared<const event>(new_event()));
      deliveries_->script.push_back(answer(200));
    }
    auto r = ask<std::size_t>(wh, b);
    advance(10ms);
    return r->value.has_value();
  };
  // Pending when taken: nothing to prune yet.
  ASSERT_TRUE(deliver(18));
  ASSERT_EQ(records(), 18u);
  // This one is recorded (the first write), and the prune that follows
  // would delete 17 records, but its write (the second) fails.
  writes_->pass = 1;
  writes_->refuse = 1;
  ASSERT_TRUE(deliver(1));
  ASSERT_EQ(writes_->refused, 1u);
  ASSERT_EQ(records(), 19u);
  // The next write prunes what the failed one left, down to the limit and
  // the newest (pending when the prune ran).
  ASSERT_TRUE(deliver(1));
  EXPECT_EQ(records(), 2u);
  // And with every write succeeding, the history stays within the slack.
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(deliver(1));
  EXPECT_LE(records(), 18u);
}
