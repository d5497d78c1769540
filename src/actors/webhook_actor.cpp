#include "webhook_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/defaults.hpp"

namespace hookd {

namespace {

struct webhook_state {
  static inline const char* name = "hookd.webhook";
  webhook hook;
  store_ptr db;
  bool testing = false;
  /// Bumped by every message; the idle timer compares it.
  std::uint64_t activity = 0;
};

using self_ptr = webhook_actor::stateful_pointer<webhook_state>;

void arm_idle_timer(self_ptr self) {
  self->delayed_send(self, defaults::webhook_idle_timeout, atom::idle::value);
}

bool parse_limit(const std::string& text, std::size_t& out) {
  if (text.empty()) {
    out = defaults::deliveries_page_default;
    return true;
  }
  if (text.size() > 4
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoul(text);
  return out >= 1 && out <= defaults::deliveries_page_max;
}

void list_deliveries(self_ptr self, const api_call& call,
                     const responder_ptr& rp) {
  std::size_t limit = 0;
  if (!parse_limit(call.limit, limit))
    return rp->fail(ec::bad_request,
                    "'limit' must be a whole number from 1 to "
                      + std::to_string(defaults::deliveries_page_max));
  auto prefix = history_prefix(self->state.hook.id);
  std::string start;
  if (!call.continuation.empty()) {
    if (call.continuation.size() != 16
        || call.continuation.find_first_not_of("0123456789abcdef")
             != std::string::npos)
      return rp->fail(ec::bad_request, "invalid 'continuationToken'");
    start = prefix + call.continuation;
  }
  std::string body;
  std::size_t count = 0;
  std::string next;
  self->state.db->scan(prefix, start, true,
                       [&](std::string_view key, std::string_view value) {
                         if (count == limit) {
                           next = std::string{key.substr(prefix.size())};
                           return false;
                         }
                         body += body.empty() ? '[' : ',';
                         body.append(value.data(), value.size());
                         ++count;
                         return true;
                       });
  body += body.empty() ? "[]" : "]";
  header_list headers;
  if (!next.empty())
    headers.emplace_back("Link", "<" + call.base_path + "?limit="
                                   + std::to_string(limit)
                                   + "&continuationToken=" + next
                                   + ">; rel=\"next\"");
  rp->respond(success::ok, std::move(body), std::move(headers));
}

webhook_actor::behavior_type webhook_behavior(self_ptr self, webhook hook,
                                              store_ptr db, bool testing) {
  self->state.hook = std::move(hook);
  self->state.db = std::move(db);
  self->state.testing = testing;
  arm_idle_timer(self);
  return {
    [=](api_call& call, responder_ptr& rp) {
      ++self->state.activity;
      try {
        switch (call.op) {
          case operation::list_deliveries:
            return list_deliveries(self, call, rp);
          case operation::ping_hook:
          case operation::redeliver:
            return rp->fail(ec::unavailable,
                            "ping and redelivery are not available in this "
                            "build");
          default:
            return rp->fail(ec::internal, "unexpected request for a webhook");
        }
      } catch (const store_error&) {
        rp->fail(ec::unavailable, "the store failed; retry later");
      }
    },
    [=](webhook& updated) {
      ++self->state.activity;
      self->state.hook = std::move(updated);
    },
    [=](atom::crash) {
      if (self->state.testing)
        throw std::runtime_error("crash requested by a test");
    },
    [=](atom::idle) {
      // Stop only when no message arrived since the timer was armed: the
      // registry spawns this actor again on demand.
      if (self->state.activity == 0) {
        self->quit();
        return;
      }
      self->state.activity = 0;
      arm_idle_timer(self);
    },
  };
}

} // namespace

std::string history_prefix(const std::string& hook_id) {
  return "h/" + hook_id + "/";
}

webhook_actor spawn_webhook(caf::actor_system& sys, webhook hook, store_ptr db,
                            bool testing) {
  return sys.spawn(webhook_behavior, std::move(hook), std::move(db), testing);
}

} // namespace hookd
