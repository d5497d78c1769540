// The HTTP front end: the only translation unit that includes RESTinio.
// A route handler parses the request line and hands the call, with the
// connection's reply handle, to a bridge actor; the bridge requests an
// answer from the node's entry actor with a deadline and writes it back.
// The connection never goes further than the bridge, and every request gets
// exactly one answer: the actors' value, or 503 with Retry-After when an
// actor fails or the deadline passes. With HOOKD_TLS_CERT/HOOKD_TLS_KEY the
// same server speaks HTTPS only (RESTinio over asio's TLS stream).
#include "hookd/http.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <iterator>
#include <mutex>
#include <thread>

#include <sys/resource.h>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>
#include <restinio/tls.hpp>

#include "hookd/assets.hpp"
#include "hookd/defaults.hpp"
#include "hookd/ingest_gate.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"
#include "hookd/tls.hpp"
#include "hookd/webhook.hpp"
#include "routes.hpp"
#include "status.hpp"

namespace hookd {

namespace {

template <class Base> struct limited : Base {
  // At the cap, RESTinio stops accepting until a connection closes: a
  // flood of connections waits in the backlog instead of exhausting the
  // file descriptors (an accept that fails with EMFILE would stop RESTinio
  // accepting for good).
  static constexpr bool use_connection_count_limiter = true;
};
using http_traits = limited<restinio::traits_t<restinio::asio_timer_manager_t,
                                               restinio::null_logger_t>>;
using https_traits
    = limited<restinio::tls_traits_t<restinio::asio_timer_manager_t,
                                     restinio::null_logger_t>>;

/// How long a client has to finish the TLS handshake.
constexpr auto tls_handshake_timeout = std::chrono::seconds{10};

/// The TLS handshake of a new connection, with a deadline. RESTinio 0.6
/// starts a connection's timeouts only once its handshake is done, so a
/// client that connects and never finishes the handshake would hold its
/// connection (and a place under the connection cap) for ever. This
/// overload, more specialized than RESTinio's own and found by
/// argument-dependent lookup through https_traits, adds a timer that
/// closes the socket, which fails the handshake and closes the
/// connection. Both handlers run on the connection's strand.
template <class Start_Read, class Failed>
void prepare_connection_and_start_read(
    restinio::tls_socket_t& socket,
    restinio::impl::connection_t<https_traits>& con, Start_Read start_read,
    Failed failed) {
  struct handshake {
    explicit handshake(const asio::any_io_executor& ex) : timer{ex} {}
    asio::steady_timer timer;
    bool done = false;
  };
  auto& strand = con.get_executor();
  auto state = std::make_shared<handshake>(strand);
  std::weak_ptr<restinio::tcp_connection_ctx_base_t> weak
      = con.shared_from_this();
  state->timer.expires_after(tls_handshake_timeout);
  state->timer.async_wait(asio::bind_executor(
      strand, [state, weak, &socket](const asio::error_code& err) {
        if (err || state->done)
          return;
        if (auto alive = weak.lock()) {
          asio::error_code ignored;
          socket.lowest_layer().close(ignored);
        }
      }));
  socket.async_handshake(
      asio::ssl::stream_base::server,
      asio::bind_executor(
          strand, [state, start_read = std::move(start_read),
                   failed = std::move(failed),
                   keep = con.shared_from_this()](const asio::error_code& err) {
            state->done = true;
            state->timer.cancel();
            if (err)
              failed(err);
            else
              start_read();
          }));
}

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

/// Counts an answered request for /metrics, and logs it at debug level.
void observe_request(std::string_view route, int status,
                     std::chrono::steady_clock::time_point started) {
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                               - started)
                     .count();
  metrics::http_request(route, status, elapsed);
  if (log::enabled(log::level::debug))
    log::debug("request answered",
               {{"route", route},
                {"status", status},
                {"duration_ms", static_cast<std::int64_t>(elapsed * 1000)}});
}

/// A file compiled into the binary. The dashboard runs only its own script
/// and style (no inline code, nothing from elsewhere), in no frame, and
/// tells no other site where it was; a browser revalidates it on each load,
/// so an upgraded hookd is never shown with an old script.
void send_asset(const restinio::request_handle_t& req,
                const assets::asset& file) {
  req->create_response()
      .append_header(restinio::http_field::content_type,
                     std::string{file.content_type})
      .append_header("Content-Security-Policy",
                     "default-src 'self'; script-src 'self'; style-src "
                     "'self'; img-src 'self'; connect-src 'self'; "
                     "object-src 'none'; base-uri 'none'; form-action "
                     "'none'; frame-ancestors 'none'")
      .append_header("X-Content-Type-Options", "nosniff")
      .append_header("X-Frame-Options", "DENY")
      .append_header("Referrer-Policy", "no-referrer")
      .append_header("Cache-Control", "no-cache")
      .set_body(restinio::const_buffer(file.body.data(), file.body.size()))
      .done();
}

/// Answers one request exactly once, from whichever thread finishes it. If
/// the request is dropped unanswered (the actor system went away holding
/// it), the destructor answers 503, so no client waits for a reply that
/// cannot come.
class http_reply {
public:
  /// `route`: the route's name (http::route_name), for /metrics and the log.
  http_reply(restinio::request_handle_t req, std::string_view route)
      : req_(std::move(req)), route_(route) {}

  ~http_reply() {
    fail(make_error(ec::unavailable,
                    "the request was lost inside hookd (a component "
                    "restarted); it is safe to retry"));
  }

  /// A token this front end made for a create_token request: it goes to
  /// the client in the answer and nowhere else.
  void issue(std::string token) {
    issued_ = std::move(token);
  }

  void respond(api_response r) {
    if (answered_.exchange(true))
      return;
    if (!issued_.empty() && r.status == success::created) {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (j.is_object()) {
        j["tokenValue"] = issued_;
        r.body = j.dump();
      }
    }
    auto status = http::status_of(r.status);
    send(req_, status, std::move(r.body), r.headers);
    observe(status);
  }

  void fail(const caf::error& err) {
    if (answered_.exchange(true))
      return;
    auto status = http::status_of(code_of(err));
    header_list headers;
    if (status == 429 || status == 503)
      headers.emplace_back("Retry-After",
                           std::to_string(defaults::retry_after_seconds));
    send_error(req_, status, message_of(err), headers);
    observe(status);
  }

  void text(std::string body) {
    if (answered_.exchange(true))
      return;
    req_->create_response()
        .append_header(restinio::http_field::content_type,
                       "text/plain; version=0.0.4")
        .set_body(std::move(body))
        .done();
    observe(200);
  }

private:
  void observe(int status) {
    observe_request(route_, status, started_);
  }

  restinio::request_handle_t req_;
  std::string_view route_;
  std::chrono::steady_clock::time_point started_
      = std::chrono::steady_clock::now();
  std::string issued_;
  std::atomic<bool> answered_{false};
};

using reply_ptr = std::shared_ptr<http_reply>;

} // namespace
} // namespace hookd

namespace hookd {
namespace {

/// An ingestion an I/O thread admitted, waiting for the end of its turn.
struct queued_ingest {
  direct_ingest in;
  reply_ptr reply;
};

/// An I/O thread's ingestions of the current turn; the turn's end may run
/// on the other I/O thread, hence the lock.
struct ingest_queue {
  std::mutex mutex;
  std::vector<queued_ingest> entries;
  bool queued = false;
};

/// A turn's ingestions of one partition: the bridge has them written by
/// the store writer unless `written` already, hands them to the door's
/// ingest actor, and answers each reply with its answer.
struct fanout_request {
  std::shared_ptr<const ingest_door> door;
  bool written = true;
  write_batch writes;
  ingest_turn turn;
  std::vector<std::string> answers;
  std::vector<reply_ptr> replies;
};

} // namespace
} // namespace hookd

// A live connection: it never leaves this file's bridge actors.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::reply_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(hookd::fanout_request)

namespace hookd {
namespace {

/// Client connections served at once: the setting, kept below what the
/// open-file limit leaves after the store and the delivery client (half
/// of it at least, on a machine whose limit is too low for both).
std::size_t connection_cap(const config& cfg) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return cfg.max_connections;
  auto limit = static_cast<std::size_t>(lim.rlim_cur);
  auto reserve = std::min(limit / 2, defaults::store_descriptors(cfg.partitions)
                                         + defaults::delivery_connections
                                         + defaults::spare_descriptors);
  auto cap = std::min(cfg.max_connections, limit - reserve);
  if (cap < cfg.max_connections)
    log::warn("serving fewer connections at once than configured",
              {{"max_connections", cap},
               {"configured", cfg.max_connections},
               {"open_file_limit", limit}});
  return std::max<std::size_t>(cap, 1);
}

/// How long an API call may take inside hookd before its client gets 503.
caf::timespan deadline_of(const config& cfg, operation op) {
  auto base = std::chrono::duration_cast<caf::timespan>(cfg.request_timeout);
  // Ping and redeliver answer after a delivery attempt: leave it room.
  if (op == operation::ping_hook || op == operation::redeliver)
    return base
           + std::chrono::duration_cast<caf::timespan>(cfg.delivery_timeout);
  return base;
}

/// How often a bridge looks for requests past their deadline, while it
/// has any: deadlines fire up to this late.
constexpr auto sweep_interval = std::chrono::milliseconds{100};

struct bridge_state {
  static inline const char* name = "hookd.http-bridge";
  access_actor entry;
  /// Requests inside hookd, by number: their deadline and their reply.
  /// One sweep timer serves them all; a timer per request would stay in
  /// CAF's clock until it fired, long after its answer (10 s of them add up
  /// to megabytes under load).
  std::unordered_map<std::uint64_t,
                     std::pair<caf::actor_clock::time_point, reply_ptr>>
      waiting;
  std::uint64_t next = 0;
  bool sweeping = false;
};

using bridge_ptr = caf::stateful_actor<bridge_state>*;

/// Answers 503 to every request past its deadline; a late answer then
/// finds its reply answered and is dropped.
void sweep(bridge_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  for (auto it = st.waiting.begin(); it != st.waiting.end();) {
    if (it->second.first <= now) {
      it->second.second->fail(caf::make_error(caf::sec::request_timeout));
      it = st.waiting.erase(it);
    } else {
      ++it;
    }
  }
  st.sweeping = !st.waiting.empty();
  if (st.sweeping)
    self->delayed_send(self, sweep_interval, atom::flush::value);
}

/// Numbers a request and starts its deadline; answer it with settle().
std::uint64_t track(bridge_ptr self, caf::timespan deadline, reply_ptr reply) {
  auto& st = self->state;
  auto id = st.next++;
  st.waiting.emplace(id, std::make_pair(self->clock().now() + deadline, reply));
  if (!st.sweeping) {
    st.sweeping = true;
    self->delayed_send(self, sweep_interval, atom::flush::value);
  }
  return id;
}

/// The request is answered (or failed): its deadline no longer applies.
void settle(bridge_ptr self, std::uint64_t id) {
  self->state.waiting.erase(id);
}

/// Requests `xs` of `dest` with a deadline kept by the sweep, not by CAF
/// (see bridge_state); `on_answer` gets the answer, and an error fails
/// the reply.
template <class T, class Dest, class OnAnswer, class... Ts>
void ask(bridge_ptr self, const Dest& dest, caf::timespan deadline,
         reply_ptr reply, OnAnswer on_answer, Ts... xs) {
  auto id = track(self, deadline, reply);
  self->request(dest, caf::infinite, std::move(xs)...)
      .then(
          [=](T& answer) mutable {
            settle(self, id);
            on_answer(answer);
          },
          [=](caf::error& err) {
            settle(self, id);
            reply->fail(err);
          });
}

/// Carries requests from the I/O threads into the actor system and answers
/// back: the only actor that sees a connection.
caf::behavior bridge(bridge_ptr self, node_actor node, config cfg,
                     route_board_ptr board) {
  self->set_down_handler([=](caf::down_msg&) { self->state.entry = nullptr; });
  auto forward = [=](api_call call, reply_ptr reply) {
    auto deadline = deadline_of(cfg, call.op);
    ask<api_response>(
        self, self->state.entry, deadline, reply,
        [=](api_response& r) { reply->respond(std::move(r)); },
        std::move(call));
  };
  return {
      [=](atom::flush) { sweep(self); },
      [=](api_call& call, reply_ptr& reply) {
        // On a single node, straight to the partition when the router
        // would only hand the request on (direct_routes.hpp). A partition
        // that stopped meanwhile answers 503, safe to retry.
        if (board)
          if (auto routes = board->read())
            if (auto p = direct_partition(*routes, call)) {
              auto deadline = deadline_of(cfg, call.op);
              ask<api_response>(
                  self, routes->entries[*p], deadline, reply,
                  [=](api_response& r) { reply->respond(std::move(r)); },
                  std::move(call));
              return;
            }
        if (self->state.entry)
          return forward(std::move(call), std::move(reply));
        // The entry actor is (re)starting: ask the node for the current one.
        ask<access_actor>(
            self, node, deadline_of(cfg, operation::list_hooks), reply,
            [=](access_actor& entry) {
              if (self->state.entry != entry) {
                self->state.entry = entry;
                self->monitor(entry);
              }
              forward(std::move(call), reply);
            },
            atom::entry::value);
      },
      [=](fanout_request& r) {
        // Admitted by the front end: each 202 once its events are written
        // and the ingest actor has handed them to their registry shards.
        auto deadline = deadline_of(cfg, operation::ingest_events);
        std::vector<std::uint64_t> ids;
        ids.reserve(r.replies.size());
        for (const auto& reply : r.replies)
          ids.push_back(track(self, deadline, reply));
        auto replies = std::move(r.replies);
        auto answers = std::move(r.answers);
        auto fail_all = [=](const caf::error& err) {
          for (std::size_t i = 0; i < replies.size(); ++i) {
            settle(self, ids[i]);
            replies[i]->fail(err);
          }
        };
        auto door = r.door;
        auto hand_over = [=](ingest_turn turn) {
          self->request(door->ingest, caf::infinite, atom::fanout::value,
                        std::move(turn))
              .then(
                  [=](bool) mutable {
                    for (std::size_t i = 0; i < replies.size(); ++i) {
                      settle(self, ids[i]);
                      replies[i]->respond(api_response{
                          success::accepted, std::move(answers[i]), {}});
                    }
                  },
                  [=](caf::error& err) { fail_all(err); });
        };
        if (r.written)
          return hand_over(std::move(r.turn));
        auto turn = std::move(r.turn);
        self->request(door->writer, caf::infinite, atom::write::value,
                      std::move(r.writes))
            .then(
                [=](std::uint64_t) {
                  settle_ingests(*door, turn, {});
                  hand_over(turn);
                },
                [=](caf::error& err) {
                  settle_ingests(*door, turn, err);
                  fail_all(not_accepted(err));
                });
      },
      [=](atom::health, reply_ptr& reply) {
        ask<api_response>(
            self, node, deadline_of(cfg, operation::list_hooks), reply,
            [=](api_response& r) { reply->respond(std::move(r)); },
            atom::health::value);
      },
      [=](atom::metrics, reply_ptr& reply) {
        ask<std::string>(
            self, node, deadline_of(cfg, operation::list_hooks), reply,
            [=](std::string& text) { reply->text(std::move(text)); },
            atom::metrics::value);
      },
  };
}

/// Serves until SIGINT or SIGTERM, then drains and stops: everything but
/// the socket type (plain TCP or TLS, the traits say; `tls_context` is the
/// TLS one's context) is the same for HTTP and HTTPS.
template <class Traits, class Handler>
bool run_server(asio::io_context& ioctx, caf::actor_system& sys,
                const config& cfg, const node_actor& node,
                std::atomic<bool>& closing, Handler& handler,
                std::vector<caf::actor>& bridges,
                const std::function<void()>& stop,
                const std::function<void(std::uint16_t)>& on_listening,
                std::shared_ptr<asio::ssl::context> tls_context) {
  constexpr bool secure = std::is_same_v<typename Traits::stream_socket_t,
                                         restinio::tls_socket_t>;
  // Known after bind; announced once the acceptor listens, so a client that
  // reads the line can connect at once.
  std::uint16_t port = 0;
  restinio::incoming_http_msg_limits_t limits;
  limits.max_body_size(defaults::max_wire_body_bytes);

  restinio::http_server_t<Traits> server{
      restinio::external_io_context(ioctx), [&](auto& settings) {
        settings.address(cfg.bind)
            .port(cfg.http_port)
            .incoming_http_msg_limits(limits)
            // Later than any actor deadline: hookd answers 503 itself first.
            .handle_request_timeout(
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    deadline_of(cfg, operation::ping_hook)
                    + cfg.request_timeout))
            .read_next_http_message_timelimit(std::chrono::seconds{60})
            .max_parallel_connections(connection_cap(cfg))
            .request_handler(handler)
            .acceptor_post_bind_hook(
                [&port](asio::ip::tcp::acceptor& acceptor) {
                  port = acceptor.local_endpoint().port();
                });
        if constexpr (secure)
          settings.tls_context(std::move(tls_context));
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
      caf::scoped_actor self{sys};
      auto deadline
          = std::chrono::duration_cast<caf::timespan>(cfg.shutdown_timeout);
      self->request(node, deadline + std::chrono::seconds{1},
                    atom::drain::value, deadline)
          .receive([](bool) {}, [](caf::error&) {});
      asio::post(ioctx, [&] {
        server.close_async([&] { ioctx.stop(); },
                           [&](std::exception_ptr) { ioctx.stop(); });
      });
    }};
  });
  server.open_async(
      [&] {
        std::cout << "hookd listening on " << (secure ? "https" : "http")
                  << "://" << cfg.bind << ':' << port << std::endl;
        log::info("listening", {{"scheme", secure ? "https" : "http"},
                                {"bind", cfg.bind},
                                {"port", port}});
        if (on_listening)
          on_listening(port);
      },
      [&](std::exception_ptr ex) {
        try {
          std::rethrow_exception(ex);
        } catch (const std::exception& e) {
          log::error("cannot listen", {{"bind", cfg.bind},
                                       {"port", cfg.http_port},
                                       {"error", e.what()}});
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
  // Actors may still hold replies; stop them while the I/O context exists,
  // then flush the answers they wrote on their way out.
  for (auto& b : bridges)
    caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  bridges.clear();
  stop();
  ioctx.restart();
  ioctx.poll();
  return ok;
}

} // namespace

bool serve_http(caf::actor_system& sys, const config& cfg, node_actor node,
                std::shared_ptr<const crypto::sealer> sealer,
                const std::function<void()>& stop,
                const std::function<void(std::uint16_t)>& on_listening,
                route_board_ptr board) {
  // Checked at start already (load_config): failing here means the files
  // changed since; refuse rather than fall back to plain HTTP.
  std::shared_ptr<asio::ssl::context> tls_context;
  if (!cfg.tls_cert.empty()) {
    std::string why;
    try {
      tls_context = std::make_shared<asio::ssl::context>(
          asio::ssl::context::tls_server);
      why = tls::configure_server(tls_context->native_handle(), cfg.tls_cert,
                                  cfg.tls_key);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!why.empty()) {
      log::error("cannot serve HTTPS", {{"error", why}});
      stop();
      return false;
    }
  }

  asio::io_context ioctx;
  std::atomic<bool> closing{false};
  std::vector<caf::actor> bridges;
  for (std::size_t i = 0; i < io_threads; ++i)
    bridges.push_back(sys.spawn(bridge, node, cfg, board));
  std::atomic<std::size_t> next_bridge{0};
  auto pick = [&]() -> const caf::actor& {
    return bridges[next_bridge.fetch_add(1, std::memory_order_relaxed)
                   % bridges.size()];
  };

  // The front end's own answers go out after the handler has returned,
  // never inside it: answered inside, a request that shares a read with
  // requests pipelined after it left those unanswered (RESTinio 0.6).
  auto answer = [&](restinio::request_handle_t req, int status,
                    std::string message, header_list headers = {},
                    std::string_view route = "other") {
    asio::post(ioctx,
               [req = std::move(req), status, message = std::move(message),
                headers = std::move(headers), route,
                started = std::chrono::steady_clock::now()] {
                 send_error(req, status, message, headers);
                 observe_request(route, status, started);
               });
    return restinio::request_accepted();
  };
  // Writes the ingestions an I/O thread admitted in one turn, a
  // partition's in one commit (here, or by its store writer through a
  // bridge), then hands each partition's to its ingest actor in one
  // message (through the bridge, which answers them).
  auto finish_turn = [&](ingest_queue& q) {
    std::vector<queued_ingest> entries;
    {
      std::lock_guard<std::mutex> guard{q.mutex};
      entries.swap(q.entries);
      q.queued = false;
    }
    std::vector<direct_ingest> ins;
    ins.reserve(entries.size());
    for (auto& e : entries)
      ins.push_back(std::move(e.in));
    auto errors = commit_ingests(ins);
    std::vector<fanout_request> out;
    for (std::size_t i = 0; i < ins.size(); ++i) {
      if (errors[i]) {
        entries[i].reply->fail(errors[i]);
        continue;
      }
      auto& in = ins[i];
      auto slot = std::find_if(out.begin(), out.end(), [&](const auto& r) {
        return r.door == in.door;
      });
      if (slot == out.end()) {
        out.emplace_back();
        slot = std::prev(out.end());
        slot->door = in.door;
        slot->written = in.door->write_here;
      }
      if (!slot->written) {
        auto append = [](auto& to, auto& from) {
          to.insert(to.end(), std::make_move_iterator(from.begin()),
                    std::make_move_iterator(from.end()));
        };
        append(slot->writes.delete_prefixes, in.writes.delete_prefixes);
        append(slot->writes.deletes, in.writes.deletes);
        append(slot->writes.puts, in.writes.puts);
      }
      slot->turn.requests.push_back(std::move(in.fresh));
      slot->turn.reserved.push_back(in.reserved);
      slot->answers.push_back(std::move(in.answer));
      slot->replies.push_back(std::move(entries[i].reply));
    }
    for (auto& r : out)
      caf::anon_send(pick(), std::move(r));
  };
  auto handler = [&](restinio::request_handle_t req) {
    const auto& head = req->header();
    auto route
        = http::match_route(head.method().c_str(), head.path(), head.query());
    auto name = http::route_name(route);
    if (closing.load())
      return answer(
          std::move(req), 503, "hookd is shutting down",
          {{"Retry-After", std::to_string(defaults::retry_after_seconds)}},
          name);
    using target = http::route::target;
    switch (route.what) {
    case target::not_found:
      return answer(std::move(req), 404, std::move(route.message), {}, name);
    case target::method_not_allowed:
      return answer(std::move(req), 405, std::move(route.message),
                    {{"Allow", route.allow}}, name);
    case target::bad_name:
      return answer(std::move(req), 400, std::move(route.message), {}, name);
    case target::asset: {
      auto file = assets::find(route.asset);
      if (file == nullptr)
        return answer(std::move(req), 404, "no such file: " + route.asset, {},
                      name);
      asio::post(ioctx, [req = std::move(req), file, name,
                         started = std::chrono::steady_clock::now()] {
        send_asset(req, *file);
        observe_request(name, 200, started);
      });
      return restinio::request_accepted();
    }
    case target::redirect:
      asio::post(ioctx, [req = std::move(req), to = route.location, name,
                         started = std::chrono::steady_clock::now()] {
        req->create_response(restinio::status_moved_permanently())
            .append_header(restinio::http_field::location, to)
            .done();
        observe_request(name, 301, started);
      });
      return restinio::request_accepted();
    case target::healthz:
      caf::anon_send(pick(), atom::health::value,
                     std::make_shared<http_reply>(req, name));
      return restinio::request_accepted();
    case target::metrics:
      caf::anon_send(pick(), atom::metrics::value,
                     std::make_shared<http_reply>(req, name));
      return restinio::request_accepted();
    case target::api:
      break;
    }
    if (req->body().size() > defaults::max_body_bytes)
      return answer(std::move(req), 413,
                    "the request body is larger than "
                        + std::to_string(defaults::max_body_bytes) + " bytes",
                    {}, name);
    auto reply = std::make_shared<http_reply>(req, name);
    route.call.body = req->body();
    // Secrets stay here: the actors get a token's digest, a webhook's
    // secret sealed, and a new token's id and digest.
    route.call.who = credential_of_token(http::credential_of(
        head.get_field_or(restinio::http_field::authorization, "")));
    auto op = route.call.op;
    // A read its partition keeps the answer to (read_board.hpp) is answered
    // here, on the I/O thread, without a trip through the actors.
    if (op == operation::read_hook && board)
      if (auto routes = board->read())
        if (auto kept = kept_answer(*routes, route.call)) {
          // Deferred, not posted: it runs on this thread once the handler
          // has returned, without waking the other.
          asio::defer(ioctx, [reply, body = std::move(*kept)]() mutable {
            reply->respond(api_response{success::ok, std::move(body), {}});
          });
          return restinio::request_accepted();
        }
    // Events its partition lets the front end write (direct_routes.hpp)
    // are admitted here, on the I/O thread, and written with the others
    // of this turn of the loop; the actors only fan them out.
    if (op == operation::ingest_events && board)
      if (auto routes = board->read())
        if (auto prepared = prepare_ingest(*routes, route.call)) {
          if (!*prepared) {
            asio::defer(ioctx,
                        [reply, err = prepared->error()] { reply->fail(err); });
            return restinio::request_accepted();
          }
          auto& in = **prepared;
          if (in.fresh.events.empty()) {
            // Every event was a repeat: nothing to write or fan out.
            asio::defer(ioctx, [reply, body = std::move(in.answer)]() mutable {
              reply->respond(
                  api_response{success::accepted, std::move(body), {}});
            });
            return restinio::request_accepted();
          }
          static thread_local auto turn = std::make_shared<ingest_queue>();
          bool first = false;
          {
            std::lock_guard<std::mutex> guard{turn->mutex};
            turn->entries.push_back({std::move(in), std::move(reply)});
            first = !std::exchange(turn->queued, true);
          }
          // Deferred: it runs once the completions already queued (other
          // connections' requests read in this turn) have run.
          if (first)
            asio::defer(ioctx, [&finish_turn, q = turn] { finish_turn(*q); });
          return restinio::request_accepted();
        }
    if (op == operation::create_hook || op == operation::update_hook) {
      auto sealed = seal_body_secret(route.call.body, *sealer);
      if (!sealed) {
        asio::post(ioctx, [reply, err = sealed.error()] { reply->fail(err); });
        return restinio::request_accepted();
      }
      route.call.body = std::move(*sealed);
    } else if (op == operation::create_token) {
      auto token = new_org_token(route.call.where.org);
      route.call.issued = credential_of_token(token);
      reply->issue(std::move(token));
    }
    caf::anon_send(pick(), std::move(route.call), std::move(reply));
    return restinio::request_accepted();
  };

  if (tls_context)
    return run_server<https_traits>(ioctx, sys, cfg, node, closing, handler,
                                    bridges, stop, on_listening,
                                    std::move(tls_context));
  return run_server<http_traits>(ioctx, sys, cfg, node, closing, handler,
                                 bridges, stop, on_listening, nullptr);
}

} // namespace hookd
