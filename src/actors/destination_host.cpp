// The host of a plugin destination: one per webhook that names one, on a
// thread of its own (a destination may block), owned by the webhook actor.
#include <chrono>
#include <exception>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "hookd/components.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"

namespace hookd {

namespace {

struct destination_state {
  static inline const char* name = "hookd.destination";
  behaviours_ptr behaviours;
  behaviour_use use;
  plugin::webhook_info hook;
  std::unique_ptr<plugin::destination> instance;
};

using self_ptr = destination_actor::stateful_pointer<destination_state>;

std::string header_value(const header_list& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k == name)
      return v;
  return {};
}

/// The attempt as the plugin sees it: the event id and kind are the ones
/// the Pulumi-Webhook-* headers carry.
plugin::delivery delivery_of(const http_request& req) {
  plugin::delivery d;
  d.id = header_value(req.headers, "Pulumi-Webhook-Id");
  d.kind = header_value(req.headers, "Pulumi-Webhook-Kind");
  d.url = req.url;
  d.body = req.body;
  d.headers = req.headers;
  d.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  d.timeout = req.timeout;
  return d;
}

http_result result_of(plugin::outcome o) {
  http_result r;
  r.code = o.code;
  r.error = std::move(o.error);
  r.response_body = std::move(o.response_body);
  r.response_headers = std::move(o.response_headers);
  r.retry_after_s = o.retry_after_s;
  r.refused = o.final;
  if (r.code == 0 && r.error.empty())
    r.error = "the destination gave no answer and no reason";
  return r;
}

/// Makes the destination (once) and runs one attempt; a throw becomes the
/// attempt's error and `failed` is set.
http_result attempt(self_ptr self, const http_request& req, bool& failed) {
  auto& st = self->state;
  auto started = std::chrono::steady_clock::now();
  auto label = "destination '" + st.use.name + "'";
  http_result r;
  try {
    if (!st.instance) {
      auto* kind = st.behaviours->destination(st.use.name);
      if (kind == nullptr) {
        r.error = label
                  + " is not registered (was its plugin removed "
                    "from 'plugins'?)";
        return r;
      }
      st.instance = kind->make(st.use.config, st.hook);
      if (!st.instance) {
        r.error = label + " made no destination from its config";
        return r;
      }
    }
    r = result_of(st.instance->deliver(delivery_of(req)));
  } catch (const std::exception& e) {
    failed = true;
    r = http_result{};
    r.error = label + " failed: " + e.what();
  } catch (...) {
    failed = true;
    r = http_result{};
    r.error = label + " failed with an unknown exception";
  }
  r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  return r;
}

destination_actor::behavior_type destination_behavior(self_ptr self,
                                                      behaviours_ptr behaviours,
                                                      behaviour_use use,
                                                      plugin::webhook_info hook,
                                                      caf::actor_addr owner) {
  auto& st = self->state;
  st.behaviours = std::move(behaviours);
  st.use = std::move(use);
  st.hook = std::move(hook);
  // It lives as long as its webhook actor.
  if (auto strong = caf::actor_cast<caf::actor>(owner))
    self->monitor(strong);
  else
    self->quit();
  self->set_down_handler([=](caf::down_msg&) { self->quit(); });
  return {
      [=](http_request& req) -> caf::result<http_result> {
        bool failed = false;
        auto r = attempt(self, req, failed);
        if (failed) {
          log::warn("a destination failed; it is made again for the next "
                    "attempt",
                    {{"destination", self->state.use.name},
                     {"hook", self->state.hook.name},
                     {"error", r.error}});
          // Whatever state the plugin left is not trusted: the next
          // attempt gets an instance made afresh from the config.
          self->state.instance.reset();
          metrics::plugin_failure("destination");
        }
        return r;
      },
  };
}

} // namespace

destination_actor spawn_destination(caf::actor_system& sys,
                                    behaviours_ptr behaviours,
                                    behaviour_use use,
                                    plugin::webhook_info hook,
                                    caf::actor_addr owner) {
  return sys.spawn<caf::detached>(destination_behavior, std::move(behaviours),
                                  std::move(use), std::move(hook),
                                  std::move(owner));
}

} // namespace hookd
