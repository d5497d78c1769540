// Test harness for the integration tests: runs the real hookd binary on
// port 0 with a private data dir and talks HTTP to it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace hookd_test {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// The admin token every process gets unless a test asks for none.
inline constexpr const char* test_admin_token
    = "hookd-integration-admin-token-0123456789abcdef";

/// The binary under test: HOOKD_BINARY (set by the build), unless the
/// environment variable HOOKD_TEST_BINARY names another one. Every process
/// the harness starts gets an environment without the caller's HOOKD_*
/// settings.
std::string hookd_binary();

/// How long a process may take to print its listening line or to exit.
inline constexpr auto start_deadline = 15s;
inline constexpr auto stop_deadline = 15s;

using header_list = std::vector<std::pair<std::string, std::string>>;

/// Case-insensitive ASCII comparison, for header names.
bool iequals(std::string_view a, std::string_view b);

/// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

/// What the server answered.
struct http_response {
  long status = 0;
  header_list headers; ///< in arrival order, names as sent
  std::string body;
  std::string error; ///< transport error, empty when an answer came

  /// The first header with this name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;

  /// The body parsed as JSON; a discarded value when it does not parse.
  json body_json() const;
};

/// A small libcurl client bound to one server port.
class http_client {
public:
  /// `token` is sent as `Authorization: token <token>`; nullopt sends none.
  explicit http_client(std::uint16_t port,
                       std::optional<std::string> token = test_admin_token);

  /// The same client presenting another credential (nullopt: none).
  http_client as(std::optional<std::string> token) const;

  /// The same client over HTTPS, trusting only the certificates in the PEM
  /// file `ca_file` (and checking the server's name, 127.0.0.1).
  http_client over_tls(std::string ca_file) const;

  /// Sends one request. The path is sent exactly as given (no dot-segment
  /// normalization). An `Authorization` entry in `headers` replaces the
  /// default one. A non-empty body gets `Content-Type: application/json`
  /// unless `headers` names another.
  http_response request(const std::string& method, const std::string& path,
                        const std::string& body = {},
                        const header_list& headers = {}) const;

  http_response get(const std::string& path) const {
    return request("GET", path);
  }
  http_response post(const std::string& path, const json& body) const {
    return request("POST", path, body.dump());
  }
  http_response patch(const std::string& path, const json& body) const {
    return request("PATCH", path, body.dump());
  }
  http_response del(const std::string& path) const {
    return request("DELETE", path);
  }

  std::uint16_t port() const {
    return port_;
  }

private:
  std::uint16_t port_;
  std::optional<std::string> token_;
  std::string ca_file_; ///< empty: plain HTTP
};

/// A response, for assertion messages: status, transport error, body.
std::string show(const http_response& r);

/// The status, a JSON Content-Type and a body that parses as JSON.
::testing::AssertionResult is_json_status(const http_response& r, long status);

/// The SPEC error shape: the status, JSON content type, and
/// {"code": status, "message": non-empty text}.
::testing::AssertionResult is_error(const http_response& r, long status);

/// Sends `bytes` verbatim over a fresh TCP connection to 127.0.0.1:port and
/// reads the answer until the server closes the connection or the body of
/// the first response is complete. Send `Connection: close` in the request.
http_response raw_request(std::uint16_t port, const std::string& bytes,
                          std::chrono::milliseconds deadline = 10s);

/// Sends `bytes` verbatim over a fresh TCP connection to 127.0.0.1:port and
/// returns all it reads until the server closes or the deadline passes.
std::string raw_stream(std::uint16_t port, const std::string& bytes,
                       std::chrono::milliseconds deadline = 10s);

/// A TCP connection to 127.0.0.1:port (one attempt), or -1 with `error`
/// set.
int connect_loopback(std::uint16_t port, std::string& error);

/// One TCP connect attempt to 127.0.0.1:port (no retry).
bool can_connect(std::uint16_t port);

/// A temporary directory, removed with everything in it on destruction
/// unless `keep` is set.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const {
    return path_;
  }
  bool keep = false;

private:
  std::string path_;
};

/// How a process ended.
struct exit_status {
  bool exited = false;    ///< exited by itself (not by a signal)
  int code = -1;          ///< exit code when `exited`
  int signal = 0;         ///< the signal that ended it otherwise
  bool timed_out = false; ///< did not end before the deadline (then killed)

  bool clean() const {
    return exited && code == 0;
  }
};

std::ostream& operator<<(std::ostream& os, const exit_status& st);

struct process_options {
  /// Extra environment variables, applied after the defaults; an entry
  /// with a nullopt value removes the variable.
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  /// Set HOOKD_ADMIN_TOKEN to test_admin_token.
  bool admin_token = true;
  /// Wait for the listening line in the constructor. Off for processes that
  /// are expected to fail at start.
  bool wait_listening = true;
  /// After the listening line, also wait until a TCP connect succeeds, so
  /// that a server announcing itself before listen() (a bug that
  /// integration_server.accepts_connections_as_soon_as_it_prints_the_listening_line
  /// catches) does not make every other test flaky.
  bool wait_connectable = true;
  /// Try one TCP connect from the stdout reader thread the moment the
  /// listening line arrives (see `connect_at_line()`).
  bool probe_at_line = false;
  /// Open-file limit (soft and hard) of the process, when set.
  std::optional<unsigned long> open_files;
};

/// One running hookd, started with fork/exec (it gets SIGKILL if the test
/// runner dies). Its stdout is read through a pipe by a background thread;
/// its stderr goes to a file next to (not inside) the data dir. The
/// destructor kills it if it still runs and removes the directories.
class hookd_process {
public:
  /// Starts hookd on a fresh data dir.
  explicit hookd_process(process_options opts = {});

  /// Starts hookd on the data dir of an earlier process (restart).
  hookd_process(std::shared_ptr<temp_dir> root, process_options opts);

  ~hookd_process();
  hookd_process(const hookd_process&) = delete;
  hookd_process& operator=(const hookd_process&) = delete;

  /// A new process on this one's data dir, with the same options unless
  /// others are given. Stop this one first.
  std::unique_ptr<hookd_process> restart() const;
  std::unique_ptr<hookd_process> restart(process_options opts) const;

  /// True once the listening line was seen.
  bool listening() const {
    return port_ != 0;
  }
  std::uint16_t port() const {
    return port_;
  }
  /// The host printed in the listening line.
  const std::string& host() const {
    return host_;
  }
  /// The scheme printed in the listening line: "http" or "https".
  const std::string& scheme() const {
    return scheme_;
  }
  pid_t pid() const {
    return pid_;
  }
  bool running() const {
    return pid_ > 0 && !status_;
  }

  /// A client with the test admin token (or `token`).
  http_client client() const;
  http_client client(std::optional<std::string> token) const;

  /// Sends `sig` and waits up to `deadline` for the process to end; on
  /// timeout kills it with SIGKILL. Returns how it ended. Idempotent.
  exit_status stop(int sig = SIGTERM,
                   std::chrono::milliseconds deadline = stop_deadline);

  /// SIGKILL, for tests that are not about shutdown.
  exit_status kill() {
    return stop(SIGKILL, 5s);
  }

  /// Waits for the process to end by itself (for start-up failures).
  exit_status wait_exit(std::chrono::milliseconds deadline = start_deadline);

  /// Everything read from stdout so far (all of it once the process ended).
  std::string stdout_text() const;
  /// Everything written to stderr so far.
  std::string stderr_text() const;

  /// The data dir (HOOKD_DATA_DIR) and the directory holding it.
  std::string data_dir() const;
  const std::shared_ptr<temp_dir>& root() const {
    return root_;
  }
  /// Keep the directories after the test (for debugging a failure).
  void keep_files() {
    root_->keep = true;
  }

  /// With `probe_at_line`: whether the connect made right when the
  /// listening line arrived succeeded (nullopt if no line came).
  std::optional<bool> connect_at_line() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return connect_at_line_;
  }

  /// Why start-up failed, when `listening()` is false.
  const std::string& start_error() const {
    return start_error_;
  }

private:
  void spawn(const process_options& opts);
  void read_stdout();
  bool wait_for_listening(std::chrono::milliseconds deadline);
  bool reap(bool block);

  std::shared_ptr<temp_dir> root_;
  process_options opts_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  std::optional<exit_status> status_;
  std::uint16_t port_ = 0;
  std::string host_;
  std::string scheme_;
  std::string start_error_;

  int stdout_fd_ = -1;
  std::thread reader_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::string stdout_;
  bool stdout_eof_ = false;
  std::optional<bool> connect_at_line_;
};

/// The body of a create: an active webhook `name` delivering to `url`,
/// with the fields of `extra` added (or replacing these).
inline json active_hook(const std::string& name, const std::string& url,
                        const json& extra = json::object()) {
  json body{{"name", name},
            {"displayName", "Hook " + name},
            {"payloadUrl", url},
            {"active", true}};
  for (auto& [k, v] : extra.items())
    body[k] = v;
  return body;
}

/// Polls `pred` until it holds or the deadline passes; its last answer.
template <class Predicate>
bool eventually(Predicate pred, std::chrono::milliseconds deadline = 20s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

#ifdef HOOKD_TESTING_BINARY
/// While it lives, processes run hookd-testing (the build with the crash
/// route) instead of hookd.
struct testing_binary {
  testing_binary() {
    setenv("HOOKD_TEST_BINARY", HOOKD_TESTING_BINARY, 1);
  }
  ~testing_binary() {
    unsetenv("HOOKD_TEST_BINARY");
  }
};
#endif

/// Every file under `dir`, recursively (regular files only).
std::vector<std::string> files_under(const std::string& dir);

/// The files under `dir` whose bytes contain `needle`.
std::vector<std::string> files_containing(const std::string& dir,
                                          const std::string& needle);

/// Counts the non-overlapping occurrences of `needle` in `text`.
std::size_t count_of(const std::string& text, const std::string& needle);

/// Another organization whose data lives in `org`'s partition among
/// `partitions` (FNV-1a-64 of the name, modulo the count: SPEC section 9).
std::string org_in_partition_of(const std::string& org,
                                std::uint32_t partitions = 64);

} // namespace hookd_test
