#include "hookd/event.hpp"

#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

#include "hookd/crypto.hpp"
#include "hookd/defaults.hpp"
#include "hookd/webhook.hpp"
#include "json_error.hpp"

namespace hookd {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view outcome(std::string_view name) {
  return ends_with(name, "_failed") ? "failed" : "succeeded";
}

/// The fields each kind derives from its event name, in Pulumi's order.
ordered_json derived_fields(const event_info& ev) {
  std::string_view name = ev.name;
  std::string_view kind = ev.kind;
  ordered_json j = ordered_json::object();
  auto suffix = name.substr(name.rfind('_') + 1);
  if (kind == "stack" || kind == "environment") {
    j["action"] = std::string{suffix};
  } else if (kind == "stack_update" || kind == "stack_preview") {
    j["kind"] = kind == "stack_preview"
                    ? "update"
                    : std::string{name.substr(0, name.find('_'))};
    j["result"] = std::string{outcome(name)};
    j["isPreview"] = kind == "stack_preview";
  } else if (kind == "deployment") {
    j["status"] = suffix == "started" ? "running" : std::string{suffix};
    j["operation"] = "update";
  } else if (kind == "drift_detection" || kind == "drift_remediation") {
    j["status"]
        = name == "drift_detected" ? "detected" : std::string{outcome(name)};
  } else if (kind == "policy_violation") {
    j["level"] = std::string{suffix};
  } else if (kind == "environment_rotation") {
    j["status"] = std::string{outcome(name)};
  } else {
    j["action"] = std::string{suffix};
  }
  return j;
}

bool fail(caf::error& err, std::string message) {
  err = make_error(ec::bad_request, std::move(message));
  return false;
}

bool optional_name(const ordered_json& j, const char* field, std::string& out,
                   caf::error& err) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null())
    return true;
  if (!it->is_string())
    return fail(err, std::string{"'"} + field + "' must be a string");
  out = it->get<std::string>();
  if (!valid_path_name(out))
    return fail(err, std::string{"'"} + field + "' is not a valid name");
  return true;
}

std::string render_body(const event& ev, const ordered_json* user,
                        const ordered_json& data) {
  const auto& info = ev.info();
  ordered_json body = ordered_json::object();
  if (user != nullptr)
    body["user"] = *user;
  body["organization"]
      = {{"name", ev.org}, {"githubLogin", ev.org}, {"avatarUrl", ""}};
  bool env_kind = std::strncmp(info.group, "environments", 12) == 0;
  if (!ev.project.empty())
    body["projectName"] = ev.project;
  if (!ev.subject.empty())
    body[env_kind ? "environmentName" : "stackName"] = ev.subject;
  auto derived = derived_fields(info);
  for (auto& [key, value] : derived.items())
    body[key] = data.contains(key) ? data.at(key) : value;
  for (auto& [key, value] : data.items())
    if (!body.contains(key))
      body[key] = value;
  return body.dump();
}

bool parse_one(const ordered_json& j, const std::string& org, event& ev,
               caf::error& err) {
  if (!j.is_object())
    return fail(err, "an event must be a JSON object");
  auto name = j.find("event");
  if (name == j.end() || !name->is_string())
    return fail(err, "'event' is required and must be an event name");
  ev.index = event_index(name->get<std::string>());
  if (ev.index < 0)
    return fail(err, "'" + name->get<std::string>() + "' is not an event name");
  ev.org = org;
  if (auto id = j.find("id"); id != j.end() && !id->is_null()) {
    if (!id->is_string() || !valid_uuid(id->get<std::string>()))
      return fail(err, "'id' must be a UUID");
    // UUIDs compare without regard to case: one id, one spelling, so that
    // the same id in capitals is the same event (and another
    // organization's).
    ev.id = id->get<std::string>();
    for (auto& c : ev.id)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ev.maybe_seen = true;
  }
  bool env_kind = std::strcmp(ev.info().group, "environments") == 0;
  const char* subject_field = env_kind ? "environmentName" : "stackName";
  if (!optional_name(j, "projectName", ev.project, err)
      || !optional_name(j, subject_field, ev.subject, err))
    return false;
  if (ev.project.empty() || ev.subject.empty())
    return fail(err, std::string{"'"} + ev.info().name
                         + "' events need 'projectName' and '" + subject_field
                         + "'");
  const ordered_json* user = nullptr;
  if (auto u = j.find("user"); u != j.end() && !u->is_null()) {
    if (!u->is_object())
      return fail(err, "'user' must be an object");
    user = &*u;
  }
  static const ordered_json empty = ordered_json::object();
  const ordered_json* data = &empty;
  if (auto d = j.find("data"); d != j.end() && !d->is_null()) {
    if (!d->is_object())
      return fail(err, "'data' must be an object");
    data = &*d;
  }
  ev.body = render_body(ev, user, *data);
  return true;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

std::vector<scope> event::target_scopes() const {
  std::vector<scope> out;
  out.push_back({scope_kind::org, org, {}, {}});
  if (info().scoped != scope_kind::org)
    out.push_back({info().scoped, org, project, subject});
  return out;
}

bool subscribed(std::uint64_t filters, std::uint8_t groups, int event_index) {
  if (filters == 0 && groups == 0)
    return true;
  if ((filters >> event_index) & 1u)
    return true;
  auto group = group_index(event_at(event_index).group);
  return group >= 0 && ((groups >> group) & 1u);
}

bool valid_uuid(std::string_view id) {
  if (id.size() != 36)
    return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

caf::expected<parsed_events> parse_events(std::string_view body,
                                          const std::string& org,
                                          std::size_t max_batch) {
  caf::error err;
  auto parsed_body = parse_outside_json<ordered_json>(body);
  if (!parsed_body)
    return std::move(parsed_body.error());
  auto& j = *parsed_body;
  parsed_events parsed;
  auto& out = parsed.events;
  auto& batch = parsed.batch;
  batch = j.is_array();
  if (!batch && !j.is_object())
    return make_error(ec::bad_request,
                      "the body must be an event object or an array of them");
  if (batch && j.empty())
    return make_error(ec::bad_request, "the batch is empty");
  if (batch && j.size() > max_batch)
    return make_error(ec::bad_request, "a batch holds at most "
                                           + std::to_string(max_batch)
                                           + " events");
  auto now = now_seconds();
  auto add = [&](const ordered_json& item) {
    event ev;
    if (!parse_one(item, org, ev, err))
      return false;
    if (ev.body.size() > defaults::max_event_bytes) {
      err = make_error(ec::payload_too_large,
                       "the event is " + std::to_string(ev.body.size())
                           + " bytes as delivered; an event holds at most "
                           + std::to_string(defaults::max_event_bytes));
      return false;
    }
    if (ev.id.empty())
      ev.id = crypto::uuid7();
    ev.created_at = now;
    out.push_back(std::move(ev));
    return true;
  };
  if (!batch) {
    if (!add(j))
      return err;
    return parsed;
  }
  for (std::size_t i = 0; i < j.size(); ++i)
    if (!add(j[i]))
      return make_error(code_of(err),
                        "event " + std::to_string(i) + ": " + message_of(err));
  return parsed;
}

event make_event(const std::string& name, const std::string& org,
                 const std::string& project, const std::string& subject,
                 std::string_view data_json, std::uint32_t hops,
                 const std::string& root) {
  event ev;
  ev.id = crypto::uuid7();
  ev.index = event_index(name);
  ev.org = org;
  ev.project = project;
  ev.subject = subject;
  ev.created_at = now_seconds();
  ev.hops = hops;
  ev.root = root;
  auto data = ordered_json::parse(data_json.begin(), data_json.end());
  ev.body = render_body(ev, nullptr, data);
  return ev;
}

std::string event_storage_json(const event& ev) {
  json j{{"id", ev.id},
         {"event", ev.info().name},
         {"org", ev.org},
         {"project", ev.project},
         {"subject", ev.subject},
         {"body", ev.body},
         {"created", ev.created_at},
         {"hops", ev.hops}};
  if (!ev.root.empty())
    j["root"] = ev.root;
  return j.dump();
}

bool event_from_storage(std::string_view text, event& out) {
  try {
    auto j = json::parse(text.begin(), text.end());
    event ev;
    ev.id = j.at("id").get<std::string>();
    ev.index = event_index(j.at("event").get<std::string>());
    if (ev.index < 0)
      return false;
    ev.org = j.at("org").get<std::string>();
    ev.project = j.at("project").get<std::string>();
    ev.subject = j.at("subject").get<std::string>();
    ev.body = j.at("body").get<std::string>();
    auto created = integer_field(j, "created", std::int64_t{0});
    auto hops = integer_field(j, "hops", std::uint32_t{0});
    if (!created || !hops)
      return false;
    ev.created_at = *created;
    ev.hops = *hops;
    ev.root = j.value("root", std::string{});
    out = std::move(ev);
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

} // namespace hookd
