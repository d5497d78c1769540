// Behaviours that fail on purpose, for the isolation tests: the format
// "explode" throws while rendering an event whose body says "boom"; the
// destination "explode" throws on every attempt, and refuses a config
// whose "mode" is not "throw"; the stage "explode" throws on an event whose
// body says "boom" and passes the others on.
#include <memory>
#include <stdexcept>
#include <string>

#include <hookd/plugin.hpp>

namespace plugin = hookd::plugin;

namespace {

class explode_format final : public plugin::format {
public:
  plugin::rendered render(const plugin::event& ev,
                          const plugin::webhook_info&) const override {
    if (ev.body.find("boom") != std::string::npos)
      throw std::runtime_error("boom in the format");
    return {ev.body, {{"X-Explode", "no"}}};
  }
};

class explode_destination final : public plugin::destination {
public:
  plugin::outcome deliver(const plugin::delivery&) override {
    throw std::runtime_error("boom in the destination");
  }
};

class explode_kind final : public plugin::destination_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config& cfg) const override {
    if (cfg.find("\"mode\":\"throw\"") == std::string::npos)
      return plugin::problem{"mode", "must be \"throw\""};
    return std::nullopt;
  }
  std::unique_ptr<plugin::destination>
  make(const plugin::config&, const plugin::webhook_info&) const override {
    return std::make_unique<explode_destination>();
  }
};

class explode_stage final : public plugin::stage {
public:
  void on_event(const plugin::event& ev, plugin::stage_context& ctx) override {
    if (ev.body.find("boom") != std::string::npos)
      throw std::runtime_error("boom in the stage");
    ctx.emit(ev);
  }
};

class explode_stage_kind final : public plugin::stage_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config&) const override {
    return std::nullopt;
  }
  std::unique_ptr<plugin::stage>
  make(const plugin::config&, const plugin::webhook_info&) const override {
    return std::make_unique<explode_stage>();
  }
};

} // namespace

HOOKD_PLUGIN("explode", "0.0.1") {
  registrar.add_format("explode", std::make_shared<explode_format>());
  registrar.add_destination("explode", std::make_shared<explode_kind>());
  registrar.add_stage("explode", std::make_shared<explode_stage_kind>());
}
