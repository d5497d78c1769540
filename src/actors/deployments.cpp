// Deployments queued by pulumi_deployments webhooks. Owns dv/, dp/ and dk/
// (keys.hpp). A deployment raises a deployment_queued event through ingest
// before it is recorded: a crash in between delivers the event and queues
// the deployment again on the next attempt rather than losing the event.
#include <chrono>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/components.hpp"
#include "hookd/defaults.hpp"
#include "hookd/keys.hpp"
#include "reads.hpp"

namespace hookd {

namespace {

using json = nlohmann::ordered_json;

struct deployments_state {
  static inline const char* name = "hookd.deployments";
  store_ptr db;
  store_writer_actor writer;
  store_reader_actor reader;
  ingest_actor ingest;
  /// Last deployment version per stack, read from the store once.
  std::unordered_map<std::string, std::uint64_t> versions;
  /// Deployments set off per client event, kept in memory while any of
  /// them is being queued (the store may not hold the newest count yet).
  struct budget {
    std::uint32_t used = 0;
    std::uint32_t queueing = 0;
  };
  std::unordered_map<std::string, budget> budgets;
  /// Attempts being queued: a retry arriving meanwhile waits for the same
  /// deployment instead of queueing a second one.
  std::unordered_map<std::string,
                     std::vector<caf::typed_response_promise<std::string>>>
      queueing;
};

using self_ptr = deployments_actor::stateful_pointer<deployments_state>;

std::string version_text(std::uint64_t v) {
  auto digits = std::to_string(v);
  return std::string(20 - digits.size(), '0') + digits;
}

void settle(self_ptr self, const std::string& attempt,
            const caf::expected<std::string>& outcome) {
  auto it = self->state.queueing.find(attempt);
  if (it == self->state.queueing.end())
    return;
  for (auto& rp : it->second) {
    if (outcome)
      rp.deliver(*outcome);
    else
      rp.deliver(outcome.error());
  }
  self->state.queueing.erase(it);
}

void queue_deployment(self_ptr self, const deployment_request& req,
                      const std::string& stack_key,
                      const std::string& attempt_key,
                      const read_result& stored_version,
                      const read_result& stored_budget);

caf::result<std::string> deploy(self_ptr self, const deployment_request& req) {
  auto& st = self->state;
  if (!valid_path_name(req.project) || !valid_path_name(req.stack))
    return make_error(ec::bad_request,
                      "invalid target stack " + req.project + '/' + req.stack);
  auto stack_key = req.org + '/' + req.project + '/' + req.stack;
  // A retried attempt (a lost answer, a crash) gets the deployment its
  // first try queued: one event never deploys a stack twice.
  auto attempt_key = keys::deployment_attempt(req.attempt_key);
  // A promise takes over the request's reply: made only on the paths that
  // answer through it.
  if (auto it = st.queueing.find(attempt_key); it != st.queueing.end()) {
    auto rp = self->make_response_promise<std::string>();
    it->second.push_back(rp);
    return rp;
  }
  auto rp = self->make_response_promise<std::string>();
  st.queueing[attempt_key].push_back(rp);
  // The attempt's earlier answer and the stack's last version, from memory
  // or on the store readers; awaited, so that no other deployment of the
  // stack takes a version in between.
  std::vector<std::string> lookups{attempt_key,
                                   keys::deployment_version(stack_key),
                                   keys::deployment_budget(req.root)};
  read_keys(self, *st.db, st.reader, std::move(lookups), order::in_order,
            [=](caf::expected<read_results> found) {
              if (!found)
                return settle(self, attempt_key, found.error());
              if (found->items[0].found)
                return settle(self, attempt_key, found->items[0].value);
              queue_deployment(self, req, stack_key, attempt_key,
                               found->items[1], found->items[2]);
            });
  return rp;
}

/// Queues a deployment of the stack at its next version, raises its event,
/// then writes it; every request waiting on the attempt gets the answer.
void queue_deployment(self_ptr self, const deployment_request& req,
                      const std::string& stack_key,
                      const std::string& attempt_key,
                      const read_result& stored_version,
                      const read_result& stored_budget) {
  auto& st = self->state;
  auto vit = st.versions.find(stack_key);
  if (vit == st.versions.end()) {
    std::uint64_t last = 0;
    if (stored_version.found)
      try {
        last = std::stoull(stored_version.value);
      } catch (const std::exception&) {
        return settle(self, attempt_key,
                      make_error(ec::internal,
                                 "the stack's deployment version is damaged"));
      }
    vit = st.versions.emplace(stack_key, last).first;
  }
  // One client event sets off a bounded number of deployments, however
  // many webhooks pass it on.
  auto bit = st.budgets.find(req.root);
  if (bit == st.budgets.end()) {
    deployments_state::budget fresh;
    if (stored_budget.found)
      fresh.used = static_cast<std::uint32_t>(
          std::strtoul(stored_budget.value.c_str(), nullptr, 10));
    bit = st.budgets.emplace(req.root, fresh).first;
  }
  if (bit->second.used >= max_deployments_per_event) {
    if (bit->second.queueing == 0)
      st.budgets.erase(bit);
    return settle(self, attempt_key,
                  make_error(ec::forbidden,
                             "not deployed: one event sets off at most "
                                 + std::to_string(max_deployments_per_event)
                                 + " deployments"));
  }
  auto used = ++bit->second.used;
  ++bit->second.queueing;
  auto version = ++vit->second;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto id = crypto::uuid4();
  json deployment{{"id", id},
                  {"version", version},
                  {"status", "queued"},
                  {"operation", "update"},
                  {"projectName", req.project},
                  {"stackName", req.stack},
                  {"created", now},
                  {"triggeredBy",
                   {{"webhook", req.source}, {"eventId", req.source_event}}}};
  json data{{"deploymentId", id},
            {"version", version},
            {"triggeredBy", deployment["triggeredBy"]}};
  auto ev = make_event("deployment_queued", req.org, req.project, req.stack,
                       data.dump(), req.hops + 1, req.root);
  auto text = deployment.dump();
  // Done with the budget in memory once nothing of the event is being
  // queued: the store holds the count from then on.
  auto release = [=](bool gave_back) {
    auto& budgets = self->state.budgets;
    auto b = budgets.find(req.root);
    if (b == budgets.end())
      return;
    if (gave_back && b->second.used == used)
      --b->second.used;
    if (--b->second.queueing == 0)
      budgets.erase(b);
  };
  // A failure gives the version back, unless a later deployment took the
  // next one already.
  auto failed = [=](const caf::error& err) {
    auto& versions = self->state.versions;
    if (auto v = versions.find(stack_key);
        v != versions.end() && v->second == version)
      --v->second;
    release(true);
    settle(self, attempt_key, err);
  };
  write_batch b;
  b.puts.emplace_back(keys::deployment_version(stack_key),
                      std::to_string(version));
  b.puts.emplace_back(keys::deployment_budget(req.root), std::to_string(used));
  b.puts.emplace_back(
      keys::deployments_prefix(stack_key) + version_text(version), text);
  b.puts.emplace_back(attempt_key, text);
  self->request(st.ingest, caf::infinite, atom::raise::value, ev)
      .then(
          [=](std::string&) mutable {
            self->request(self->state.writer, caf::infinite, atom::write::value,
                          std::move(b))
                .then(
                    [=](std::uint64_t) {
                      release(false);
                      settle(self, attempt_key, text);
                    },
                    [=](caf::error& err) { failed(err); });
          },
          [=](caf::error& err) { failed(err); });
}

deployments_actor::behavior_type
deployments_behavior(self_ptr self, store_ptr db, store_writer_actor writer,
                     store_reader_actor reader, ingest_actor ingest) {
  self->state.db = std::move(db);
  self->state.writer = std::move(writer);
  self->state.reader = std::move(reader);
  self->state.ingest = std::move(ingest);
  return {
      [=](api_call& call) -> caf::result<api_response> {
        if (call.op != operation::list_deployments)
          return make_error(ec::internal, "unexpected request for deployments");
        auto rp = self->make_response_promise<api_response>();
        scan_request req;
        req.prefix = keys::deployments_prefix(
            call.where.org + '/' + call.where.project + '/' + call.where.name);
        req.reverse = true;
        scan_range(
            self, *self->state.db, self->state.reader, std::move(req),
            order::interleaved, [=](caf::expected<scan_result> found) mutable {
              if (!found)
                return rp.deliver(found.error()), void();
              rp.deliver(api_response{success::ok, json_array_of(*found), {}});
            });
        return rp;
      },
      [=](atom::deploy, deployment_request& req) { return deploy(self, req); },
      [=](atom::forget, std::string& hook_id) {
        write_batch b;
        b.delete_prefixes.push_back(keys::deployment_attempts_prefix(hook_id));
        self->request(self->state.writer, caf::infinite, atom::write::value,
                      std::move(b))
            .then([](std::uint64_t) {},
                  [](caf::error&) {
                    // Left under an id no hook has any more; harmless.
                  });
      },
      [=](atom::status) {
        return component_status{"deployments", true, {}};
      },
  };
}

} // namespace

deployments_actor spawn_deployments(caf::actor_system& sys, store_ptr db,
                                    store_writer_actor writer,
                                    store_reader_actor reader,
                                    ingest_actor ingest) {
  return sys.spawn(deployments_behavior, std::move(db), std::move(writer),
                   std::move(reader), std::move(ingest));
}

} // namespace hookd
