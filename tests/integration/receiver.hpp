// A webhook receiver for the integration tests: a small HTTP/1.1 server on
// 127.0.0.1 (kernel-chosen port) that runs inside the test process, records
// every request and answers as the test programs it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace hookd_test {

/// One request as it arrived.
struct received_request {
  std::string method;
  std::string target;  ///< as sent, query included
  std::string path;    ///< the target without its query
  std::string version; ///< "HTTP/1.1"
  header_list headers; ///< in arrival order, names as sent
  std::string body;    ///< exact bytes (chunked bodies decoded)
  std::chrono::steady_clock::time_point arrived; ///< when it was complete
  std::chrono::system_clock::time_point arrived_wall;
  std::size_t connection = 0; ///< which accepted connection (0, 1, ...)
  std::size_t index = 0;      ///< position among all requests

  /// The first header with this name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
  /// How many headers carry this name (case-insensitive).
  std::size_t header_count(std::string_view name) const;
};

/// How to answer one request.
struct reply {
  int status = 200;
  header_list headers;
  std::string body;
  /// Wait this long before answering (or closing).
  std::chrono::milliseconds delay{0};
  /// Close the connection without sending anything.
  bool close_without_answer = false;
  /// Send the answer one byte at a time, this long apart.
  std::chrono::milliseconds drip{0};

  static reply with_status(int status, std::string body = {}) {
    reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static reply hang_up(std::chrono::milliseconds after = {}) {
    reply r;
    r.close_without_answer = true;
    r.delay = after;
    return r;
  }
};

/// The in-process receiver. Each connection gets its own thread; HTTP/1.1
/// keep-alive is supported (libcurl reuses connections), bodies come with
/// Content-Length (or chunked). Destruction stops and joins everything.
class receiver {
public:
  /// Computes the answer to a request; `nth_on_path` counts the earlier
  /// requests to the same path (0 for the first).
  using responder
      = std::function<reply(const received_request&, std::size_t nth_on_path)>;

  receiver();
  ~receiver();
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;

  std::uint16_t port() const {
    return port_;
  }
  /// "http://127.0.0.1:<port>" + path.
  std::string url(std::string_view path = "/") const;

  /// Replaces the answer for every request (the per-path sequences below
  /// take precedence). The default answers 200 `{"ok":true}`.
  void set_responder(responder r);
  void set_default_reply(reply r);
  /// Answers the requests to `path` with `replies` in order; once they are
  /// used up the last one repeats.
  void reply_on(const std::string& path, std::vector<reply> replies);

  /// Every request so far, in arrival order.
  std::vector<received_request> requests() const;
  /// The requests to this path (query ignored), in arrival order.
  std::vector<received_request> requests_to(std::string_view path) const;
  std::size_t count() const;
  /// Connections accepted so far.
  std::size_t connections() const;

  /// Waits until at least `n` requests arrived; false at the deadline.
  bool wait_for(std::size_t n, std::chrono::milliseconds deadline = 10s) const;
  /// Waits until `done` holds for the requests so far; false at the deadline.
  bool wait_for(
      const std::function<bool(const std::vector<received_request>&)>& done,
      std::chrono::milliseconds deadline = 10s) const;
  /// Waits until at least `n` requests to `path` arrived.
  bool wait_for_path(std::string_view path, std::size_t n,
                     std::chrono::milliseconds deadline = 10s) const;

  /// Stops accepting, closes every connection and joins the threads.
  /// Idempotent; the destructor calls it.
  void stop();

private:
  void accept_loop();
  void serve(int fd, std::size_t connection);
  reply answer_for(const received_request& req, std::size_t nth);
  /// Waits up to `d` unless the receiver stops first; false when stopping.
  bool pause(std::chrono::milliseconds d) const;

  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::vector<received_request> requests_;
  std::map<std::string, std::size_t> per_path_;
  std::size_t connections_ = 0;
  responder responder_;
  reply default_reply_;
  std::map<std::string, std::vector<reply>> sequences_;

  std::mutex threads_mtx_;
  std::vector<std::thread> threads_;
};

} // namespace hookd_test
