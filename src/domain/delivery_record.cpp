#include "delivery_record.hpp"

namespace hookd::domain {

record_json new_record(const std::string& event_id, const std::string& kind,
                       const std::string& payload, const std::string& url,
                       std::int64_t now_s) {
  return record_json{
      {"id", event_id},         {"kind", kind},      {"payload", payload},
      {"timestamp", now_s},     {"duration", 0},     {"requestUrl", url},
      {"requestHeaders", ""},   {"responseCode", 0}, {"responseHeaders", ""},
      {"responseBody", ""},     {"attempts", 0},     {"status", "pending"},
      {"nextAttemptAt", now_s}, {"error", ""}};
}

void apply_result(record_json& rec, const header_list& sent,
                  const http_result& r, std::int64_t now_s) {
  rec["attempts"] = rec["attempts"].get<int>() + 1;
  rec["timestamp"] = now_s;
  rec["duration"] = r.duration_ms;
  rec["requestHeaders"] = header_block(sent);
  rec["responseCode"] = r.code;
  rec["responseHeaders"] = r.response_headers;
  rec["responseBody"] = r.response_body;
  rec["error"] = r.error.empty() && (r.code < 200 || r.code > 299)
                     ? "HTTP " + std::to_string(r.code)
                     : r.error;
}

void finish_record(record_json& rec, bool succeeded) {
  rec["status"] = succeeded ? "succeeded" : "failed";
  rec["nextAttemptAt"] = nullptr;
}

std::string dump_record(const record_json& rec) {
  return rec.dump(-1, ' ', false, record_json::error_handler_t::replace);
}

std::string seq_text(std::uint64_t seq) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, seq >>= 4)
    out[static_cast<std::size_t>(i)] = digits[seq & 0xf];
  return out;
}

std::uint64_t seq_value(std::string_view text) {
  std::uint64_t n = 0;
  for (char c : text)
    n = (n << 4)
        | static_cast<std::uint64_t>(c <= '9' ? c - '0'
                                              : (c | 0x20) - 'a' + 10);
  return n;
}

} // namespace hookd::domain
