// The HTTP front end: the only translation unit that includes RESTinio.
// A route handler parses the request line, wraps the request in a responder
// and hands both to the access actor; it never waits for an actor.
#include "hookd/http.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include <caf/send.hpp>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

#include "hookd/defaults.hpp"
#include "routes.hpp"
#include "status.hpp"

namespace hookd {

namespace {

using traits = restinio::traits_t<restinio::asio_timer_manager_t,
                                  restinio::null_logger_t>;
using server_t = restinio::http_server_t<traits>;

constexpr std::size_t io_threads = 2;

std::string error_body(int status, std::string_view message) {
  // Messages may quote what a client sent, which need not be UTF-8.
  return nlohmann::json{{"code", status}, {"message", message}}.dump(
    -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void send(const restinio::request_handle_t& req, int status, std::string body,
          const header_list& headers = {}) {
  auto resp = req->create_response(restinio::http_status_line_t{
    restinio::http_status_code_t{static_cast<std::uint16_t>(status)},
    http::reason_of(status)});
  for (const auto& [name, value] : headers)
    resp.append_header(name, value);
  if (status != 204) {
    resp.append_header(restinio::http_field::content_type, "application/json");
    resp.set_body(std::move(body));
  }
  resp.done();
}

void send_error(const restinio::request_handle_t& req, int status,
                std::string_view message, const header_list& headers = {}) {
  send(req, status, error_body(status, message), headers);
}

/// Answers one request exactly once, from whichever thread finishes it. If
/// the request is dropped unanswered (an actor died holding it), the
/// destructor answers 503 so no client waits for a reply that cannot come.
class http_responder final : public responder {
public:
  explicit http_responder(restinio::request_handle_t req)
    : req_(std::move(req)) {
  }

  ~http_responder() override {
    if (!answered_.exchange(true))
      send_error(req_, 503,
                 "the request was lost inside hookd (a component restarted); "
                 "it is safe to retry");
  }

  void respond(success status, std::string json_body,
               header_list headers) override {
    if (!answered_.exchange(true))
      send(req_, http::status_of(status), std::move(json_body), headers);
  }

  void fail(failure err) override {
    if (answered_.exchange(true))
      return;
    header_list headers;
    if (err.retry_after > 0)
      headers.emplace_back("Retry-After", std::to_string(err.retry_after));
    send_error(req_, http::status_of(err.code), err.message, headers);
  }

private:
  restinio::request_handle_t req_;
  std::atomic<bool> answered_{false};
};

} // namespace

bool serve_http(const config& cfg, const http_node& node) {
  asio::io_context ioctx;
  std::atomic<bool> closing{false};
  auto access = node.access;
  auto healthy = node.healthy;
  auto metrics = node.metrics;

  auto handler = [access, healthy, metrics,
                  &closing](restinio::request_handle_t req) {
    if (closing.load()) {
      send_error(req, 503, "hookd is shutting down",
                 {{"Retry-After", std::to_string(defaults::retry_after_seconds)}});
      return restinio::request_accepted();
    }
    const auto& head = req->header();
    auto route = http::match_route(head.method().c_str(), head.path(),
                                   head.query());
    using target = http::route::target;
    switch (route.what) {
      case target::not_found:
        send_error(req, 404, route.message);
        return restinio::request_accepted();
      case target::method_not_allowed:
        send_error(req, 405, route.message, {{"Allow", route.allow}});
        return restinio::request_accepted();
      case target::bad_name:
        send_error(req, 400, route.message);
        return restinio::request_accepted();
      case target::healthz:
        if (healthy())
          send(req, 200, R"({"status":"ok"})");
        else
          send_error(req, 503, "the store is not answering");
        return restinio::request_accepted();
      case target::metrics: {
        req->create_response()
          .append_header(restinio::http_field::content_type,
                         "text/plain; version=0.0.4")
          .set_body(metrics())
          .done();
        return restinio::request_accepted();
      }
      case target::api: break;
    }
    if (req->body().size() > defaults::max_body_bytes) {
      send_error(req, 413,
                 "the request body is larger than "
                   + std::to_string(defaults::max_body_bytes) + " bytes");
      return restinio::request_accepted();
    }
    route.call.body = req->body();
    route.call.credential = http::credential_of(
      head.get_field_or(restinio::http_field::authorization, ""));
    auto r = std::make_shared<http_responder>(req);
    caf::anon_send(access, std::move(route.call), responder_ptr{std::move(r)});
    return restinio::request_accepted();
  };

  // Known after bind; announced once the acceptor listens, so a client that
  // reads the line can connect at once.
  std::uint16_t port = 0;
  restinio::incoming_http_msg_limits_t limits;
  limits.max_body_size(defaults::max_wire_body_bytes);

  server_t server{
    restinio::external_io_context(ioctx),
    [&](auto& settings) {
      settings.address(cfg.bind)
        .port(cfg.http_port)
        .incoming_http_msg_limits(limits)
        // Ping and redeliver answer after a delivery attempt: leave room.
        .handle_request_timeout(std::max<std::chrono::steady_clock::duration>(
          defaults::request_timeout * 2,
          cfg.delivery_timeout + defaults::request_timeout))
        .read_next_http_message_timelimit(std::chrono::seconds{60})
        .request_handler(handler)
        .acceptor_post_bind_hook([&port](asio::ip::tcp::acceptor& acceptor) {
          port = acceptor.local_endpoint().port();
        });
    }};

  bool ok = true;
  std::thread drainer;
  asio::signal_set signals{ioctx, SIGINT, SIGTERM};
  signals.async_wait([&](const asio::error_code& err, int) {
    if (err)
      return;
    closing = true;
    // Drain off the I/O threads, which keep answering 503 meanwhile.
    drainer = std::thread{[&] {
      node.drain();
      asio::post(ioctx, [&] {
        server.close_async([&] { ioctx.stop(); },
                           [&](std::exception_ptr) { ioctx.stop(); });
      });
    }};
  });
  server.open_async([&] {
                      std::cout << "hookd listening on http://" << cfg.bind
                                << ':' << port << std::endl;
                    },
                    [&](std::exception_ptr ex) {
                      try {
                        std::rethrow_exception(ex);
                      } catch (const std::exception& e) {
                        std::cerr << "hookd: cannot listen on " << cfg.bind
                                  << ':' << cfg.http_port << ": " << e.what()
                                  << std::endl;
                      }
                      ok = false;
                      signals.cancel();
                      ioctx.stop();
                    });
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < io_threads; ++i)
    pool.emplace_back([&] { ioctx.run(); });
  ioctx.run();
  for (auto& t : pool)
    t.join();
  if (drainer.joinable())
    drainer.join();
  // Actors may still hold responders; stop them while the I/O context
  // exists, then flush the answers they wrote on their way out.
  node.stop();
  ioctx.restart();
  ioctx.poll();
  return ok;
}

} // namespace hookd
