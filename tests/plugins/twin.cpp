// Registers the format "twin": built twice (twin_a, twin_b), so that
// loading both names one behaviour twice.
#include <memory>

#include <hookd/plugin.hpp>

namespace {

class twin final : public hookd::plugin::format {
public:
  hookd::plugin::rendered
  render(const hookd::plugin::event& ev,
         const hookd::plugin::webhook_info&) const override {
    return {ev.body, {}};
  }
};

} // namespace

HOOKD_PLUGIN(HOOKD_TWIN_NAME, "0.0.1") {
  registrar.add_format("twin", std::make_shared<twin>());
}
