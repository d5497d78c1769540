#pragma once

// A real etcd for tests: its own /usr/bin/etcd process (never the system
// service), a single member on free loopback ports, with a data directory
// under /tmp that goes away with it.
//
//   hookd::testing::etcd_server etcd;            // started and healthy
//   hookd::etcd::client c{{etcd.endpoint()}, 2s};
//   etcd.kill();                                 // SIGKILL, data kept
//   etcd.restart();                              // same ports and data
//
// Failing to start throws std::runtime_error with the end of etcd's log.
// The process is started with a parent-death signal tied to the starting
// thread: start and restart it from the test's own thread, not from a
// thread that ends before the test does.

#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>

namespace hookd::testing {

class etcd_server {
public:
  /// Starts etcd and waits until it answers, for at most `ready_within`.
  explicit etcd_server(std::chrono::milliseconds ready_within
                       = std::chrono::seconds{15});
  /// Kills etcd and removes its directory.
  ~etcd_server();

  etcd_server(const etcd_server&) = delete;
  etcd_server& operator=(const etcd_server&) = delete;

  /// "http://127.0.0.1:PORT", the client URL.
  const std::string& endpoint() const {
    return endpoint_;
  }
  std::uint16_t client_port() const {
    return client_port_;
  }
  const std::string& data_dir() const {
    return data_dir_;
  }
  bool running() const {
    return pid_ > 0;
  }

  /// SIGTERM, then SIGKILL if etcd has not exited within `grace` (a
  /// single member takes about 1.4 s to shut down gracefully).
  void stop(std::chrono::milliseconds grace = std::chrono::seconds{5});
  /// SIGKILL, as a crash would.
  void kill();
  /// SIGSTOP / SIGCONT: etcd keeps its sockets but answers nothing, as a
  /// hung process would.
  void pause();
  void resume();
  /// Stops etcd if it runs, then starts it again on the same ports with the
  /// same data, and waits until it answers.
  void restart();

  /// The end of etcd's log (stdout and stderr of every start), for failure
  /// messages.
  std::string log_tail(std::size_t bytes = 4096) const;

private:
  void start();
  void wait_ready();
  void reap(int signal, std::chrono::milliseconds grace);

  std::chrono::milliseconds ready_within_;
  std::string dir_;
  std::string data_dir_;
  std::string log_file_;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
  std::string endpoint_;
  pid_t pid_ = -1;
  bool paused_ = false;
};

/// A loopback TCP port no socket holds now (bound to 127.0.0.1:0 and read
/// back). Another process may take it before it is used: the window is
/// small, and etcd failing to bind shows in its log.
std::uint16_t free_port();

/// Sends SIGSTOP to `pid` and returns once the process is stopped (its
/// /proc state says so, or 5 s passed): the signal is delivered later
/// than kill() returns, and a process still running for that moment can
/// answer what the test meant it not to.
void stop_process(pid_t pid);

} // namespace hookd::testing
