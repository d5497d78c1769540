#include "etcd_json.hpp"

#include <charconv>
#include <exception>
#include <limits>
#include <optional>

#include "hookd/crypto.hpp"
#include "hookd/error.hpp"
#include "json_error.hpp"

namespace hookd::etcd::detail {

namespace {

using nlohmann::json;

/// etcd's messages are short; a longer one is cut so that a broken or
/// hostile endpoint cannot put megabytes into an error (and the log).
constexpr std::size_t max_message = 200;

caf::error malformed(std::string what) {
  return make_error(ec::internal,
                    "etcd answered something unexpected: " + std::move(what));
}

std::string shortened(std::string text) {
  if (text.size() > max_message) {
    text.resize(max_message);
    text += "…";
  }
  return text;
}

const json* member(const json& obj, const char* name) {
  if (!obj.is_object())
    return nullptr;
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

bool bool_field(const json& obj, const char* name) {
  auto* v = member(obj, name);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

/// gRPC status codes (google.golang.org/grpc/codes) as hookd's.
ec code_from_grpc(std::int64_t code) {
  switch (code) {
  case 3:  // InvalidArgument
  case 11: // OutOfRange
    return ec::bad_request;
  case 5: // NotFound
    return ec::not_found;
  case 6:  // AlreadyExists
  case 9:  // FailedPrecondition
  case 10: // Aborted
    return ec::conflict;
  case 7: // PermissionDenied
    return ec::forbidden;
  case 8: // ResourceExhausted
    return ec::too_many_requests;
  case 16: // Unauthenticated
    return ec::unauthenticated;
  default:
    // Unavailable (no leader), DeadlineExceeded (request timed out),
    // Unknown, Internal: the cluster cannot serve now; a retry may cure it.
    return ec::unavailable;
  }
}

std::optional<std::int64_t> integer_of(const json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::int64_t n = 0;
    auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (err != std::errc{} || end != s.data() + s.size() || s.empty())
      return std::nullopt;
    return n;
  }
  if (v.is_number_unsigned()) {
    auto n = v.get<std::uint64_t>();
    if (n
        > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(n);
  }
  if (v.is_number_integer())
    return v.get<std::int64_t>();
  return std::nullopt;
}

} // namespace

caf::expected<json> parse_object(std::string_view body) {
  if (json_depth(body, max_json_depth) > max_json_depth)
    return malformed("JSON nested too deep");
  try {
    auto j = json::parse(body.begin(), body.end());
    if (!j.is_object())
      return malformed("not a JSON object");
    return j;
  } catch (const std::exception& e) {
    return malformed(json_error_detail(e));
  }
}

caf::expected<std::int64_t> int64_field(const json& obj, const char* name) {
  auto* v = member(obj, name);
  if (v == nullptr)
    return std::int64_t{0};
  if (auto n = integer_of(*v))
    return *n;
  return malformed(std::string{"\""} + name + "\" is not an int64");
}

caf::expected<std::string> bytes_field(const json& obj, const char* name) {
  auto* v = member(obj, name);
  if (v == nullptr)
    return std::string{};
  if (!v->is_string())
    return malformed(std::string{"\""} + name + "\" is not a string");
  auto decoded = crypto::from_base64(v->get_ref<const std::string&>());
  if (!decoded)
    return malformed(std::string{"\""} + name + "\" is not base64");
  return std::move(*decoded);
}

caf::expected<kv> parse_kv(const json& obj) {
  if (!obj.is_object())
    return malformed("a key-value is not an object");
  kv out;
  auto key = bytes_field(obj, "key");
  if (!key)
    return std::move(key.error());
  out.key = std::move(*key);
  auto value = bytes_field(obj, "value");
  if (!value)
    return std::move(value.error());
  out.value = std::move(*value);
  std::pair<const char*, std::int64_t*> ints[] = {
      {"create_revision", &out.create_revision},
      {"mod_revision", &out.mod_revision},
      {"version", &out.version},
      {"lease", &out.lease},
  };
  for (auto& [name, dst] : ints) {
    auto n = int64_field(obj, name);
    if (!n)
      return std::move(n.error());
    *dst = *n;
  }
  return out;
}

caf::expected<std::vector<kv>> parse_kvs(const json& range) {
  std::vector<kv> out;
  auto* kvs = member(range, "kvs");
  if (kvs == nullptr)
    return out;
  if (!kvs->is_array())
    return malformed("\"kvs\" is not an array");
  out.reserve(kvs->size());
  for (const auto& item : *kvs) {
    auto one = parse_kv(item);
    if (!one)
      return std::move(one.error());
    out.push_back(std::move(*one));
  }
  if (bool_field(range, "more"))
    return malformed("a range answer was cut short (\"more\")");
  return out;
}

caf::error error_of(const json& answer) {
  // Unary: {"error":"text","message":"text","code":N}. Stream:
  // {"error":{"grpc_code":N,"http_code":M,"message":"text",…}}.
  const json* where = &answer;
  if (auto* inner = member(answer, "error"); inner && inner->is_object())
    where = inner;
  std::int64_t code = 2; // Unknown
  for (const char* name : {"code", "grpc_code"})
    if (auto* v = member(*where, name))
      if (auto n = integer_of(*v))
        code = *n;
  std::string message;
  for (const char* name : {"message", "error"})
    if (auto* v = member(*where, name); v && v->is_string()) {
      message = v->get<std::string>();
      break;
    }
  if (message.empty())
    message = "error " + std::to_string(code);
  return make_error(code_from_grpc(code), "etcd: " + shortened(message));
}

caf::error error_of(long status, std::string_view body) {
  auto answer = parse_object(body);
  if (answer && (member(*answer, "error") || member(*answer, "code")))
    return error_of(*answer);
  // Not the gateway's error shape: a proxy's page, or no gateway at all.
  auto code = status >= 500 ? ec::unavailable : ec::internal;
  return make_error(code, "etcd answered HTTP " + std::to_string(status));
}

caf::expected<watch_message> parse_watch_line(std::string_view line) {
  auto answer = parse_object(line);
  if (!answer)
    return std::move(answer.error());
  watch_message out;
  auto* result = member(*answer, "result");
  if (result == nullptr || !result->is_object()) {
    if (member(*answer, "error") != nullptr) {
      out.kind = watch_message::ended;
      out.error = error_of(*answer);
      return out;
    }
    return malformed("a watch message without \"result\"");
  }
  if (bool_field(*result, "canceled")) {
    out.kind = watch_message::ended;
    auto compacted = int64_field(*result, "compact_revision");
    if (!compacted)
      return std::move(compacted.error());
    std::string reason;
    if (auto* r = member(*result, "cancel_reason"); r && r->is_string())
      reason = shortened(r->get<std::string>());
    if (*compacted > 0)
      out.error = make_error(ec::conflict,
                             "etcd: the watch's start revision was compacted "
                             "(the oldest left is "
                                 + std::to_string(*compacted)
                                 + "): range again and watch from there");
    else
      out.error
          = make_error(ec::unavailable,
                       "etcd cancelled the watch"
                           + (reason.empty() ? std::string{} : ": " + reason));
    return out;
  }
  if (bool_field(*result, "created")) {
    out.kind = watch_message::created;
    return out;
  }
  auto* events = member(*result, "events");
  if (events == nullptr)
    return out; // progress: a header only
  if (!events->is_array())
    return malformed("\"events\" is not an array");
  out.kind = watch_message::events;
  out.changes.reserve(events->size());
  for (const auto& e : *events) {
    event ev;
    if (auto* type = member(e, "type")) {
      if (*type == "DELETE")
        ev.deleted = true;
      else if (*type != "PUT")
        return malformed("an event of an unknown type");
    }
    auto* item = member(e, "kv");
    if (item == nullptr)
      return malformed("an event without \"kv\"");
    auto parsed = parse_kv(*item);
    if (!parsed)
      return std::move(parsed.error());
    ev.item = std::move(*parsed);
    out.changes.push_back(std::move(ev));
  }
  return out;
}

caf::expected<std::int64_t> parse_keepalive_line(std::string_view line,
                                                 std::int64_t lease) {
  auto answer = parse_object(line);
  if (!answer)
    return std::move(answer.error());
  return keepalive_ttl(*answer, lease);
}

caf::expected<std::int64_t> keepalive_ttl(const json& answer,
                                          std::int64_t lease) {
  auto* result = member(answer, "result");
  if (result == nullptr || !result->is_object()) {
    if (member(answer, "error") != nullptr)
      return error_of(answer);
    return malformed("a keepalive answer without \"result\"");
  }
  auto ttl = int64_field(*result, "TTL");
  if (!ttl)
    return std::move(ttl.error());
  // etcd answers a lease it does not know with its ID and no TTL (zero is
  // left out); TimeToLive says -1 for the same.
  if (*ttl <= 0)
    return make_error(ec::not_found, "etcd: lease " + std::to_string(lease)
                                         + " expired or was revoked");
  return *ttl;
}

caf::error line_splitter::feed(std::string_view bytes,
                               std::vector<std::string>& out) {
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    auto piece = bytes.substr(0, nl);
    if (partial_.size() + piece.size() > max_line_) {
      partial_.clear();
      return make_error(ec::internal, "etcd sent a stream message larger than "
                                          + std::to_string(max_line_)
                                          + " bytes");
    }
    partial_.append(piece);
    if (nl == std::string_view::npos)
      break;
    if (!partial_.empty() && partial_.back() == '\r')
      partial_.pop_back();
    if (!partial_.empty())
      out.push_back(std::move(partial_));
    partial_.clear();
    bytes.remove_prefix(nl + 1);
  }
  return caf::none;
}

} // namespace hookd::etcd::detail
