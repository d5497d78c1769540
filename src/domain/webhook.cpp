#include "hookd/webhook.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "hookd/behaviours.hpp"
#include "hookd/defaults.hpp"
#include "hookd/events.hpp"
#include "hookd/partition.hpp"
#include "json_error.hpp"

namespace hookd {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

constexpr std::size_t secret_max = 4096;
constexpr const char* remove_secret = "__remove-secret";
/// Where the front end puts a secret it sealed, and what it binds it to.
constexpr const char* transit_field = "hookd.sealedSecret";
constexpr const char* transit_aad = "hookd transit";
constexpr const char* formats[]
    = {"raw", "slack", "ms_teams", "pulumi_deployments"};

bool fail(caf::error& err, std::string message) {
  err = make_error(ec::bad_request, std::move(message));
  return false;
}

bool parse_object(std::string_view body, json& out, caf::error& err) {
  auto parsed = parse_outside_json(body);
  if (!parsed) {
    err = std::move(parsed.error());
    return false;
  }
  out = std::move(*parsed);
  if (!out.is_object())
    return fail(err, "the request body must be a JSON object");
  return true;
}

/// Reads an optional string field; null counts as absent.
bool optional_string(const json& j, const char* field, std::string& out,
                     bool& present, caf::error& err) {
  present = false;
  auto it = j.find(field);
  if (it == j.end() || it->is_null())
    return true;
  if (!it->is_string())
    return fail(err, std::string{"'"} + field + "' must be a string");
  out = it->get<std::string>();
  present = true;
  return true;
}

bool optional_bool(const json& j, const char* field, bool& out,
                   caf::error& err) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    out = false;
    return true;
  }
  if (!it->is_boolean())
    return fail(err, std::string{"'"} + field + "' must be a boolean");
  out = it->get<bool>();
  return true;
}

bool string_list(const json& j, const char* field,
                 std::vector<std::string>& out, caf::error& err) {
  out.clear();
  auto it = j.find(field);
  if (it == j.end() || it->is_null())
    return true;
  if (!it->is_array())
    return fail(err,
                std::string{"'"} + field + "' must be an array of strings");
  // Longer than any catalogue with repeats: refused before the quadratic
  // dedup below could cost a worker seconds.
  constexpr std::size_t most = 256;
  if (it->size() > most)
    return fail(err, std::string{"'"} + field + "' holds at most "
                         + std::to_string(most) + " entries");
  for (const auto& item : *it) {
    if (!item.is_string())
      return fail(err,
                  std::string{"'"} + field + "' must be an array of strings");
    auto s = item.get<std::string>();
    if (std::find(out.begin(), out.end(), s) == out.end())
      out.push_back(std::move(s));
  }
  return true;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i])
      return false;
  return true;
}

/// Whether an http(s) URL carries credentials ("user:password@host").
bool has_userinfo(std::string_view url) {
  auto start = url.find("://");
  if (start == std::string_view::npos)
    return false;
  start += 3;
  auto authority = url.substr(start, url.find_first_of("/?#", start) - start);
  return authority.find('@') != std::string_view::npos;
}

/// An absolute http(s) URL with a host and, if given, a valid port.
bool valid_http_url(std::string_view url) {
  if (url.size() > defaults::payload_url_max || has_control(url)
      || url.find(' ') != std::string_view::npos)
    return false;
  std::size_t rest = 0;
  if (starts_with_ci(url, "https://"))
    rest = 8;
  else if (starts_with_ci(url, "http://"))
    rest = 7;
  else
    return false;
  auto authority = url.substr(rest, url.find_first_of("/?#", rest) - rest);
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return false;
    host = authority.substr(0, close + 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return false;
      port = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':');
             colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]")
    return false;
  if (!port.empty()) {
    if (port.size() > 5
        || !std::all_of(
            port.begin(), port.end(),
            [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })
        || std::stoi(std::string{port}) > 65535)
      return false;
  }
  return true;
}

/// `project/stack` for pulumi_deployments: no white space, exactly one '/'.
bool valid_stack_ref(std::string_view ref) {
  auto slash = ref.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == ref.size())
    return false;
  if (ref.find('/', slash + 1) != std::string_view::npos)
    return false;
  return std::none_of(ref.begin(), ref.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c));
  });
}

bool check_scope_fields(const json& j, const scope& where, caf::error& err) {
  auto check
      = [&](const char* field, const std::string& expected, const char* what) {
          std::string value;
          bool present = false;
          if (!optional_string(j, field, value, present, err))
            return false;
          if (present && value != expected)
            return fail(err, std::string{what} + " name '" + value
                                 + "' in the request body does not match '"
                                 + expected + "' in the URL");
          return true;
        };
  if (!check("organizationName", where.org, "organization"))
    return false;
  switch (where.kind) {
  case scope_kind::org:
    return true;
  case scope_kind::stack:
    return check("projectName", where.project, "project")
           && check("stackName", where.name, "stack");
  case scope_kind::env:
    return check("projectName", where.project, "project")
           && check("envName", where.name, "environment");
  }
  return true;
}

/// The fields that a create and a PATCH both replace.
bool read_replaced_fields(const json& j, webhook& hook, caf::error& err) {
  bool present = false;
  hook.display_name.clear();
  if (!optional_string(j, "displayName", hook.display_name, present, err))
    return false;
  hook.payload_url.clear();
  if (!optional_string(j, "payloadUrl", hook.payload_url, present, err))
    return false;
  return optional_bool(j, "active", hook.active, err)
         && string_list(j, "filters", hook.filters, err)
         && string_list(j, "groups", hook.groups, err);
}

const behaviour_registry& registry_of(const webhook_rules& rules) {
  return rules.behaviours ? *rules.behaviours : *default_behaviours();
}

bool read_format(const json& j, webhook& hook, const webhook_rules& rules,
                 caf::error& err) {
  std::string format;
  bool present = false;
  if (!optional_string(j, "format", format, present, err))
    return false;
  if (!present)
    return true;
  const auto& registry = registry_of(rules);
  if (registry.format(format) == nullptr) {
    std::string others;
    for (const auto& name : registry.format_names())
      if (std::find(std::begin(formats), std::end(formats), name)
          == std::end(formats))
        others += (others.empty() ? "" : ", ") + name;
    if (others.empty())
      return fail(err, "'" + format
                           + "' is not a webhook format; expected raw, slack, "
                             "ms_teams or pulumi_deployments");
    return fail(err, "'" + format
                         + "' is not a webhook format; expected raw, slack, "
                           "ms_teams, pulumi_deployments or a plugin's: "
                         + others);
  }
  hook.format = format;
  return true;
}

/// One `{"name": …, "config": {…}}` of a destination or pipeline.
bool read_use(const json& j, const std::string& what, behaviour_use& out,
              caf::error& err) {
  if (!j.is_object())
    return fail(err, "'" + what + "' must be an object with a 'name'");
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()
      || name->get_ref<const std::string&>().empty())
    return fail(err, "'" + what + "' needs a 'name' (a string)");
  out.name = name->get<std::string>();
  out.config = "{}";
  if (auto cfg = j.find("config"); cfg != j.end() && !cfg->is_null()) {
    if (!cfg->is_object())
      return fail(err, "'" + what + ".config' must be an object");
    out.config = cfg->dump();
  }
  return true;
}

/// `destination` and `pipeline`: absent leaves them as they are (Pulumi's
/// clients do not know them), null removes them.
bool read_behaviours(const json& j, webhook& hook, caf::error& err) {
  if (auto it = j.find("destination"); it != j.end()) {
    if (it->is_null()) {
      hook.destination.reset();
    } else {
      behaviour_use use;
      if (!read_use(*it, "destination", use, err))
        return false;
      hook.destination = std::move(use);
    }
  }
  if (auto it = j.find("pipeline"); it != j.end()) {
    hook.pipeline.clear();
    if (it->is_null())
      return true;
    if (!it->is_array())
      return fail(err, "'pipeline' must be an array of stages");
    if (it->size() > defaults::pipeline_max)
      return fail(err, "'pipeline' holds at most "
                           + std::to_string(defaults::pipeline_max)
                           + " stages");
    for (std::size_t i = 0; i < it->size(); ++i) {
      behaviour_use use;
      if (!read_use((*it)[i], "pipeline[" + std::to_string(i) + "]", use, err))
        return false;
      hook.pipeline.push_back(std::move(use));
    }
  }
  return true;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

/// Each behaviour a webhook names exists and takes its config.
bool validate_behaviours(const webhook& hook, const webhook_rules& rules,
                         caf::error& err) {
  const auto& registry = registry_of(rules);
  auto info = plugin_webhook(hook);
  auto checked
      = [&](const char* kind, const std::string& name, const std::string& where,
            std::optional<plugin::problem> problem) {
          if (!problem)
            return true;
          return fail(err, std::string{kind} + " '" + name + "'" + where + ": '"
                               + problem->field + "' " + problem->message);
        };
  // A behaviour's own check may throw: it is plugin code.
  try {
    if (auto* f = registry.format(hook.format);
        f != nullptr && !checked("format", hook.format, "", f->validate(info)))
      return false;
    if (hook.destination) {
      const auto& use = *hook.destination;
      auto* kind = registry.destination(use.name);
      if (kind == nullptr)
        return fail(err, "'destination': no destination named '" + use.name
                             + "' is registered (registered: "
                             + joined(registry.destination_names()) + ")");
      if (hook.format == "pulumi_deployments")
        return fail(err, "'destination' cannot be used with the "
                         "pulumi_deployments format, which delivers inside "
                         "hookd");
      if (!checked("destination", use.name, "", kind->validate(use.config)))
        return false;
    }
    for (std::size_t i = 0; i < hook.pipeline.size(); ++i) {
      const auto& use = hook.pipeline[i];
      auto* kind = registry.stage(use.name);
      auto where = " (pipeline[" + std::to_string(i) + "])";
      if (kind == nullptr)
        return fail(err, "'pipeline[" + std::to_string(i)
                             + "]': no stage named '" + use.name
                             + "' is registered (registered: "
                             + joined(registry.stage_names()) + ")");
      if (!checked("stage", use.name, where, kind->validate(use.config)))
        return false;
    }
    if (!hook.pipeline.empty() && hook.format == "pulumi_deployments")
      // Deployments count the hops of a chain of events, which a stage's
      // events would not carry.
      return fail(err, "'pipeline' cannot be used with the "
                       "pulumi_deployments format, which delivers inside "
                       "hookd");
  } catch (const std::exception& e) {
    return fail(err, std::string{"a behaviour could not check its config: "}
                         + e.what());
  }
  return true;
}

/// Delivered by a plugin's destination rather than an HTTP POST.
bool plugin_destination(const webhook& hook) {
  return hook.destination && hook.destination->name != http_destination;
}

template <class Json = json> Json use_json(const behaviour_use& use) {
  return Json{{"name", use.name},
              {"config", Json::parse(use.config, nullptr, false)}};
}

std::optional<behaviour_use> use_from(const json& j) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
    return std::nullopt;
  behaviour_use use;
  use.name = j["name"].get<std::string>();
  if (auto cfg = j.find("config"); cfg != j.end() && cfg->is_object())
    use.config = cfg->dump();
  return use;
}

/// The shortest key a "whsec_" secret may carry (Standard Webhooks asks for
/// 24 to 64 bytes; generators such as Svix's make 24).
constexpr std::size_t min_standard_key = 16;

bool read_secret(const json& j, webhook& hook, const webhook_rules& rules,
                 caf::error& err) {
  std::string secret;
  bool present = false;
  if (!optional_string(j, "secret", secret, present, err))
    return false;
  // Sealed by the front end: opened here, where it is used.
  if (auto sealed = j.find(transit_field);
      sealed != j.end() && sealed->is_string() && rules.transit) {
    auto bytes = crypto::from_base64(sealed->get<std::string>());
    auto opened = bytes ? rules.transit->open(*bytes, transit_aad)
                        : std::optional<std::string>{};
    if (!opened)
      return fail(err, "'secret' could not be read");
    secret = std::move(*opened);
    present = true;
  }
  if (!present || secret.empty())
    return true;
  if (secret == remove_secret) {
    hook.secret.clear();
    hook.secret_fingerprint.clear();
    return true;
  }
  if (secret.size() > secret_max)
    return fail(err, "'secret' is longer than " + std::to_string(secret_max)
                         + " bytes");
  // A Standard Webhooks secret: the key is the base64 after the prefix, and
  // an empty or unreadable one would sign with a key anyone can guess.
  constexpr std::string_view standard_prefix = "whsec_";
  if (secret.compare(0, standard_prefix.size(), standard_prefix) == 0) {
    auto key = crypto::from_base64(secret.substr(standard_prefix.size()));
    if (!key)
      return fail(err, "'secret' starts with 'whsec_' but what follows is "
                       "not base64");
    if (key->size() < min_standard_key)
      return fail(err, "'secret' starts with 'whsec_' but its key has "
                       "fewer than "
                           + std::to_string(min_standard_key) + " bytes");
  }
  hook.secret = std::move(secret);
  hook.secret_fingerprint
      = rules.transit ? rules.transit->fingerprint(hook.secret) : std::string{};
  return true;
}

/// Checks a complete webhook against every rule that spans fields.
bool validate(const webhook& hook, const webhook_rules& rules,
              caf::error& err) {
  if (hook.display_name.empty())
    return fail(err, "'displayName' is required");
  if (utf8_length(hook.display_name) > defaults::display_name_max)
    return fail(err, "'displayName' is longer than "
                         + std::to_string(defaults::display_name_max)
                         + " characters");
  if (has_control(hook.display_name))
    return fail(err, "'displayName' contains control characters");
  if (hook.format == "pulumi_deployments") {
    if (hook.where.kind == scope_kind::org)
      return fail(err, "'pulumi_deployments' format can only be used on "
                       "stack or environment webhooks.");
    if (!valid_stack_ref(hook.payload_url))
      return fail(err, "'payloadUrl' of a pulumi_deployments webhook must be "
                       "'project/stack'");
  } else if (hook.format == "slack") {
    if (!valid_http_url(hook.payload_url)
        || hook.payload_url.rfind(rules.slack_url_prefix, 0) != 0)
      return fail(err, "'payloadUrl' of a slack webhook must start with '"
                           + rules.slack_url_prefix + "'");
  } else if (plugin_destination(hook)) {
    // The destination decides what the URL means, if anything.
    if (hook.payload_url.size() > defaults::payload_url_max
        || has_control(hook.payload_url))
      return fail(err, "'payloadUrl' must be at most "
                           + std::to_string(defaults::payload_url_max)
                           + " characters without control characters");
  } else if (!valid_http_url(hook.payload_url)) {
    return fail(err, "'payloadUrl' must be an absolute http or https URL with "
                     "a host, at most "
                         + std::to_string(defaults::payload_url_max)
                         + " characters");
  }
  // Credentials in the URL would be stored, listed and logged in clear;
  // the error does not repeat them.
  if (hook.format != "pulumi_deployments" && has_userinfo(hook.payload_url))
    return fail(err, "'payloadUrl' must not carry credentials "
                     "(user:password@host); use 'secret' to sign deliveries");
  for (const auto& f : hook.filters) {
    auto i = event_index(f);
    if (i < 0 || !event_allowed_in(event_at(i), hook.where.kind))
      return fail(err,
                  "'" + f + "' is not an event filter allowed on "
                      + (hook.where.kind == scope_kind::org     ? "organization"
                         : hook.where.kind == scope_kind::stack ? "stack"
                                                                : "environment")
                      + " webhooks");
  }
  for (const auto& g : hook.groups) {
    auto i = group_index(g);
    if (i < 0 || !group_allowed_in(i, hook.where.kind))
      return fail(err,
                  "'" + g + "' is not an event group allowed on "
                      + (hook.where.kind == scope_kind::org     ? "organization"
                         : hook.where.kind == scope_kind::stack ? "stack"
                                                                : "environment")
                      + " webhooks");
  }
  return validate_behaviours(hook, rules, err);
}

ordered_json response_object(const webhook& hook) {
  ordered_json j;
  j["organizationName"] = hook.where.org;
  if (hook.where.kind != scope_kind::org)
    j["projectName"] = hook.where.project;
  if (hook.where.kind == scope_kind::stack)
    j["stackName"] = hook.where.name;
  if (hook.where.kind == scope_kind::env)
    j["envName"] = hook.where.name;
  j["name"] = hook.name;
  j["displayName"] = hook.display_name;
  j["payloadUrl"] = hook.payload_url;
  j["active"] = hook.active;
  j["format"] = hook.format;
  j["filters"] = hook.filters;
  j["groups"] = hook.groups;
  // Only webhooks that use them show them: the others stay as Pulumi's.
  if (hook.destination)
    j["destination"] = use_json<ordered_json>(*hook.destination);
  if (!hook.pipeline.empty()) {
    auto& list = j["pipeline"] = ordered_json::array();
    for (const auto& use : hook.pipeline)
      list.push_back(use_json<ordered_json>(use));
  }
  j["hasSecret"] = !hook.secret.empty();
  j["secretCiphertext"]
      = hook.secret.empty() ? std::string{} : hook.secret_fingerprint;
  return j;
}

} // namespace

std::string delivery_url_problem(std::string_view url) {
  if (!valid_http_url(url))
    return "must be an absolute http or https URL with a host, at most "
           + std::to_string(defaults::payload_url_max) + " characters";
  if (has_userinfo(url))
    return "must not carry credentials (user:password@host)";
  return {};
}

caf::expected<std::string> seal_body_secret(std::string_view body,
                                            const crypto::sealer& sealer) {
  json j;
  caf::error err;
  if (!parse_object(body, j, err))
    return err;
  // Only the front end may put a sealed secret here.
  j.erase(transit_field);
  auto it = j.find("secret");
  if (it == j.end() || !it->is_string())
    return j.dump();
  auto secret = it->get<std::string>();
  if (secret.empty() || secret == remove_secret)
    return j.dump();
  j.erase(it);
  j[transit_field] = crypto::to_base64(sealer.seal(secret, transit_aad));
  return j.dump();
}

std::string new_org_token(std::string_view org) {
  return defaults::token_prefix + org_token_id(org) + '_'
         + crypto::random_hex(defaults::token_secret_bytes);
}

credential credential_of_token(std::string_view token) {
  credential out;
  if (token.empty())
    return out;
  out.digest = crypto::sha256_hex(token);
  // The id part selects the candidate token; the digest decides.
  std::string_view prefix = defaults::token_prefix;
  if (token.rfind(prefix, 0) == 0) {
    auto rest = token.substr(prefix.size());
    auto sep = rest.find('_');
    if (sep != std::string_view::npos)
      out.token_id = std::string{rest.substr(0, sep)};
  }
  return out;
}

std::string scope::key() const {
  switch (kind) {
  case scope_kind::org:
    return "o/" + org;
  case scope_kind::stack:
    return "s/" + org + '/' + project + '/' + name;
  case scope_kind::env:
    return "e/" + org + '/' + project + '/' + name;
  }
  return {};
}

std::string scope::path() const {
  if (kind == scope_kind::org)
    return org;
  return org + '/' + project + '/' + name;
}

std::uint64_t webhook::filter_mask() const {
  std::uint64_t mask = 0;
  for (const auto& f : filters)
    if (auto i = event_index(f); i >= 0)
      mask |= std::uint64_t{1} << i;
  return mask;
}

std::uint8_t webhook::group_mask() const {
  std::uint8_t mask = 0;
  for (const auto& g : groups)
    if (auto i = group_index(g); i >= 0)
      mask = static_cast<std::uint8_t>(mask | (1u << i));
  return mask;
}

bool valid_hook_name(std::string_view name) {
  if (name.empty() || name.size() > defaults::hook_name_max)
    return false;
  if (name == "." || name == "..")
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
           || c == '-';
  });
}

bool valid_path_name(std::string_view name) {
  if (name.empty() || name.size() > defaults::path_name_max)
    return false;
  if (name == "." || name == "..")
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
           || c == '-';
  });
}

caf::expected<webhook> parse_create(std::string_view body, const scope& where,
                                    const webhook_rules& rules) {
  caf::error err;
  json j;
  if (!parse_object(body, j, err) || !check_scope_fields(j, where, err))
    return err;
  webhook hook;
  hook.where = where;
  bool present = false;
  if (!optional_string(j, "name", hook.name, present, err))
    return err;
  if (!hook.name.empty() && !valid_hook_name(hook.name))
    return make_error(ec::bad_request,
                      "'name' must be 1 to 32 letters, digits, '.', '_' or "
                      "'-' (and not '.' or '..')");
  if (!read_replaced_fields(j, hook, err) || !read_format(j, hook, rules, err)
      || !read_behaviours(j, hook, err) || !read_secret(j, hook, rules, err)
      || !validate(hook, rules, err))
    return err;
  return hook;
}

caf::expected<webhook> apply_update(std::string_view body,
                                    const webhook_rules& rules,
                                    const webhook& hook) {
  caf::error err;
  json j;
  if (!parse_object(body, j, err) || !check_scope_fields(j, hook.where, err))
    return err;
  webhook next = hook;
  if (!read_replaced_fields(j, next, err) || !read_format(j, next, rules, err)
      || !read_behaviours(j, next, err) || !read_secret(j, next, rules, err)
      || !validate(next, rules, err))
    return err;
  if (next.secret != hook.secret) {
    // A rotation: the old secret signs too for the overlap. A removal
    // takes every signature away at once.
    next.previous_secret.clear();
    next.previous_until = 0;
    if (!next.secret.empty() && !hook.secret.empty()
        && rules.rotation_overlap.count() > 0) {
      next.previous_secret = hook.secret;
      next.previous_until
          = std::chrono::duration_cast<std::chrono::seconds>(
                std::chrono::system_clock::now().time_since_epoch()
                + rules.rotation_overlap)
                .count();
    }
  }
  return next;
}

const std::string& signing_previous(const webhook& hook, std::int64_t now) {
  static const std::string none;
  return now < hook.previous_until ? hook.previous_secret : none;
}

std::string response_json(const webhook& hook) {
  return response_object(hook).dump();
}

void append_response_json(std::string& array_body, const webhook& hook) {
  array_body += array_body.empty() ? '[' : ',';
  array_body += response_json(hook);
}

std::string storage_json(const webhook& hook, const crypto::sealer& sealer) {
  json j;
  j["id"] = hook.id;
  j["kind"] = static_cast<int>(hook.where.kind);
  j["org"] = hook.where.org;
  j["project"] = hook.where.project;
  j["scope"] = hook.where.name;
  j["name"] = hook.name;
  j["displayName"] = hook.display_name;
  j["payloadUrl"] = hook.payload_url;
  j["active"] = hook.active;
  j["format"] = hook.format;
  j["filters"] = hook.filters;
  j["groups"] = hook.groups;
  if (hook.destination)
    j["destination"] = use_json(*hook.destination);
  for (const auto& use : hook.pipeline)
    j["pipeline"].push_back(use_json(use));
  j["createdAt"] = hook.created_at;
  if (!hook.secret.empty())
    j["sealedSecret"] = crypto::to_base64(sealer.seal(hook.secret, hook.id));
  if (!hook.previous_secret.empty()) {
    j["sealedPreviousSecret"] = crypto::to_base64(
        sealer.seal(hook.previous_secret, hook.id + "/previous"));
    j["previousUntil"] = hook.previous_until;
  }
  return j.dump();
}

namespace {

/// The fields of a stored webhook, everything but its sealed secret;
/// std::nullopt when a number in it is not one hookd writes.
std::optional<webhook> read_stored(const json& j) {
  auto kind = integer_field(j, "kind", -1);
  auto created_at = integer_field(j, "createdAt", std::int64_t{0});
  if (!kind || *kind < 0 || *kind > static_cast<int>(scope_kind::env)
      || !created_at)
    return std::nullopt;
  webhook hook;
  hook.id = j.at("id").get<std::string>();
  hook.where.kind = static_cast<scope_kind>(*kind);
  hook.where.org = j.at("org").get<std::string>();
  hook.where.project = j.at("project").get<std::string>();
  hook.where.name = j.at("scope").get<std::string>();
  hook.name = j.at("name").get<std::string>();
  hook.display_name = j.at("displayName").get<std::string>();
  hook.payload_url = j.at("payloadUrl").get<std::string>();
  hook.active = j.at("active").get<bool>();
  hook.format = j.at("format").get<std::string>();
  hook.filters = j.at("filters").get<std::vector<std::string>>();
  hook.groups = j.at("groups").get<std::vector<std::string>>();
  if (auto it = j.find("destination"); it != j.end())
    hook.destination = use_from(*it);
  if (auto it = j.find("pipeline"); it != j.end() && it->is_array())
    for (const auto& item : *it)
      if (auto use = use_from(item))
        hook.pipeline.push_back(std::move(*use));
  hook.created_at = *created_at;
  return hook;
}

caf::error damaged() {
  return make_error(ec::internal, "a stored webhook cannot be read (was the "
                                  "master key changed?)");
}

} // namespace

caf::expected<webhook> from_storage_json(std::string_view text,
                                         const crypto::sealer& sealer) {
  try {
    auto j = json::parse(text.begin(), text.end());
    auto hook = read_stored(j);
    if (!hook)
      return damaged();
    if (auto it = j.find("sealedSecret"); it != j.end()) {
      auto sealed = crypto::from_base64(it->get<std::string>());
      if (!sealed)
        return damaged();
      auto secret = sealer.open(*sealed, hook->id);
      if (!secret)
        return damaged();
      hook->secret = std::move(*secret);
      hook->secret_fingerprint = sealer.fingerprint(hook->secret);
    }
    if (auto it = j.find("sealedPreviousSecret"); it != j.end()) {
      auto sealed = crypto::from_base64(it->get<std::string>());
      auto until = integer_field(j, "previousUntil", std::int64_t{0});
      auto previous = sealed ? sealer.open(*sealed, hook->id + "/previous")
                             : std::nullopt;
      if (!previous || !until)
        return damaged();
      hook->previous_secret = std::move(*previous);
      hook->previous_until = *until;
    }
    return std::move(*hook);
  } catch (const json::exception&) {
    return damaged();
  }
}

webhook_summary summary_of(const webhook& hook) {
  webhook_summary out;
  out.where = hook.where;
  out.name = hook.name;
  out.id = hook.id;
  out.filters = hook.filter_mask();
  out.groups = hook.group_mask();
  out.active = hook.active;
  out.plugins = uses_plugins(hook);
  return out;
}

bool uses_plugins(const webhook& hook) {
  return !hook.pipeline.empty() || plugin_destination(hook);
}

caf::expected<webhook_summary> summary_from_storage(std::string_view text) {
  try {
    auto hook = read_stored(json::parse(text.begin(), text.end()));
    if (!hook)
      return damaged();
    return summary_of(*hook);
  } catch (const json::exception&) {
    return damaged();
  }
}

} // namespace hookd
