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
#include <vector>

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

/// How an actor takes an answer from the store readers: `interleaved`
/// handles other messages while it waits (a GET, a list); `in_order` holds
/// every other message back until the answer is in (CAF's await), for steps
/// that must finish before anything else is seen: recovery at start, a
/// check that decides what a write holds.
enum class order { interleaved, in_order };

namespace detail {

/// Asks the readers; `then` gets the answer (a `Result`) or the error.
template <class Result, class Self, class Atom, class Request, class Then>
void ask_reader(Self* self, const store_reader_actor& reader, order o,
                Atom what, Request req, Then then) {
  auto on_ok = [then](Result& r) mutable {
    then(caf::expected<Result>{std::move(r)});
  };
  auto on_error = [then](caf::error& err) mutable {
    then(caf::expected<Result>{std::move(err)});
  };
  auto handle = self->request(reader, caf::infinite, what, std::move(req));
  if (o == order::in_order)
    handle.await(std::move(on_ok), std::move(on_error));
  else
    handle.then(std::move(on_ok), std::move(on_error));
}

} // namespace detail

/// Reads several keys; `then` gets one result per key, in order, or an
/// error; at once when memory has every answer.
template <class Self, class Then>
void read_keys(Self* self, store& db, const store_reader_actor& reader,
               std::vector<std::string> keys, order o, Then then) {
  read_results cached;
  cached.items.reserve(keys.size());
  for (const auto& key : keys) {
    auto value = db.get_cached(key);
    if (!value)
      break;
    if (!*value) {
      then(caf::expected<read_results>{std::move(value->error())});
      return;
    }
    read_result r;
    r.found = value->value().has_value();
    if (r.found)
      r.value = std::move(*value->value());
    cached.items.push_back(std::move(r));
  }
  if (cached.items.size() == keys.size()) {
    then(caf::expected<read_results>{std::move(cached)});
    return;
  }
  read_request req;
  req.keys = std::move(keys);
  detail::ask_reader<read_results>(self, reader, o, atom::get::value,
                                   std::move(req), std::move(then));
}

/// Reads one key; `then` gets the value (std::nullopt when absent) or an
/// error, at once when memory has the answer.
template <class Self, class Then>
void read_key(Self* self, store& db, const store_reader_actor& reader,
              std::string key, order o, Then then) {
  std::vector<std::string> keys;
  keys.push_back(std::move(key));
  read_keys(
      self, db, reader, std::move(keys), o,
      [then](caf::expected<read_results> r) mutable {
        if (!r) {
          then(caf::expected<std::optional<std::string>>{std::move(r.error())});
          return;
        }
        std::optional<std::string> value;
        if (!r->items.empty() && r->items.front().found)
          value = std::move(r->items.front().value);
        then(caf::expected<std::optional<std::string>>{std::move(value)});
      });
}

/// Scans a range; `then` gets the keys and values or an error, at once
/// when memory has them all. (A request for one shard's keys goes to
/// load_range.)
template <class Self, class Then>
void scan_range(Self* self, store& db, const store_reader_actor& reader,
                scan_request req, order o, Then then) {
  scan_result cached;
  auto limit = req.limit;
  auto keys_only = req.keys_only;
  auto complete = db.scan_cached(
      req.prefix, req.start, req.reverse,
      [&](std::string_view key, std::string_view value) {
        cached.items.emplace_back(
            std::string{key}, keys_only ? std::string{} : std::string{value});
        if (limit > 0 && cached.items.size() >= limit) {
          cached.truncated = true;
          cached.last_seen = std::string{key};
          return false;
        }
        return true;
      });
  if (complete) {
    then(caf::expected<scan_result>{std::move(cached)});
    return;
  }
  detail::ask_reader<scan_result>(self, reader, o, atom::scan::value,
                                  std::move(req), std::move(then));
}

/// Visits a whole range a page at a time through the readers, holding the
/// actor's other messages back until the last page (a start-up load that
/// nothing may see half done). `visit(key, value)` for each item, then
/// `done(error)` once.
template <class Self, class Visit, class Done>
void load_range(Self* self, const store_reader_actor& reader, scan_request req,
                Visit visit, Done done) {
  if (req.limit == 0)
    req.limit = defaults::load_page;
  auto next = req;
  detail::ask_reader<scan_result>(
      self, reader, order::in_order, atom::scan::value, std::move(req),
      [=](caf::expected<scan_result> r) mutable {
        if (!r) {
          done(std::move(r.error()));
          return;
        }
        for (auto& [key, value] : r->items)
          visit(key, value);
        if (!r->truncated) {
          done(caf::error{});
          return;
        }
        next.start = std::move(r->last_seen);
        next.start.push_back('\0');
        load_range(self, reader, std::move(next), std::move(visit),
                   std::move(done));
      });
}

} // namespace hookd
