// Registers the format "router": the raw body, sent to the webhook's
// payloadUrl plus "/" and the event's kind (a format's own target), or, for
// an event whose body mentions "nowhere", to a target that is not an
// http(s) URL.
#include <memory>
#include <string>

#include <hookd/plugin.hpp>

namespace {

class router final : public hookd::plugin::format {
public:
  hookd::plugin::rendered
  render(const hookd::plugin::event& ev,
         const hookd::plugin::webhook_info& hook) const override {
    hookd::plugin::rendered out{ev.body, {}, {}};
    if (ev.body.find("nowhere") != std::string::npos)
      out.target = "ftp://example.com/drop";
    else
      out.target = hook.payload_url + "/" + ev.kind;
    return out;
  }
};

} // namespace

HOOKD_PLUGIN("router", "0.0.1") {
  registrar.add_format("router", std::make_shared<router>());
}
