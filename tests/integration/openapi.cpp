#include "openapi.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

namespace hookd_test {

namespace {

using result = ::testing::AssertionResult;

result ok() {
  return ::testing::AssertionSuccess();
}

result fail_at(const std::string& where, const std::string& what) {
  return ::testing::AssertionFailure()
         << (where.empty() ? "(root)" : where) << ": " << what;
}

/// Characters, not bytes: what JSON Schema's lengths count.
std::size_t utf8_length(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return std::string{s};
}

/// The segments of a path, without its query and its outer slashes.
std::vector<std::string> segments_of(std::string_view path) {
  path = path.substr(0, path.find('?'));
  while (!path.empty() && path.front() == '/')
    path.remove_prefix(1);
  if (!path.empty() && path.back() == '/')
    path.remove_suffix(1);
  std::vector<std::string> out;
  while (!path.empty()) {
    auto slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_parameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

const std::set<std::string>& known_keywords() {
  static const std::set<std::string> all{
      "$ref", "type", "nullable", "properties", "required", "items", "enum",
      "allOf", "oneOf", "anyOf", "pattern", "minLength", "maxLength", "minimum",
      "maximum", "minItems", "maxItems", "additionalProperties",
      // annotations
      "description", "format", "default", "example", "title", "deprecated",
      "readOnly", "writeOnly"};
  return all;
}

bool type_matches(const std::string& type, const json& v) {
  if (type == "string")
    return v.is_string();
  if (type == "integer")
    return v.is_number_integer();
  if (type == "number")
    return v.is_number();
  if (type == "boolean")
    return v.is_boolean();
  if (type == "object")
    return v.is_object();
  if (type == "array")
    return v.is_array();
  return false;
}

class validator {
public:
  explicit validator(const json& doc) : doc_(doc) {}

  /// The value a local $ref points at, or nullptr.
  const json* resolve(const std::string& ref) const {
    if (ref.rfind("#/", 0) != 0)
      return nullptr;
    try {
      auto ptr = json::json_pointer{ref.substr(1)};
      if (!doc_.contains(ptr))
        return nullptr;
      return &doc_.at(ptr);
    } catch (const json::exception&) {
      return nullptr;
    }
  }

  result check(const json& v, const json& schema, const std::string& where,
               int depth = 0) const {
    if (depth > 64)
      return fail_at(where, "$ref chain too deep (a cycle?)");
    if (!schema.is_object())
      return fail_at(where, "schema is not an object: " + schema.dump());
    for (const auto& [key, _] : schema.items())
      if (known_keywords().count(key) == 0 && key.rfind("x-", 0) != 0)
        return fail_at(where, "schema keyword '" + key
                                  + "' is not known to the test validator");
    if (auto ref = schema.find("$ref"); ref != schema.end()) {
      const json* target = ref->is_string() ? resolve(*ref) : nullptr;
      if (target == nullptr)
        return fail_at(where, "unresolved $ref " + ref->dump());
      return check(v, *target, where, depth + 1);
    }
    if (v.is_null() && schema.value("nullable", false))
      return ok();
    if (auto type = schema.find("type"); type != schema.end()) {
      if (!type_matches(type->get<std::string>(), v))
        return fail_at(where, "expected " + type->get<std::string>() + ", got "
                                  + v.dump());
    }
    if (auto e = schema.find("enum"); e != schema.end()) {
      if (std::find(e->begin(), e->end(), v) == e->end())
        return fail_at(where, v.dump() + " is not one of " + e->dump());
    }
    if (auto all = schema.find("allOf"); all != schema.end())
      for (std::size_t i = 0; i < all->size(); ++i)
        if (auto r = check(v, (*all)[i], where, depth + 1); !r)
          return r << " (allOf[" << i << "])";
    if (auto any = schema.find("anyOf"); any != schema.end()) {
      std::string why;
      bool matched = false;
      for (const auto& s : *any) {
        auto r = check(v, s, where, depth + 1);
        if (r) {
          matched = true;
          break;
        }
        why += std::string{"\n  "} + r.message();
      }
      if (!matched)
        return fail_at(where, "matches none of anyOf:" + why);
    }
    if (auto one = schema.find("oneOf"); one != schema.end()) {
      std::string why;
      int matched = 0;
      for (const auto& s : *one) {
        auto r = check(v, s, where, depth + 1);
        if (r)
          ++matched;
        else
          why += std::string{"\n  "} + r.message();
      }
      if (matched != 1)
        return fail_at(where, "matches " + std::to_string(matched)
                                  + " of oneOf, not exactly one:" + why);
    }
    if (v.is_string()) {
      auto s = v.get<std::string>();
      auto len = utf8_length(s);
      if (auto m = schema.find("minLength");
          m != schema.end() && len < m->get<std::size_t>())
        return fail_at(where, v.dump() + " is shorter than " + m->dump());
      if (auto m = schema.find("maxLength");
          m != schema.end() && len > m->get<std::size_t>())
        return fail_at(where, v.dump() + " is longer than " + m->dump());
      if (auto p = schema.find("pattern"); p != schema.end()) {
        bool matched = false;
        try {
          matched = std::regex_search(
              s, std::regex{p->get<std::string>(), std::regex::ECMAScript});
        } catch (const std::regex_error&) {
          return fail_at(where, "bad pattern " + p->dump());
        }
        if (!matched)
          return fail_at(where, v.dump() + " does not match " + p->dump());
      }
    }
    if (v.is_number()) {
      auto n = v.get<double>();
      if (auto m = schema.find("minimum");
          m != schema.end() && n < m->get<double>())
        return fail_at(where, v.dump() + " is below " + m->dump());
      if (auto m = schema.find("maximum");
          m != schema.end() && n > m->get<double>())
        return fail_at(where, v.dump() + " is above " + m->dump());
    }
    if (v.is_array()) {
      if (auto m = schema.find("minItems");
          m != schema.end() && v.size() < m->get<std::size_t>())
        return fail_at(where, "fewer items than " + m->dump());
      if (auto m = schema.find("maxItems");
          m != schema.end() && v.size() > m->get<std::size_t>())
        return fail_at(where, "more items than " + m->dump());
      if (auto items = schema.find("items"); items != schema.end())
        for (std::size_t i = 0; i < v.size(); ++i)
          if (auto r
              = check(v[i], *items, where + "/" + std::to_string(i), depth + 1);
              !r)
            return r;
    }
    if (v.is_object()) {
      static const json no_properties = json::object();
      auto props_it = schema.find("properties");
      const json& props = props_it != schema.end() ? *props_it : no_properties;
      if (auto req = schema.find("required"); req != schema.end())
        for (const auto& name : *req)
          if (!v.contains(name.get<std::string>()))
            return fail_at(where, "required property " + name.dump()
                                      + " missing in " + v.dump());
      auto extra = schema.find("additionalProperties");
      for (const auto& [name, value] : v.items()) {
        auto at = where + "/" + name;
        if (auto p = props.find(name); p != props.end()) {
          if (auto r = check(value, *p, at, depth + 1); !r)
            return r;
        } else if (extra != schema.end()) {
          if (extra->is_boolean()) {
            if (!extra->get<bool>())
              return fail_at(at, "property not allowed here");
          } else if (auto r = check(value, *extra, at, depth + 1); !r) {
            return r;
          }
        }
      }
    }
    return ok();
  }

private:
  const json& doc_;
};

/// Resolves a $ref'd object (a response, a header) in `doc`.
const json* follow(const json& doc, const json& x) {
  const json* at = &x;
  for (int i = 0; i < 16 && at->is_object() && at->contains("$ref"); ++i)
    at = validator{doc}.resolve((*at)["$ref"].get<std::string>());
  return at;
}

std::set<std::string> allow_set(const std::string& header) {
  std::set<std::string> out;
  std::stringstream in{header};
  std::string item;
  while (std::getline(in, item, ','))
    out.insert(trim(item));
  return out;
}

constexpr const char* http_methods[]
    = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

} // namespace

openapi_document openapi_document::load(const std::string& file) {
  std::ifstream in{file};
  if (!in)
    return openapi_document{json(json::value_t::discarded)};
  return openapi_document{json::parse(in, nullptr, false)};
}

::testing::AssertionResult
openapi_document::validate(const json& value, const json& schema) const {
  if (doc_.is_discarded())
    return ::testing::AssertionFailure() << "the OpenAPI document did not load";
  return validator{doc_}.check(value, schema, "");
}

::testing::AssertionResult
openapi_document::validate_ref(const json& value,
                               const std::string& ref) const {
  return validate(value, json{{"$ref", ref}});
}

std::string openapi_document::template_of(std::string_view path) const {
  if (!doc_.is_object() || !doc_.contains("paths"))
    return {};
  // A path the document names as it is ("/ui" and "/ui/" are two).
  auto bare = std::string{path.substr(0, path.find('?'))};
  if (doc_["paths"].contains(bare))
    return bare;
  auto seg = segments_of(path);
  std::string best;
  int best_literals = -1;
  for (const auto& [tmpl, item] : doc_["paths"].items()) {
    auto t = segments_of(tmpl);
    if (t.size() != seg.size())
      continue;
    int literals = 0;
    bool match = true;
    for (std::size_t i = 0; i < t.size() && match; ++i) {
      if (is_parameter(t[i]))
        match = !seg[i].empty();
      else if (t[i] == seg[i])
        ++literals;
      else
        match = false;
    }
    if (match && literals > best_literals) {
      best = tmpl;
      best_literals = literals;
    }
  }
  return best;
}

::testing::AssertionResult
openapi_document::conforms(const std::string& method, const std::string& path,
                           const http_response& r) const {
  auto request = method + " " + path;
  auto failure = [&]() {
    return std::move(::testing::AssertionFailure()
                     << request << " answered " << show(r) << ": ");
  };
  if (doc_.is_discarded() || !doc_.contains("paths"))
    return ::testing::AssertionFailure() << "the OpenAPI document did not load";
  if (!r.error.empty())
    return failure() << "no answer";
  auto status = std::to_string(r.status);
  const json* response = nullptr;
  std::string where;
  auto tmpl = template_of(path);
  const auto& unrouted = doc_.value("x-hookd-unrouted", json::object());
  if (tmpl.empty()) {
    if (!unrouted.contains(status))
      return failure() << "no path template matches and x-hookd-unrouted "
                          "lists no "
                       << status;
    response = &unrouted[status];
    where = "x-hookd-unrouted/" + status;
  } else {
    const auto& item = doc_["paths"][tmpl];
    auto op = item.find(lower(method));
    if (op == item.end()) {
      if (status != "405" || !unrouted.contains(status))
        return failure() << tmpl << " takes no " << method
                         << ", so the answer must be x-hookd-unrouted's 405";
      std::set<std::string> methods;
      for (const auto* m : http_methods)
        if (item.contains(m)) {
          auto upper = std::string{m};
          for (auto& c : upper)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          methods.insert(upper);
        }
      auto allow = r.header("Allow");
      if (!allow || allow_set(*allow) != methods)
        return failure() << "Allow should name exactly the methods of " << tmpl;
      response = &unrouted[status];
      where = "x-hookd-unrouted/405";
    } else {
      const auto& responses = (*op)["responses"];
      if (!responses.contains(status))
        return failure() << "status " << status << " is not listed for "
                         << method << " " << tmpl;
      response = &responses[status];
      where = tmpl + " " + method + " " + status;
    }
  }
  response = follow(doc_, *response);
  if (response == nullptr || !response->is_object())
    return failure() << "unresolved response " << where;

  if (auto headers = response->find("headers"); headers != response->end()) {
    for (const auto& [name, h] : headers->items()) {
      const json* header = follow(doc_, h);
      if (header == nullptr)
        return failure() << "unresolved header " << name << " at " << where;
      auto value = r.header(name);
      if (!value) {
        if (header->value("required", false))
          return failure() << "required header " << name << " missing ("
                           << where << ")";
        continue;
      }
      if (auto s = header->find("schema");
          s != header->end() && s->value("type", "") == "integer") {
        if (value->empty()
            || value->find_first_not_of("0123456789") != std::string::npos)
          return failure() << "header " << name << " is not an integer";
      }
    }
  }

  auto content = response->find("content");
  if (content == response->end()) {
    if (!r.body.empty())
      return failure() << "a body where " << where << " lists none";
    return ::testing::AssertionSuccess();
  }
  auto type = r.header("Content-Type");
  if (!type)
    return failure() << "no Content-Type (" << where << ")";
  auto media = lower(trim(type->substr(0, type->find(';'))));
  if (!content->contains(media))
    return failure() << "media type " << media << " is not listed at " << where;
  const auto& schema = (*content)[media].value("schema", json::object());
  if (media == "application/json") {
    auto body = json::parse(r.body, nullptr, false);
    if (body.is_discarded())
      return failure() << "the body is not JSON";
    if (auto v = validate(body, schema); !v)
      return failure() << "against " << where << ": " << v.message();
  } else if (auto v = validate(json(r.body), schema); !v) {
    return failure() << "against " << where << ": " << v.message();
  }
  return ::testing::AssertionSuccess();
}

const openapi_document& hookd_openapi() {
  static const auto doc = openapi_document::load(HOOKD_OPENAPI_FILE);
  return doc;
}

std::string pulumi_openapi_path() {
  if (const char* p = std::getenv("HOOKD_OPENAPI_SPEC"); p != nullptr && *p)
    return p;
  return HOOKD_OPENAPI_SPEC_FILE;
}

const openapi_document& pulumi_openapi() {
  static const auto doc = [] {
    auto spec = openapi_document::load(pulumi_openapi_path()).doc();
    if (!spec.is_object() || !spec.contains("schemas"))
      return openapi_document{json(json::value_t::discarded)};
    // The reference file keeps its schemas at the top; its $refs point
    // at components/schemas, as in Pulumi's full document.
    spec["components"]["schemas"] = spec["schemas"];
    return openapi_document{std::move(spec)};
  }();
  return doc;
}

} // namespace hookd_test
