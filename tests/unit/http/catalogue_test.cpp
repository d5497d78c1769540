// The route catalogue, match_route and the OpenAPI document
// (src/assets/openapi.json, as compiled into hookd) say the same thing.
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hookd/assets.hpp"
#include "http/routes.hpp"

using namespace hookd;
using namespace hookd::http;
using json = nlohmann::json;
using target = route::target;

namespace {

/// A valid value for each name the templates use.
const std::map<std::string, std::string>& sample_names() {
  static const std::map<std::string, std::string> all{
      {"orgName", "acme"},
      {"projectName", "web"},
      {"stackName", "prod"},
      {"envName", "dev"},
      {"hookName", "deploys"},
      {"event", "7d3c2b4e-9c1f-4a63-8e2f-2d5b8f0a6c11"},
      {"tokenId", "3f0c9a1b"},
      {"file", "app.js"},
  };
  return all;
}

/// The template with each `{name}` replaced by its sample; "" (and a test
/// failure) for a name without one.
std::string instantiate(std::string_view tmpl) {
  std::string out;
  while (!tmpl.empty()) {
    auto open = tmpl.find('{');
    out += tmpl.substr(0, open);
    if (open == std::string_view::npos)
      break;
    auto close = tmpl.find('}', open);
    auto name = std::string{tmpl.substr(open + 1, close - open - 1)};
    auto it = sample_names().find(name);
    if (it == sample_names().end()) {
      ADD_FAILURE() << "no sample value for {" << name << "}";
      return {};
    }
    out += it->second;
    tmpl.remove_prefix(close + 1);
  }
  return out;
}

/// The names between braces, in order.
std::vector<std::string> names_in(std::string_view tmpl) {
  std::vector<std::string> out;
  for (auto open = tmpl.find('{'); open != std::string_view::npos;
       open = tmpl.find('{', open + 1))
    out.emplace_back(tmpl.substr(open + 1, tmpl.find('}', open) - open - 1));
  return out;
}

std::set<std::string> split_allow(const std::string& allow) {
  std::set<std::string> out;
  std::stringstream in{allow};
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ')
      item.erase(0, 1);
    out.insert(item);
  }
  return out;
}

/// The catalogue's methods, by path template.
std::map<std::string, std::set<std::string>> methods_by_path() {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& r : route_catalogue())
    out[std::string{r.path}].insert(std::string{r.method});
  return out;
}

constexpr const char* http_methods[]
    = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"};

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// The document hookd serves, parsed.
const json& document() {
  static const json doc = [] {
    const auto* a = assets::find("openapi.json");
    if (a == nullptr)
      return json(json::value_t::discarded);
    return json::parse(a->body, nullptr, false);
  }();
  return doc;
}

/// Every "$ref" under `x`, with where it is.
void collect_refs(const json& x, const std::string& where,
                  std::vector<std::pair<std::string, std::string>>& out) {
  if (x.is_object()) {
    for (const auto& [k, v] : x.items()) {
      if (k == "$ref" && v.is_string())
        out.emplace_back(where, v.get<std::string>());
      else
        collect_refs(v, where + "/" + k, out);
    }
  } else if (x.is_array()) {
    for (std::size_t i = 0; i < x.size(); ++i)
      collect_refs(x[i], where + "/" + std::to_string(i), out);
  }
}

/// x[k0][k1]..., or null where a key is missing (const json's operator[]
/// must not be asked for a missing key).
const json& dig(const json& x, std::initializer_list<std::string> keys) {
  static const json null;
  const json* at = &x;
  for (const auto& k : keys) {
    if (!at->is_object() || !at->contains(k))
      return null;
    at = &(*at)[k];
  }
  return *at;
}

/// `x` itself, or what its "$ref" points at.
const json& followed(const json& x) {
  if (x.is_object() && x.contains("$ref"))
    return document().at(
        json::json_pointer{x["$ref"].get<std::string>().substr(1)});
  return x;
}

} // namespace

TEST(route_catalogue, has_no_duplicates) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const auto& r : route_catalogue())
    EXPECT_TRUE(seen.emplace(r.method, r.path).second)
        << r.method << " " << r.path;
  EXPECT_GE(seen.size(), 40u);
}

TEST(route_catalogue, every_route_is_matched_to_its_method) {
  for (const auto& r : route_catalogue()) {
    auto path = instantiate(r.path);
    auto m = match_route(r.method, path, "");
    EXPECT_NE(m.what, target::not_found) << r.method << " " << path;
    EXPECT_NE(m.what, target::method_not_allowed) << r.method << " " << path;
    EXPECT_NE(m.what, target::bad_name) << r.method << " " << path;
  }
}

TEST(route_catalogue, every_other_method_is_405_naming_the_catalogues) {
  for (const auto& [tmpl, methods] : methods_by_path()) {
    auto path = instantiate(tmpl);
    for (const auto* method : http_methods) {
      auto m = match_route(method, path, "");
      if (methods.count(method) > 0)
        continue;
      EXPECT_EQ(m.what, target::method_not_allowed) << method << " " << path;
      EXPECT_EQ(split_allow(m.allow), methods) << method << " " << path;
    }
  }
}

TEST(route_catalogue, fixed_routes_go_where_the_catalogue_says) {
  EXPECT_EQ(match_route("GET", "/healthz", "").what, target::healthz);
  EXPECT_EQ(match_route("GET", "/metrics", "").what, target::metrics);
  auto r = match_route("GET", "/api/openapi.json", "");
  ASSERT_EQ(r.what, target::asset);
  EXPECT_EQ(r.asset, "openapi.json");
  r = match_route("GET", "/ui/", "");
  ASSERT_EQ(r.what, target::asset);
  EXPECT_EQ(r.asset, "ui/index.html");
  r = match_route("POST", "/api/openapi.json", "");
  EXPECT_EQ(r.what, target::method_not_allowed);
  EXPECT_EQ(r.allow, "GET");
  EXPECT_EQ(match_route("GET", "/api/openapi.yaml", "").what,
            target::not_found);
  EXPECT_EQ(match_route("GET", "/api/openapi.json/x", "").what,
            target::not_found);
  // Only the listed assets: a path is never a way into src/assets/.
  EXPECT_EQ(match_route("GET", "/api/ui/index.html", "").what,
            target::not_found);
}

TEST(openapi_document, is_built_in_and_is_the_source_file) {
  const auto* a = assets::find("openapi.json");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->content_type, "application/json");
  std::ifstream in{HOOKD_SOURCE_DIR "/src/assets/openapi.json",
                   std::ios::binary};
  ASSERT_TRUE(in);
  std::string source{std::istreambuf_iterator<char>{in}, {}};
  EXPECT_EQ(a->body, source);
}

TEST(openapi_document, parses_as_openapi_3) {
  const auto& doc = document();
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_TRUE(doc.is_object());
  ASSERT_TRUE(doc.contains("openapi") && doc["openapi"].is_string());
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  EXPECT_TRUE(dig(doc, {"info", "title"}).is_string());
  EXPECT_TRUE(dig(doc, {"info", "version"}).is_string());
  ASSERT_TRUE(dig(doc, {"paths"}).is_object());
  EXPECT_TRUE(dig(doc, {"components", "schemas"}).is_object());
}

TEST(openapi_document, every_ref_resolves) {
  const auto& doc = document();
  ASSERT_TRUE(doc.is_object());
  std::vector<std::pair<std::string, std::string>> refs;
  collect_refs(doc, "", refs);
  EXPECT_GT(refs.size(), 100u);
  for (const auto& [where, ref] : refs) {
    ASSERT_EQ(ref.rfind("#/", 0), 0u) << where << ": " << ref;
    EXPECT_TRUE(doc.contains(json::json_pointer{ref.substr(1)}))
        << where << ": " << ref;
  }
}

TEST(openapi_document, paths_and_methods_are_the_catalogues) {
  const auto& doc = document();
  ASSERT_TRUE(doc.is_object());
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : dig(doc, {"paths"}).items())
    for (const auto* method : http_methods)
      if (item.contains(lower(method)))
        documented.emplace(method, path);
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& r : route_catalogue())
    served.emplace(r.method, r.path);
  for (const auto& [method, path] : served)
    EXPECT_TRUE(documented.count({method, path}) > 0)
        << "served but not documented: " << method << " " << path;
  for (const auto& [method, path] : documented)
    EXPECT_TRUE(served.count({method, path}) > 0)
        << "documented but not served: " << method << " " << path;
}

TEST(openapi_document, path_parameters_are_the_templates_names) {
  const auto& doc = document();
  ASSERT_TRUE(doc.is_object());
  for (const auto& [path, item] : dig(doc, {"paths"}).items()) {
    auto expected = names_in(path);
    std::set<std::string> wanted{expected.begin(), expected.end()};
    for (const auto* method : http_methods) {
      if (!item.contains(lower(method)))
        continue;
      std::set<std::string> declared;
      for (const auto* list : {&item, &item[lower(method)]})
        for (const auto& p : list->value("parameters", json::array())) {
          const auto& param = followed(p);
          if (param.value("in", "") != "path")
            continue;
          EXPECT_TRUE(param.value("required", false))
              << path << ": " << param.dump();
          declared.insert(param.value("name", ""));
        }
      EXPECT_EQ(declared, wanted) << method << " " << path;
    }
  }
}

// The answers every route can give, by what it is: the errors of the
// front end and of access checks are listed wherever they can happen.
TEST(openapi_document, operations_list_the_errors_they_can_give) {
  const auto& doc = document();
  ASSERT_TRUE(doc.is_object());
  for (const auto& [path, item] : dig(doc, {"paths"}).items()) {
    for (const auto* method : http_methods) {
      if (!item.contains(lower(method)))
        continue;
      const auto& op = item[lower(method)];
      auto where = std::string{method} + " " + path;
      const auto& responses = dig(op, {"responses"});
      ASSERT_TRUE(responses.is_object()) << where;
      EXPECT_TRUE(responses.contains("503")) << where;
      bool open = op.contains("security") && op["security"].empty();
      auto m = match_route(method, instantiate(path), "");
      // Open routes are those the front end answers without a token.
      EXPECT_EQ(open, m.what != target::api) << where;
      if (m.what == target::api) {
        for (const auto* code : {"400", "401", "413", "500"})
          EXPECT_TRUE(responses.contains(code)) << where << " lacks " << code;
        // A token is refused for an organization: only routes that name
        // one can answer 403, and they all list it; and the admin-only
        // route refuses org tokens.
        bool names_org = path.find("{orgName}") != std::string::npos;
        bool admin_only = m.call.op == operation::cluster_info
                          || m.call.op == operation::cluster_leave;
        EXPECT_EQ(responses.contains("403"), names_org || admin_only) << where;
      }
      for (const auto& [code, r] : responses.items()) {
        if (code.front() == '2' || code.front() == '3')
          continue;
        const auto& schema
            = dig(followed(r), {"content", "application/json", "schema"});
        EXPECT_EQ(schema.value("$ref", ""), "#/components/schemas/Error")
            << where << " " << code;
      }
    }
  }
}

// A superset of Pulumi's: each of its webhook operations is here under the
// same path, method and operationId, with every status it lists, and its
// schemas are here unchanged, under their names.
TEST(openapi_document, is_a_superset_of_pulumis) {
  std::ifstream in{HOOKD_SOURCE_DIR
                   "/tests/fixtures/pulumi-webhooks-openapi.json"};
  ASSERT_TRUE(in);
  auto pulumi = json::parse(in, nullptr, false);
  ASSERT_TRUE(pulumi.is_object());
  const auto& doc = document();
  ASSERT_TRUE(doc.is_object());
  for (const auto& [name, schema] : pulumi["schemas"].items())
    EXPECT_EQ(dig(doc, {"components", "schemas", name}), schema) << name;
  for (const auto& [path, item] : pulumi["paths"].items()) {
    ASSERT_TRUE(dig(doc, {"paths"}).contains(path)) << path;
    for (const auto& [method, op] : item.items()) {
      const auto& ours = dig(doc, {"paths", path, method});
      ASSERT_TRUE(ours.is_object()) << method << " " << path;
      EXPECT_EQ(ours["operationId"], op["operationId"]);
      for (const auto& [code, _] : op["responses"].items())
        EXPECT_TRUE(dig(ours, {"responses"}).contains(code))
            << method << " " << path << " lacks " << code;
    }
  }
}
