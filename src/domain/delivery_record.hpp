#pragma once

// A delivery record: what GET …/deliveries shows of one event's delivery to
// one webhook (Pulumi's WebhookDelivery), kept as JSON because that is how
// it is stored and served.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "hookd/api.hpp"
#include "hookd/delivery.hpp"

namespace hookd::domain {

using record_json = nlohmann::ordered_json;

/// A pending record of a delivery not yet attempted.
record_json new_record(const std::string& event_id, const std::string& kind,
                       const std::string& payload, const std::string& url,
                       std::int64_t now_s);

/// Fills a record with the outcome of one attempt.
void apply_result(record_json& rec, const header_list& sent,
                  const http_result& r, std::int64_t now_s);

/// Marks a record finished: no further attempt.
void finish_record(record_json& rec, bool succeeded);

/// Compact JSON. Records quote what receivers answered, which need not be
/// UTF-8: invalid bytes become U+FFFD rather than an exception.
std::string dump_record(const record_json& rec);

/// A history position as 16 hex digits: later records sort after earlier
/// ones in the store.
std::string seq_text(std::uint64_t seq);
std::uint64_t seq_value(std::string_view text);

} // namespace hookd::domain
