#pragma once

// Reads for actors that never wait for the disk on a shared worker: what
// memory holds (memtables, block cache) is read at once; anything that
// needs the disk goes to the store readers, and the answer arrives as a
// message while the worker thread does other work.
//
// Requests to the store writer and readers carry no deadline of their own
// (caf::infinite): they live in this process under the node's supervision,
// a dead one answers at once with an error, and a deadline per request
// would keep a timer alive in CAF's clock for every write. Clients are
// bounded by the front end's deadline instead.

#include <optional>
#include <string>
#include <utility>

#include "hookd/actors.hpp"
#include "hookd/defaults.hpp"
#include "hookd/store.hpp"

namespace hookd {

/// The values of a scan as a JSON array (each value is a JSON document).
inline std::string json_array_of(const scan_result& r) {
  std::string body;
  for (const auto& [key, value] : r.items) {
    body += body.empty() ? '[' : ',';
    body += value;
  }
  body += body.empty() ? "[]" : "]";
  return body;
}

/// Reads one key; `then` gets the value (std::nullopt when absent) or an
/// error, at once when memory has the answer.
template <class Self, class Then>
void read_key(Self* self, store& db, const store_reader_actor& reader,
              std::string key, Then then) {
  if (auto cached = db.get_cached(key)) {
    then(std::move(*cached));
    return;
  }
  read_request req;
  req.keys.push_back(std::move(key));
  self->request(reader, caf::infinite, atom::get::value, std::move(req))
      .then(
          [=](read_results& r) mutable {
            std::optional<std::string> value;
            if (!r.items.empty() && r.items.front().found)
              value = std::move(r.items.front().value);
            then(caf::expected<std::optional<std::string>>{std::move(value)});
          },
          [=](caf::error& err) mutable {
            then(caf::expected<std::optional<std::string>>{std::move(err)});
          });
}

/// Scans a range; `then` gets the keys and values or an error, at once
/// when memory has them all.
template <class Self, class Then>
void scan_range(Self* self, store& db, const store_reader_actor& reader,
                scan_request req, Then then) {
  scan_result cached;
  auto limit = req.limit;
  auto complete = db.scan_cached(
      req.prefix, req.start, req.reverse,
      [&](std::string_view key, std::string_view value) {
        cached.items.emplace_back(std::string{key}, std::string{value});
        return limit == 0 || cached.items.size() < limit;
      });
  if (complete) {
    then(caf::expected<scan_result>{std::move(cached)});
    return;
  }
  self->request(reader, caf::infinite, atom::scan::value, std::move(req))
      .then(
          [=](scan_result& r) mutable {
            then(caf::expected<scan_result>{std::move(r)});
          },
          [=](caf::error& err) mutable {
            then(caf::expected<scan_result>{std::move(err)});
          });
}

} // namespace hookd
