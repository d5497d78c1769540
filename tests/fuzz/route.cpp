// match_route: a method, a raw path and a raw query, as they come off the
// wire. Input: "METHOD\nPATH\nQUERY".

#include <string>
#include <string_view>

#include "fuzz.hpp"
#include "hookd/webhook.hpp"
#include "http/routes.hpp"

using hookd::operation;
using hookd::scope_kind;
using hookd::http::match_route;
using hookd::http::route;

namespace {

/// The path again with every segment decoded and encoded again: what a
/// client that encodes everything would send for the same names. Empty
/// when a segment is not valid percent-encoding.
std::string reencoded(std::string_view path, bool& ok) {
  std::string out;
  ok = true;
  for (;;) {
    auto [segment, rest] = hookd::fuzz::split(path, '/');
    std::string decoded;
    if (!hookd::http::percent_decode(segment, decoded)) {
      ok = false;
      return {};
    }
    out += hookd::fuzz::percent_encode(decoded);
    if (segment.size() == path.size())
      return out;
    out += '/';
    path = rest;
  }
}

bool allowed(std::string_view method, operation op) {
  switch (op) {
  case operation::list_hooks:
  case operation::read_hook:
  case operation::list_deliveries:
  case operation::list_tokens:
  case operation::list_deployments:
  case operation::whoami:
  case operation::list_scopes:
    return method == "GET";
  case operation::create_hook:
  case operation::ping_hook:
  case operation::redeliver:
  case operation::create_token:
  case operation::ingest_events:
    return method == "POST";
  case operation::update_hook:
    return method == "PATCH";
  case operation::delete_hook:
  case operation::delete_token:
    return method == "DELETE";
  case operation::crash_hook:
  case operation::stall_hook:
    return false; // test builds only
  }
  return false;
}

void check(std::string_view method, const route& r) {
  const auto& call = r.call;
  switch (r.what) {
  case route::target::api:
    HOOKD_FUZZ_CHECK(allowed(method, call.op));
    HOOKD_FUZZ_CHECK(hookd::valid_path_name(call.where.org));
    if (call.where.kind != scope_kind::org) {
      HOOKD_FUZZ_CHECK(hookd::valid_path_name(call.where.project));
      HOOKD_FUZZ_CHECK(hookd::valid_path_name(call.where.name));
    }
    if (!call.hook.empty())
      HOOKD_FUZZ_CHECK(hookd::valid_hook_name(call.hook));
    break;
  case route::target::healthz:
  case route::target::metrics:
    HOOKD_FUZZ_CHECK(method == "GET");
    break;
  case route::target::asset:
    // The document, or one plain file name under ui/: a path can never
    // climb out of the dashboard's files.
    HOOKD_FUZZ_CHECK(method == "GET");
    if (r.asset != "openapi.json") {
      HOOKD_FUZZ_CHECK(r.asset.rfind("ui/", 0) == 0);
      auto file = std::string_view{r.asset}.substr(3);
      HOOKD_FUZZ_CHECK(hookd::valid_path_name(file) && file.front() != '.');
      HOOKD_FUZZ_CHECK(file.find('/') == std::string_view::npos);
    }
    break;
  case route::target::redirect:
    HOOKD_FUZZ_CHECK(method == "GET" && r.location == "/ui/");
    break;
  case route::target::method_not_allowed:
    HOOKD_FUZZ_CHECK(!r.allow.empty());
    HOOKD_FUZZ_CHECK(!r.message.empty());
    break;
  case route::target::not_found:
  case route::target::bad_name:
    HOOKD_FUZZ_CHECK(!r.message.empty());
    break;
  }
}

bool same(const route& a, const route& b) {
  return a.what == b.what && a.allow == b.allow && a.asset == b.asset
         && a.location == b.location
         && (a.what != route::target::api
             || (a.call.op == b.call.op
                 && a.call.where.kind == b.call.where.kind
                 && a.call.where.org == b.call.where.org
                 && a.call.where.project == b.call.where.project
                 && a.call.where.name == b.call.where.name
                 && a.call.hook == b.call.hook && a.call.item == b.call.item
                 && a.call.limit == b.call.limit
                 && a.call.continuation == b.call.continuation));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto [method, rest] = hookd::fuzz::split(hookd::fuzz::text(data, size), '\n');
  auto [path, query] = hookd::fuzz::split(rest, '\n');
  auto r = match_route(method, path, query);
  check(method, r);
  // Routing depends on the decoded names, not on how they were encoded.
  bool ok = false;
  auto again = reencoded(path, ok);
  if (ok)
    HOOKD_FUZZ_CHECK(same(r, match_route(method, again, query)));
  return 0;
}
