#pragma once

// What etcd's HTTP/JSON gateway (3.4) sends, read into hookd's types: no
// I/O here, so that the tests can feed it any bytes. The gateway is grpc-
// gateway over etcd's protobuf messages, which shapes its JSON:
//   - int64 fields are JSON strings ("revision":"7"); numbers are accepted
//     too;
//   - fields at their zero value are left out: "succeeded" of a failed txn,
//     "kvs" of an empty range, "value" of an empty value, "lease" 0, "TTL"
//     of a lease that is gone, "type" of a PUT event;
//   - keys and values are standard base64 with padding;
//   - a unary error is {"error":"…","message":"…","code":<gRPC code>} with
//     an HTTP status; an error inside a stream is a line {"error":{…}} with
//     "grpc_code" and "message" (or the unary shape);
//   - a stream (/v3/watch, /v3/lease/keepalive) is one JSON object a line,
//     each {"result":{…}}.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "hookd/etcd.hpp"

namespace hookd::etcd::detail {

/// A JSON object from an answer body; ec::internal when it is not one.
caf::expected<nlohmann::json> parse_object(std::string_view body);

/// An int64 field, given as a string or a number; 0 when left out.
caf::expected<std::int64_t> int64_field(const nlohmann::json& obj,
                                        const char* name);

/// A base64 bytes field, decoded; empty when left out.
caf::expected<std::string> bytes_field(const nlohmann::json& obj,
                                       const char* name);

/// One mvccpb.KeyValue.
caf::expected<kv> parse_kv(const nlohmann::json& obj);

/// The "kvs" of a RangeResponse (none when left out).
caf::expected<std::vector<kv>> parse_kvs(const nlohmann::json& range);

/// The error an answer that is not HTTP 200 stands for, or an error line of
/// a stream (`status` 200): etcd's gRPC code mapped to hookd's, etcd's
/// message kept (shortened).
caf::error error_of(long status, std::string_view body);
caf::error error_of(const nlohmann::json& answer);

/// One line of a /v3/watch stream, read.
struct watch_message {
  enum kind_t {
    created,  ///< the watch is set up
    events,   ///< changes, in `changes`
    progress, ///< a header only: nothing changed
    ended,    ///< etcd cancelled the watch or failed it: `error` says why
  };
  kind_t kind = progress;
  std::vector<event> changes;
  caf::error error;
};

/// ec::internal when the line is not a message the gateway sends.
caf::expected<watch_message> parse_watch_line(std::string_view line);

/// The TTL in the first line of a /v3/lease/keepalive stream; ec::not_found
/// when the lease is gone (TTL left out, 0 or negative).
caf::expected<std::int64_t> parse_keepalive_line(std::string_view line,
                                                 std::int64_t lease);
caf::expected<std::int64_t> keepalive_ttl(const nlohmann::json& answer,
                                          std::int64_t lease);

/// Splits a stream into lines as its bytes arrive in pieces of any size.
/// A line longer than `max_line` is an error (the stream is abandoned).
class line_splitter {
public:
  explicit line_splitter(std::size_t max_line = max_answer_bytes)
      : max_line_(max_line) {}

  /// Appends `bytes`; every line they complete (without its "\n", empty
  /// lines skipped) is appended to `out`.
  caf::error feed(std::string_view bytes, std::vector<std::string>& out);

  /// What is left that no newline ended yet.
  const std::string& pending() const {
    return partial_;
  }

private:
  std::size_t max_line_;
  std::string partial_;
};

} // namespace hookd::etcd::detail
