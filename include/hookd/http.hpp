#pragma once

#include <functional>

#include "hookd/actors.hpp"
#include "hookd/config.hpp"

namespace hookd {

/// What the front end asks of the node it serves.
struct http_node {
  access_actor access;
  /// Is the store answering? (GET /healthz)
  std::function<bool()> healthy;
  /// The Prometheus text of GET /metrics.
  std::function<std::string()> metrics;
  /// On SIGTERM/SIGINT, while new requests get 503: let deliveries in
  /// flight finish (blocking, bounded by the shutdown timeout).
  std::function<void()> drain;
  /// Last: stop the actors, while answers to requests they still hold can
  /// be written.
  std::function<void()> stop;
};

/// Serves the REST API on cfg.bind:cfg.http_port until SIGINT or SIGTERM.
/// Prints "hookd listening on http://HOST:PORT" once listening. Returns
/// false (after printing why) when it cannot listen.
bool serve_http(const config& cfg, const http_node& node);

} // namespace hookd
