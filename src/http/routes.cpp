#include "routes.hpp"

#include <cctype>
#include <vector>

#include "hookd/webhook.hpp"

namespace hookd::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool split_path(std::string_view path, std::vector<std::string>& out) {
  out.clear();
  if (path.empty() || path.front() != '/')
    return false;
  path.remove_prefix(1);
  if (!path.empty() && path.back() == '/')
    path.remove_suffix(1);
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string decoded;
    if (!percent_decode(path.substr(0, slash), decoded))
      return false;
    out.push_back(std::move(decoded));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return true;
}

std::string query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      std::string out;
      if (eq != std::string_view::npos
          && percent_decode(pair.substr(eq + 1), out))
        return out;
      return {};
    }
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

struct builder {
  std::string_view method;
  route result;

  route& not_found() {
    result.what = route::target::not_found;
    result.message = "no such route";
    return result;
  }

  route& bad_name(const std::string& what, const std::string& value) {
    result.what = route::target::bad_name;
    result.message = "invalid " + what + " name '" + value
                     + "': use 1 to 100 letters, digits, '.', '_' or '-'";
    return result;
  }

  /// Resolves the method among those the route allows.
  route& methods(std::initializer_list<std::pair<const char*, operation>> ops) {
    std::string allow;
    for (auto& [m, op] : ops) {
      if (method == m) {
        result.what = route::target::api;
        result.call.op = op;
        return result;
      }
      allow += allow.empty() ? "" : ", ";
      allow += m;
    }
    return not_allowed(std::move(allow));
  }

  route& not_allowed(std::string allow) {
    result.what = route::target::method_not_allowed;
    result.message = "method " + std::string{method}
                     + " is not allowed here; allowed: " + allow;
    result.allow = std::move(allow);
    return result;
  }

  /// A route answered by the front end itself, which only takes GET.
  route& get_only(route::target what, std::string_view asset = {}) {
    if (method != "GET")
      return not_allowed("GET");
    result.what = what;
    result.asset = std::string{asset};
    return result;
  }

  /// The part under a scope's collection: hooks, a hook, its deliveries…
  route& hooks(const std::vector<std::string>& seg, std::size_t i) {
    auto n = seg.size() - i;
    if (n == 0)
      return methods(
          {{"GET", operation::list_hooks}, {"POST", operation::create_hook}});
    if (!valid_hook_name(seg[i])) {
      result.what = route::target::bad_name;
      result.message = "invalid webhook name: use 1 to 32 letters, digits, "
                       "'.', '_' or '-'";
      return result;
    }
    result.call.hook = seg[i];
    if (n == 1)
      return methods({{"GET", operation::read_hook},
                      {"PATCH", operation::update_hook},
                      {"DELETE", operation::delete_hook}});
    if (n == 2 && seg[i + 1] == "ping")
      return methods({{"POST", operation::ping_hook}});
#ifdef HOOKD_TEST_HOOKS
    if (n == 2 && seg[i + 1] == "crash")
      return methods({{"POST", operation::crash_hook}});
    if (n == 2 && seg[i + 1] == "stall")
      return methods({{"POST", operation::stall_hook}});
#endif
    if (seg[i + 1] != "deliveries")
      return not_found();
    if (n == 2)
      return methods({{"GET", operation::list_deliveries}});
    if (n == 4 && seg[i + 3] == "redeliver") {
      result.call.item = seg[i + 2];
      return methods({{"POST", operation::redeliver}});
    }
    return not_found();
  }
};

/// Fixed paths served from src/assets/ as they are: the path, then the
/// asset's path under src/assets/.
struct asset_route {
  std::string_view path;
  std::string_view asset;
};

constexpr asset_route asset_routes[] = {
    {"/api/openapi.json", "openapi.json"},
};

/// Whether the (decoded) segments are those of `path`, a fixed path.
bool same_segments(const std::vector<std::string>& seg, std::string_view path) {
  std::size_t i = 0;
  path.remove_prefix(1);
  if (!path.empty() && path.back() == '/')
    path.remove_suffix(1);
  while (!path.empty()) {
    auto slash = path.find('/');
    if (i == seg.size() || seg[i] != path.substr(0, slash))
      return false;
    ++i;
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return i == seg.size();
}

} // namespace

const std::vector<route_template>& route_catalogue() {
  static const std::vector<route_template> all{
      // Organization webhooks.
      {"GET", "/api/orgs/{orgName}/hooks"},
      {"POST", "/api/orgs/{orgName}/hooks"},
      {"GET", "/api/orgs/{orgName}/hooks/{hookName}"},
      {"PATCH", "/api/orgs/{orgName}/hooks/{hookName}"},
      {"DELETE", "/api/orgs/{orgName}/hooks/{hookName}"},
      {"GET", "/api/orgs/{orgName}/hooks/{hookName}/deliveries"},
      {"POST",
       "/api/orgs/{orgName}/hooks/{hookName}/deliveries/{event}/redeliver"},
      {"POST", "/api/orgs/{orgName}/hooks/{hookName}/ping"},
      // Stack webhooks.
      {"GET", "/api/stacks/{orgName}/{projectName}/{stackName}/hooks"},
      {"POST", "/api/stacks/{orgName}/{projectName}/{stackName}/hooks"},
      {"GET",
       "/api/stacks/{orgName}/{projectName}/{stackName}/hooks/{hookName}"},
      {"PATCH",
       "/api/stacks/{orgName}/{projectName}/{stackName}/hooks/{hookName}"},
      {"DELETE",
       "/api/stacks/{orgName}/{projectName}/{stackName}/hooks/{hookName}"},
      {"GET", "/api/stacks/{orgName}/{projectName}/{stackName}/hooks/"
              "{hookName}/deliveries"},
      {"POST", "/api/stacks/{orgName}/{projectName}/{stackName}/hooks/"
               "{hookName}/deliveries/{event}/redeliver"},
      {"POST", "/api/stacks/{orgName}/{projectName}/{stackName}/hooks/"
               "{hookName}/ping"},
      // Environment webhooks.
      {"GET", "/api/esc/environments/{orgName}/{projectName}/{envName}/hooks"},
      {"POST", "/api/esc/environments/{orgName}/{projectName}/{envName}/hooks"},
      {"GET", "/api/esc/environments/{orgName}/{projectName}/{envName}/hooks/"
              "{hookName}"},
      {"PATCH", "/api/esc/environments/{orgName}/{projectName}/{envName}/"
                "hooks/{hookName}"},
      {"DELETE", "/api/esc/environments/{orgName}/{projectName}/{envName}/"
                 "hooks/{hookName}"},
      {"GET", "/api/esc/environments/{orgName}/{projectName}/{envName}/hooks/"
              "{hookName}/deliveries"},
      {"POST", "/api/esc/environments/{orgName}/{projectName}/{envName}/hooks/"
               "{hookName}/deliveries/{event}/redeliver"},
      {"POST", "/api/esc/environments/{orgName}/{projectName}/{envName}/hooks/"
               "{hookName}/ping"},
      // Environment webhooks, legacy form (project "default").
      {"GET", "/api/preview/environments/{orgName}/{envName}/hooks"},
      {"POST", "/api/preview/environments/{orgName}/{envName}/hooks"},
      {"GET", "/api/preview/environments/{orgName}/{envName}/hooks/{hookName}"},
      {"PATCH",
       "/api/preview/environments/{orgName}/{envName}/hooks/{hookName}"},
      {"DELETE",
       "/api/preview/environments/{orgName}/{envName}/hooks/{hookName}"},
      {"GET", "/api/preview/environments/{orgName}/{envName}/hooks/{hookName}/"
              "deliveries"},
      {"POST", "/api/preview/environments/{orgName}/{envName}/hooks/{hookName}/"
               "deliveries/{event}/redeliver"},
      {"POST", "/api/preview/environments/{orgName}/{envName}/hooks/{hookName}/"
               "ping"},
      // hookd's own API.
      {"GET", "/api/stacks/{orgName}/{projectName}/{stackName}/deployments"},
      {"POST", "/api/orgs/{orgName}/events"},
      {"GET", "/api/orgs/{orgName}/tokens"},
      {"POST", "/api/orgs/{orgName}/tokens"},
      {"DELETE", "/api/orgs/{orgName}/tokens/{tokenId}"},
      // Operations, no token needed.
      {"GET", "/healthz"},
      {"GET", "/metrics"},
      {"GET", "/api/openapi.json"},
      // The dashboard, and the API routes that support it.
      {"GET", "/ui"},
      {"GET", "/ui/"},
      {"GET", "/ui/{file}"},
      {"GET", "/api/user"},
      {"GET", "/api/orgs/{orgName}/scopes"},
      // A cluster's members and partitions.
      {"GET", "/api/cluster"},
      {"POST", "/api/cluster/leave"},
  };
  return all;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size())
      return false;
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    out += static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  return true;
}

std::string_view route_name(const route& r) {
  using target = route::target;
  switch (r.what) {
  case target::healthz:
    return "healthz";
  case target::metrics:
    return "metrics";
  case target::not_found:
    return "not_found";
  case target::method_not_allowed:
    return "method_not_allowed";
  case target::bad_name:
    return "bad_name";
  case target::asset:
    // The OpenAPI document, or a file of the dashboard.
    return r.asset == "openapi.json" ? "openapi" : "ui";
  case target::redirect:
    return "ui";
  case target::api:
    break;
  }
  switch (r.call.op) {
  case operation::list_hooks:
    return "list_hooks";
  case operation::create_hook:
    return "create_hook";
  case operation::read_hook:
    return "read_hook";
  case operation::update_hook:
    return "update_hook";
  case operation::delete_hook:
    return "delete_hook";
  case operation::list_deliveries:
    return "list_deliveries";
  case operation::ping_hook:
    return "ping_hook";
  case operation::redeliver:
    return "redeliver";
  case operation::create_token:
    return "create_token";
  case operation::list_tokens:
    return "list_tokens";
  case operation::delete_token:
    return "delete_token";
  case operation::ingest_events:
    return "ingest_events";
  case operation::list_deployments:
    return "list_deployments";
  case operation::crash_hook:
    return "crash_hook";
  case operation::stall_hook:
    return "stall_hook";
  case operation::whoami:
    return "whoami";
  case operation::list_scopes:
    return "list_scopes";
  case operation::cluster_info:
    return "cluster_info";
  case operation::cluster_leave:
    return "cluster_leave";
  }
  return "other";
}

std::string credential_of(std::string_view header) {
  auto space = header.find(' ');
  if (space == std::string_view::npos)
    return {};
  std::string scheme;
  for (char c : header.substr(0, space))
    scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "token" && scheme != "bearer")
    return {};
  auto value = header.substr(space + 1);
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ')
    value.remove_suffix(1);
  return std::string{value};
}

route match_route(std::string_view method, std::string_view path,
                  std::string_view query) {
  builder b{method, {}};
  // The dashboard: static files, no token (its API calls carry one).
  if (path == "/ui" || path.substr(0, 4) == "/ui/") {
    if (method != "GET")
      return b.methods({{"GET", operation::list_hooks}});
    if (path == "/ui") {
      b.result.what = route::target::redirect;
      b.result.location = "/ui/";
      return b.result;
    }
    std::string file;
    if (!percent_decode(path.substr(4), file))
      return b.not_found();
    if (file.empty())
      file = "index.html";
    // One level of plain file names: nothing to climb out of ui/ with.
    if (!valid_path_name(file) || file.front() == '.')
      return b.not_found();
    b.result.what = route::target::asset;
    b.result.asset = "ui/" + file;
    return b.result;
  }
  std::vector<std::string> seg;
  if (!split_path(path, seg))
    return b.not_found();
  b.result.call.limit = query_value(query, "limit");
  b.result.call.continuation = query_value(query, "continuationToken");
  b.result.call.base_path = std::string{path};

  if (seg.size() == 1 && seg[0] == "healthz")
    return b.get_only(route::target::healthz);
  if (seg.size() == 1 && seg[0] == "metrics")
    return b.get_only(route::target::metrics);
  for (const auto& [fixed, asset] : asset_routes)
    if (same_segments(seg, fixed))
      return b.get_only(route::target::asset, asset);
  if (seg.size() == 2 && seg[0] == "api" && seg[1] == "user")
    return b.methods({{"GET", operation::whoami}});
  if (seg.size() == 2 && seg[0] == "api" && seg[1] == "cluster")
    return b.methods({{"GET", operation::cluster_info}});
  if (seg.size() == 3 && seg[0] == "api" && seg[1] == "cluster"
      && seg[2] == "leave")
    return b.methods({{"POST", operation::cluster_leave}});
  if (seg.size() < 3 || seg[0] != "api")
    return b.not_found();

  auto& where = b.result.call.where;
  auto named = [&](const std::string& what, const std::string& value,
                   std::string& into) {
    if (!valid_path_name(value)) {
      b.bad_name(what, value);
      return false;
    }
    into = value;
    return true;
  };

  if (seg[1] == "orgs") {
    where.kind = scope_kind::org;
    if (!named("organization", seg[2], where.org))
      return b.result;
    if (seg.size() == 3)
      return b.not_found();
    if (seg[3] == "hooks")
      return b.hooks(seg, 4);
    if (seg[3] == "scopes" && seg.size() == 4)
      return b.methods({{"GET", operation::list_scopes}});
    if (seg[3] == "events" && seg.size() == 4)
      return b.methods({{"POST", operation::ingest_events}});
    if (seg[3] == "tokens" && seg.size() == 4)
      return b.methods(
          {{"GET", operation::list_tokens}, {"POST", operation::create_token}});
    if (seg[3] == "tokens" && seg.size() == 5) {
      b.result.call.item = seg[4];
      return b.methods({{"DELETE", operation::delete_token}});
    }
    return b.not_found();
  }
  if (seg[1] == "stacks" && seg.size() == 6 && seg[5] == "deployments") {
    where.kind = scope_kind::stack;
    if (!named("organization", seg[2], where.org)
        || !named("project", seg[3], where.project)
        || !named("stack", seg[4], where.name))
      return b.result;
    return b.methods({{"GET", operation::list_deployments}});
  }
  if (seg[1] == "stacks" && seg.size() >= 6 && seg[5] == "hooks") {
    where.kind = scope_kind::stack;
    if (!named("organization", seg[2], where.org)
        || !named("project", seg[3], where.project)
        || !named("stack", seg[4], where.name))
      return b.result;
    return b.hooks(seg, 6);
  }
  if (seg[1] == "esc" && seg.size() >= 7 && seg[2] == "environments"
      && seg[6] == "hooks") {
    where.kind = scope_kind::env;
    if (!named("organization", seg[3], where.org)
        || !named("project", seg[4], where.project)
        || !named("environment", seg[5], where.name))
      return b.result;
    return b.hooks(seg, 7);
  }
  if (seg[1] == "preview" && seg.size() >= 6 && seg[2] == "environments"
      && seg[5] == "hooks") {
    // The legacy path predates projects: its environments live in the
    // project "default".
    where.kind = scope_kind::env;
    where.project = "default";
    if (!named("organization", seg[3], where.org)
        || !named("environment", seg[4], where.name))
      return b.result;
    return b.hooks(seg, 6);
  }
  return b.not_found();
}

} // namespace hookd::http
