#include "hookd/behaviours.hpp"

#include <algorithm>
#include <cstring>
#include <sys/stat.h>

#include <cstdlib>
#include <dlfcn.h>

#include "hookd/error.hpp"
#include "hookd/formats.hpp"
#include "hookd/webhook.hpp"

namespace hookd {

namespace {

bool valid_behaviour_name(std::string_view name) {
  constexpr std::size_t most = 64;
  return !name.empty() && name.size() <= most
         && std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                     || c == '_' || c == '-';
            });
}

/// hookd's event again, from what a format sees (the built-in formats
/// render from the catalogue's facts).
event core_event(const plugin::event& in) {
  event ev;
  ev.id = in.id;
  ev.index = event_index(in.name);
  ev.org = in.org;
  ev.project = in.project;
  ev.subject = in.subject;
  ev.body = in.body;
  ev.created_at = in.created_at;
  return ev;
}

/// raw, slack and ms_teams: SPEC section 6.
class builtin_format final : public plugin::format {
public:
  explicit builtin_format(std::string name) : name_(std::move(name)) {}
  plugin::rendered render(const plugin::event& ev,
                          const plugin::webhook_info&) const override {
    if (name_ == "raw" || name_ == "pulumi_deployments")
      return {ev.body, {}};
    auto core = core_event(ev);
    if (core.index < 0)
      return {ev.body, {}};
    return {render_payload(name_, core), {}};
  }
  plugin::rendered ping(std::int64_t unix_seconds,
                        const plugin::webhook_info&) const override {
    return {ping_payload(name_, unix_seconds), {}};
  }

private:
  std::string name_;
};

/// The HTTP POST. It takes no config; the delivery client serves it, so it
/// makes no instances of its own.
class http_destination_kind final : public plugin::destination_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config& cfg) const override {
    if (cfg != "{}")
      return plugin::problem{"config", "takes no settings"};
    return std::nullopt;
  }
  std::unique_ptr<plugin::destination>
  make(const plugin::config&, const plugin::webhook_info&) const override {
    return nullptr;
  }
};

template <class Map> std::vector<std::string> names_of(const Map& m) {
  std::vector<std::string> out;
  for (const auto& [name, unused] : m)
    out.push_back(name);
  return out;
}

template <class Map>
const typename Map::mapped_type::element_type* find_in(const Map& m,
                                                       std::string_view name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second.get();
}

} // namespace

bool behaviour_registry::admit(const char* kind, const std::string& name,
                               bool taken) {
  if (error_)
    return false;
  if (!valid_behaviour_name(name)) {
    error_ = make_error(ec::bad_request,
                        origin_ + " registers a " + kind + " named '" + name
                            + "': a name is 1 to 64 of [a-z0-9_-]");
    return false;
  }
  if (taken) {
    auto key = std::string{kind} + '/' + name;
    error_ = make_error(
        ec::conflict, origin_ + " registers a " + kind + " named '" + name
                          + "', which " + origins_[key] + " registered first");
    return false;
  }
  origins_[std::string{kind} + '/' + name] = origin_;
  return true;
}

void behaviour_registry::add_format(std::string name,
                                    std::shared_ptr<const plugin::format> f) {
  if (f && admit("format", name, formats_.count(name) > 0))
    formats_.emplace(std::move(name), std::move(f));
}

void behaviour_registry::add_destination(
    std::string name, std::shared_ptr<const plugin::destination_kind> d) {
  if (d && admit("destination", name, destinations_.count(name) > 0))
    destinations_.emplace(std::move(name), std::move(d));
}

void behaviour_registry::add_stage(
    std::string name, std::shared_ptr<const plugin::stage_kind> s) {
  if (s && admit("stage", name, stages_.count(name) > 0))
    stages_.emplace(std::move(name), std::move(s));
}

const plugin::format* behaviour_registry::format(std::string_view name) const {
  return find_in(formats_, name);
}

const plugin::destination_kind*
behaviour_registry::destination(std::string_view name) const {
  return find_in(destinations_, name);
}

const plugin::stage_kind*
behaviour_registry::stage(std::string_view name) const {
  return find_in(stages_, name);
}

std::vector<std::string> behaviour_registry::format_names() const {
  return names_of(formats_);
}

std::vector<std::string> behaviour_registry::destination_names() const {
  return names_of(destinations_);
}

std::vector<std::string> behaviour_registry::stage_names() const {
  return names_of(stages_);
}

caf::error behaviour_registry::take_error() {
  return std::move(error_);
}

std::shared_ptr<behaviour_registry> builtin_behaviours() {
  auto out = std::make_shared<behaviour_registry>();
  for (auto name : {"raw", "slack", "ms_teams", "pulumi_deployments"})
    out->add_format(name, std::make_shared<builtin_format>(name));
  out->add_destination(http_destination,
                       std::make_shared<http_destination_kind>());
  return out;
}

const behaviours_ptr& default_behaviours() {
  static const behaviours_ptr builtins = builtin_behaviours();
  return builtins;
}

caf::error load_plugins(behaviour_registry& into,
                        const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    auto where = "plugin '" + path + "'";
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0)
      return make_error(ec::not_found, where + ": no such file");
    // The file checked is the file loaded: dlopen searches the library
    // path for a name without a slash, so it gets the absolute path.
    char* resolved = ::realpath(path.c_str(), nullptr);
    if (resolved == nullptr)
      return make_error(ec::not_found, where + ": no such file");
    std::string absolute{resolved};
    std::free(resolved);
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0)
      return make_error(ec::bad_request,
                        where
                            + " is writable by other users: hookd loads "
                              "only code its own user controls");
    // Never closed: the behaviours it registered live as long as hookd.
    void* lib = ::dlopen(absolute.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = ::dlerror();
      return make_error(ec::bad_request, where + " cannot be loaded: "
                                             + (why ? why : "unknown error"));
    }
    using abi_fn = int (*)();
    using name_fn = const char* (*)();
    using register_fn = void (*)(plugin::registrar&);
    auto abi = reinterpret_cast<abi_fn>(::dlsym(lib, "hookd_plugin_abi"));
    auto reg
        = reinterpret_cast<register_fn>(::dlsym(lib, "hookd_plugin_register"));
    if (abi == nullptr || reg == nullptr)
      return make_error(ec::bad_request,
                        where
                            + " is not a hookd plugin: it has no "
                              "hookd_plugin_abi/hookd_plugin_register entry "
                              "point (define them with HOOKD_PLUGIN from "
                              "hookd/plugin.hpp)");
    auto version = abi();
    if (version != HOOKD_PLUGIN_ABI_VERSION)
      return make_error(ec::bad_request,
                        where + " was built against plugin ABI version "
                            + std::to_string(version)
                            + ", but this hookd has plugin ABI version "
                            + std::to_string(HOOKD_PLUGIN_ABI_VERSION)
                            + "; rebuild it against this hookd's "
                              "hookd/plugin.hpp");
    auto name = reinterpret_cast<name_fn>(::dlsym(lib, "hookd_plugin_name"));
    auto label = name != nullptr && name() != nullptr
                     ? "plugin '" + std::string{name()} + "' (" + path + ")"
                     : where;
    into.set_origin(label);
    try {
      reg(into);
    } catch (const std::exception& e) {
      return make_error(ec::internal,
                        label + " failed to register: " + e.what());
    } catch (...) {
      return make_error(ec::internal, label + " failed to register");
    }
    if (auto err = into.take_error())
      return err;
  }
  into.set_origin("hookd");
  return {};
}

plugin::event plugin_event(const event& ev) {
  plugin::event out;
  out.id = ev.id;
  if (ev.index >= 0) {
    const auto& info = ev.info();
    out.name = info.name;
    out.kind = info.kind;
    out.environment = std::strcmp(info.group, "environments") == 0;
  }
  out.org = ev.org;
  out.project = ev.project;
  out.subject = ev.subject;
  out.body = ev.body;
  out.created_at = ev.created_at;
  return out;
}

plugin::webhook_info plugin_webhook(const webhook& hook) {
  plugin::webhook_info out;
  out.id = hook.id;
  out.name = hook.name;
  out.scope = hook.where.path();
  out.display_name = hook.display_name;
  out.payload_url = hook.payload_url;
  return out;
}

} // namespace hookd
