// The stage "hoard" stores 6000 new keys for every event it passes on: the
// second event would take it past the bound on a stage's keys.
#include <memory>
#include <string>

#include <hookd/plugin.hpp>

namespace plugin = hookd::plugin;

namespace {

constexpr int keys_per_event = 6000;

class hoard_stage final : public plugin::stage {
public:
  void on_event(const plugin::event& ev, plugin::stage_context& ctx) override {
    for (int i = 0; i < keys_per_event; ++i)
      ctx.state().put(ev.id + "/" + std::to_string(i), "kept");
    ctx.emit(ev);
  }
};

class hoard_kind final : public plugin::stage_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config&) const override {
    return std::nullopt;
  }
  std::unique_ptr<plugin::stage>
  make(const plugin::config&, const plugin::webhook_info&) const override {
    return std::make_unique<hoard_stage>();
  }
};

} // namespace

HOOKD_PLUGIN("hoard", "0.0.1") {
  registrar.add_stage("hoard", std::make_shared<hoard_kind>());
}
