#pragma once

// Reads through the store readers, for actors: the answer arrives as a
// message, and the actor's worker thread is free meanwhile.

#include <optional>
#include <string>
#include <utility>

#include "hookd/actors.hpp"
#include "hookd/defaults.hpp"

namespace hookd {

/// Reads one key; `then` gets the value (std::nullopt when absent) or an
/// error.
template <class Self, class Then>
void read_key(Self* self, const store_reader_actor& reader, std::string key,
              Then then) {
  read_request req;
  req.keys.push_back(std::move(key));
  self->request(reader, defaults::store_timeout, atom::get::value,
                std::move(req))
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

/// Scans a range; `then` gets the keys and values or an error.
template <class Self, class Then>
void scan_range(Self* self, const store_reader_actor& reader, scan_request req,
                Then then) {
  self->request(reader, defaults::store_timeout, atom::scan::value,
                std::move(req))
      .then(
          [=](scan_result& r) mutable {
            then(caf::expected<scan_result>{std::move(r)});
          },
          [=](caf::error& err) mutable {
            then(caf::expected<scan_result>{std::move(err)});
          });
}

} // namespace hookd
