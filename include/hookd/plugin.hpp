#pragma once

// The one header a hookd extension compiles against.
//
// A plugin is a shared library that hookd opens at start (`plugins = …` /
// HOOKD_PLUGINS). It names itself and registers behaviours under names that
// webhooks then use:
//
//   - a format renders an event into the body (and extra headers) of a
//     delivery: a webhook's `"format": "<name>"`;
//   - a destination takes a rendered delivery and answers with its outcome,
//     in place of the HTTP POST: `"destination": {"name", "config"}`;
//   - a stage sits in a webhook's pipeline before delivery and may drop,
//     change, delay, merge or multiply events, with state of its own that
//     survives restarts: `"pipeline": [{"name", "config"}, …]`.
//
// This header is self-contained and header-only: it needs no hookd symbol,
// no CAF and no RocksDB, only the C++17 standard library. A plugin must be
// built with the same compiler family and standard library as hookd (the
// types below cross the library boundary by value).
//
// The promise: a plugin built against this header with a given
// HOOKD_PLUGIN_ABI_VERSION loads into every hookd of that version. Anything
// that changes the layout of a type below, or a virtual function, bumps it;
// hookd refuses a plugin of another version at start, naming both.
//
// Threading: hookd calls a behaviour from its actors. A format object is
// shared by every webhook using it and may be called from several threads
// at once: keep it stateless (or synchronize). Each destination and stage
// *instance* belongs to one webhook and is called by one actor at a time.
// An exception escaping a behaviour is caught: the delivery it was working
// on records the error (and is retried by the webhook's retry policy), the
// instance is thrown away and made again from its config, and the rest of
// the node goes on. For a stage, the event it was handling is recorded as a
// failed delivery naming the stage and the error, and what the call wrote
// to the store or emitted is thrown away.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// The version of this header's types and interfaces.
#define HOOKD_PLUGIN_ABI_VERSION 2

namespace hookd::plugin {

inline constexpr int abi_version = HOOKD_PLUGIN_ABI_VERSION;

using header_list = std::vector<std::pair<std::string, std::string>>;

// -- the values a behaviour sees ----------------------------------------------

/// An event as hookd accepted it (SPEC section 5).
struct event {
  std::string id;   ///< a UUID; a stage that emits a new event gives a new id
  std::string name; ///< the event, e.g. "update_succeeded"
  std::string kind; ///< its kind, e.g. "stack_update" (Pulumi-Webhook-Kind)
  std::string org;  ///< organization
  std::string project;      ///< project ("" for none)
  std::string subject;      ///< the stack or environment name ("" for none)
  bool environment = false; ///< `subject` is an environment, not a stack
  std::string body;         ///< the raw payload: Pulumi's shape, compact JSON
  std::int64_t created_at = 0; ///< unix seconds
};

/// The webhook a behaviour works for.
struct webhook_info {
  std::string id;           ///< unique for all time
  std::string name;         ///< unique within its scope
  std::string scope;        ///< "org" or "org/project/stack_or_env"
  std::string display_name; ///< as the user gave it
  std::string payload_url;  ///< as the user gave it
};

/// What a format made of an event.
struct rendered {
  std::string body; ///< the exact bytes sent (and shown in the history)
  /// Extra request headers (Content-Type is application/json unless given
  /// here). hookd's own headers (Pulumi-Webhook-*, signatures) win.
  header_list headers;
  /// Where to send it instead of the webhook's payloadUrl: an absolute
  /// http(s) URL without credentials (another is a failed delivery naming
  /// the format). Empty: the payloadUrl. The HTTP POST checks it against
  /// private addresses as it does a payloadUrl; kept in the delivery's
  /// record, so retries and redeliveries go to the same place.
  std::string target = {};
};

/// One attempt of a rendered delivery, as a destination receives it.
struct delivery {
  std::string id;      ///< the event id (a fresh UUID for pings)
  std::string kind;    ///< the event kind, or "ping"
  std::string url;     ///< the format's target, else the payloadUrl
  std::string body;    ///< what the format rendered
  header_list headers; ///< what an HTTP POST would send, signatures included
  std::int64_t timestamp = 0;               ///< unix seconds of this attempt
  std::chrono::milliseconds timeout{10000}; ///< to answer within
};

/// How an attempt ended. `code` in 200..299 is success; 0 means no answer
/// came (say why in `error`). A 408, 429 or 5xx or no answer is retried by
/// the webhook's policy; other codes are final. `final` makes any failure
/// final (retrying cannot help).
struct outcome {
  long code = 0;
  std::string error;
  std::string response_body;
  /// "Name: value\r\n" lines, as the history shows them.
  std::string response_headers;
  std::int64_t retry_after_s = -1; ///< wait at least this long; -1: no hint
  bool final = false;

  static outcome success(std::string body = {}) {
    outcome o;
    o.code = 200;
    o.response_body = std::move(body);
    return o;
  }
  static outcome failure(std::string why, bool final = false) {
    outcome o;
    o.error = std::move(why);
    o.final = final;
    return o;
  }
};

/// A configuration that does not pass: 400 "<behaviour>: '<field>' …".
struct problem {
  std::string field;   ///< the config field at fault, e.g. "window"
  std::string message; ///< what is wrong with it, e.g. "must be a duration"
};

/// A behaviour's config: the JSON object a webhook gave it, compact ("{}"
/// when none). Parse it with any JSON library.
using config = std::string;

// -- services hookd offers a behaviour ----------------------------------------

/// Persistent state of one stage instance: keys are the instance's own
/// (hookd keeps them under a prefix no one else writes); values are bytes.
/// Reads see the stage's writes at once. The writes of one call (on_start,
/// on_event, on_timer) are committed in one store write together with the
/// deliveries of the events it emitted, before hookd acknowledges the event
/// that caused them; a call that throws writes nothing.
///
/// Bounded: a stage keeps at most 10,000 keys, 16 MiB of keys and values
/// together, and 10,000 timers armed at once (hookd's defaults.hpp:
/// stage_state_keys_max, stage_state_bytes_max, stage_timers_max). A put
/// or set_timer that would pass one (and grow what the stage holds) is not
/// kept, and the whole call is treated as one that threw: nothing it wrote
/// or emitted stands, an event it was handling is recorded as a failed
/// delivery naming the bound, and the stage is made again from its config.
/// Erasing keys, replacing values by smaller ones and setting timers again
/// under their keys always pass.
class store {
public:
  virtual ~store() = default;
  virtual std::optional<std::string> get(std::string_view key) const = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void erase(std::string_view key) = 0;
  /// Every key beginning with `prefix`, in key order, with its value.
  virtual std::vector<std::pair<std::string, std::string>>
  list(std::string_view prefix = {}) const = 0;
};

/// What a stage acts through: the clock, timers, its store and the next
/// step of the pipeline. Tests of a stage give it a fake one.
class stage_context {
public:
  virtual ~stage_context() = default;
  /// Now, as hookd's clock says (unix milliseconds).
  virtual std::int64_t now_ms() const = 0;
  /// Calls on_timer(key) after `delay`; a timer set again under the same
  /// key replaces the earlier one. Timers do not survive a restart: on_start
  /// sets them again from the store.
  virtual void set_timer(std::string key, std::chrono::milliseconds delay) = 0;
  virtual void cancel_timer(const std::string& key) = 0;
  /// Passes an event on to the next stage (or to delivery).
  virtual void emit(event ev) = 0;
  virtual plugin::store& state() = 0;
  virtual const webhook_info& webhook() const = 0;
};

// -- the three kinds of behaviour ---------------------------------------------

/// Renders events for one kind of receiver. Shared by every webhook using
/// it: render may run on several threads at once.
class format {
public:
  virtual ~format() = default;
  /// May refuse a webhook's payloadUrl (field "payloadUrl").
  virtual std::optional<problem> validate(const webhook_info&) const {
    return std::nullopt;
  }
  virtual rendered render(const event& ev, const webhook_info& hook) const = 0;
  /// The body of a ping (SPEC section 3); Pulumi's ping JSON by default.
  virtual rendered ping(std::int64_t unix_seconds,
                        const webhook_info& hook) const;
};

/// One webhook's destination, made from its config.
class destination {
public:
  virtual ~destination() = default;
  /// Delivers one attempt. It runs on a thread of its own and may block
  /// up to `d.timeout`.
  virtual outcome deliver(const delivery& d) = 0;
};

/// One webhook's stage, made from its config.
class stage {
public:
  virtual ~stage() = default;
  /// Once before any event, and again after every restart of hookd or of
  /// the stage: the place to set timers again from the store.
  virtual void on_start(stage_context&) {}
  /// An event reached the stage: emit it (or others), or keep it for later.
  virtual void on_event(const event& ev, stage_context& ctx) = 0;
  /// A timer set under `key` went off.
  virtual void on_timer(const std::string& key, stage_context& ctx) {
    (void)key;
    (void)ctx;
  }
};

/// Makes destinations of one name: validates configs, makes instances.
class destination_kind {
public:
  virtual ~destination_kind() = default;
  virtual std::optional<problem> validate(const config& cfg) const = 0;
  virtual std::unique_ptr<destination> make(const config& cfg,
                                            const webhook_info& hook) const = 0;
};

/// Makes stages of one name: validates configs, makes instances.
class stage_kind {
public:
  virtual ~stage_kind() = default;
  virtual std::optional<problem> validate(const config& cfg) const = 0;
  virtual std::unique_ptr<stage> make(const config& cfg,
                                      const webhook_info& hook) const = 0;
};

/// What a plugin registers its behaviours with. A name is 1 to 64 of
/// [a-z0-9_-] and unique among the behaviours of its kind, built-ins
/// included: a second one with a name stops hookd at start.
class registrar {
public:
  virtual ~registrar() = default;
  virtual void add_format(std::string name, std::shared_ptr<const format>) = 0;
  virtual void add_destination(std::string name,
                               std::shared_ptr<const destination_kind>)
      = 0;
  virtual void add_stage(std::string name, std::shared_ptr<const stage_kind>)
      = 0;
};

inline rendered format::ping(std::int64_t unix_seconds,
                             const webhook_info&) const {
  return {"{\"timestamp\":" + std::to_string(unix_seconds)
              + ",\"message\":\"\xF0\x9F\x8D\xB9 Just a friendly ping from "
                "Pulumi \xF0\x9F\x8D\xB9\"}",
          {}};
}

} // namespace hookd::plugin

/// A plugin's entry points, C linkage so that hookd finds them by name:
///
///   HOOKD_PLUGIN("discord", "1.0.0") {
///     registrar.add_format("discord", std::make_shared<discord_format>());
///   }
///
/// defines hookd_plugin_abi() (the ABI version the plugin was built
/// against), hookd_plugin_name(), hookd_plugin_version() and
/// hookd_plugin_register(registrar&), whose body follows the macro.
#define HOOKD_PLUGIN(NAME, VERSION)                                            \
  extern "C" __attribute__((visibility("default"))) int hookd_plugin_abi() {   \
    return HOOKD_PLUGIN_ABI_VERSION;                                           \
  }                                                                            \
  extern "C" __attribute__((visibility("default"))) const char*                \
  hookd_plugin_name() {                                                        \
    return NAME;                                                               \
  }                                                                            \
  extern "C" __attribute__((visibility("default"))) const char*                \
  hookd_plugin_version() {                                                     \
    return VERSION;                                                            \
  }                                                                            \
  extern "C" __attribute__((visibility("default"))) void                       \
  hookd_plugin_register(::hookd::plugin::registrar& registrar)
