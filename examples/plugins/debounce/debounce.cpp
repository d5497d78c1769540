// The `debounce` stage: of the events of one stack (or environment) that
// arrive within a window after the first, only the last is delivered, once
// the window closes.
//
// Config: {"window": "2s"}: a whole number and a unit (ms, s, m or h), from
// 100ms to 1h.
//
// State, one key a stack or environment in the stage's store: the window's
// deadline (unix milliseconds) and the last event so far. It is written
// before hookd acknowledges the event, and the deadline is absolute, so a
// window survives a restart: on_start sets each timer again for what is
// left of its window (none left: at once). Events of no stack or
// environment (organization events) pass straight through.
#include <cstdint>
#include <memory>
#include <string>

#include <hookd/plugin.hpp>
#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::json;
namespace plugin = hookd::plugin;

constexpr std::int64_t shortest_ms = 100;
constexpr std::int64_t longest_ms = 60 * 60 * 1000;

/// "2s" as milliseconds, or -1 when it is not a duration.
std::int64_t parse_duration(const std::string& text) {
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + (text[i] - '0');
    if (n > longest_ms)
      return -1;
    ++i;
  }
  if (i == 0)
    return -1;
  auto unit = text.substr(i);
  if (unit == "ms")
    return n;
  if (unit == "s")
    return n * 1000;
  if (unit == "m")
    return n * 60 * 1000;
  if (unit == "h")
    return n * 60 * 60 * 1000;
  return -1;
}

/// The window of a config, or a problem.
std::optional<plugin::problem> read_window(const plugin::config& cfg,
                                           std::int64_t& window_ms) {
  auto j = json::parse(cfg, nullptr, false);
  if (!j.is_object())
    return plugin::problem{"config", "must be an object"};
  for (auto& [key, value] : j.items())
    if (key != "window")
      return plugin::problem{key, "is not a setting of debounce (it takes "
                                  "'window' only)"};
  auto it = j.find("window");
  if (it == j.end())
    return plugin::problem{"window", "is required, e.g. \"2s\""};
  if (!it->is_string())
    return plugin::problem{"window", "must be a duration such as \"2s\""};
  window_ms = parse_duration(it->get<std::string>());
  if (window_ms < shortest_ms || window_ms > longest_ms)
    return plugin::problem{"window", "must be a duration from 100ms to 1h, "
                                     "such as \"500ms\", \"2s\" or \"5m\""};
  return std::nullopt;
}

json to_json(const plugin::event& ev) {
  return {{"id", ev.id},
          {"name", ev.name},
          {"kind", ev.kind},
          {"org", ev.org},
          {"project", ev.project},
          {"subject", ev.subject},
          {"environment", ev.environment},
          {"body", ev.body},
          {"created_at", ev.created_at}};
}

plugin::event from_json(const json& j) {
  plugin::event ev;
  ev.id = j.value("id", "");
  ev.name = j.value("name", "");
  ev.kind = j.value("kind", "");
  ev.org = j.value("org", "");
  ev.project = j.value("project", "");
  ev.subject = j.value("subject", "");
  ev.environment = j.value("environment", false);
  ev.body = j.value("body", "");
  ev.created_at = j.value("created_at", std::int64_t{0});
  return ev;
}

class debounce final : public plugin::stage {
public:
  explicit debounce(std::int64_t window_ms) : window_ms_(window_ms) {}

  void on_start(plugin::stage_context& ctx) override {
    // Windows open before a restart close when they would have.
    auto now = ctx.now_ms();
    for (auto& [key, value] : ctx.state().list()) {
      auto j = json::parse(value, nullptr, false);
      auto deadline = j.is_object() ? j.value("deadline", now) : now;
      ctx.set_timer(
          key, std::chrono::milliseconds{deadline > now ? deadline - now : 0});
    }
  }

  void on_event(const plugin::event& ev, plugin::stage_context& ctx) override {
    if (ev.subject.empty()) {
      ctx.emit(ev);
      return;
    }
    auto key = (ev.environment ? "env/" : "stack/") + ev.org + '/' + ev.project
               + '/' + ev.subject;
    auto& store = ctx.state();
    json pending;
    if (auto stored = store.get(key))
      pending = json::parse(*stored, nullptr, false);
    if (!pending.is_object()) {
      // The first of a window: it closes window_ms from now.
      pending = json{{"deadline", ctx.now_ms() + window_ms_}};
      ctx.set_timer(key, std::chrono::milliseconds{window_ms_});
    }
    // A later one replaces it; the window stays where it was.
    pending["event"] = to_json(ev);
    store.put(key, pending.dump());
  }

  void on_timer(const std::string& key, plugin::stage_context& ctx) override {
    auto& store = ctx.state();
    auto stored = store.get(key);
    if (!stored)
      return;
    auto pending = json::parse(*stored, nullptr, false);
    store.erase(key);
    if (pending.is_object() && pending.contains("event"))
      ctx.emit(from_json(pending["event"]));
  }

private:
  std::int64_t window_ms_;
};

class debounce_kind final : public plugin::stage_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config& cfg) const override {
    std::int64_t window = 0;
    return read_window(cfg, window);
  }
  std::unique_ptr<plugin::stage>
  make(const plugin::config& cfg, const plugin::webhook_info&) const override {
    std::int64_t window = 0;
    if (read_window(cfg, window))
      return nullptr;
    return std::make_unique<debounce>(window);
  }
};

} // namespace

HOOKD_PLUGIN("debounce", "1.0.0") {
  registrar.add_stage("debounce", std::make_shared<debounce_kind>());
}
