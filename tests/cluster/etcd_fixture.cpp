#include "etcd_fixture.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <curl/curl.h>

namespace hookd::testing {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* etcd_binary = "/usr/bin/etcd";
constexpr milliseconds poll_interval{20};
constexpr milliseconds health_timeout{500};

size_t keep_body(char* data, size_t size, size_t n, void* p) {
  auto* body = static_cast<std::string*>(p);
  if (body->size() < 4096)
    body->append(data, size * n);
  return size * n;
}

/// Whether etcd answers GET /health with {"health":"true"}: it has a leader
/// and serves reads.
bool healthy(const std::string& endpoint) {
  CURL* e = curl_easy_init();
  if (e == nullptr)
    return false;
  std::string body;
  auto url = endpoint + "/health";
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(health_timeout.count()));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
  auto rc = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  return rc == CURLE_OK && status == 200
         && body.find("\"health\":\"true\"") != std::string::npos;
}

} // namespace

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket: " + std::string{std::strerror(errno)});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::close(fd);
    throw std::runtime_error("no free loopback port: " + why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

etcd_server::etcd_server(milliseconds ready_within)
    : ready_within_(ready_within) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (::access(etcd_binary, X_OK) != 0)
    throw std::runtime_error(std::string{etcd_binary}
                             + " is missing: install etcd-server "
                               "(scripts/install-deps.sh)");
  char pattern[] = "/tmp/hookd-etcd-XXXXXX";
  if (::mkdtemp(pattern) == nullptr)
    throw std::runtime_error("mkdtemp: " + std::string{std::strerror(errno)});
  dir_ = pattern;
  data_dir_ = dir_ + "/data";
  log_file_ = dir_ + "/etcd.log";
  client_port_ = free_port();
  do
    peer_port_ = free_port();
  while (peer_port_ == client_port_);
  endpoint_ = "http://127.0.0.1:" + std::to_string(client_port_);
  try {
    start();
    wait_ready();
  } catch (...) {
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

etcd_server::~etcd_server() {
  // The data goes with the directory, so nothing is gained by etcd's
  // graceful shutdown, which takes over a second.
  kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void etcd_server::start() {
  auto peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  // Every string is made before fork: the child only calls what is safe
  // between fork and exec in a process with threads.
  std::vector<std::string> args = {
      etcd_binary,
      "--name=hookd-test",
      "--data-dir=" + data_dir_,
      "--listen-client-urls=" + endpoint_,
      "--advertise-client-urls=" + endpoint_,
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=hookd-test=" + peer,
      "--initial-cluster-state=new",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
  };
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = ::open(log_file_.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("open " + log_file_ + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    auto why = std::string{std::strerror(errno)};
    ::close(log_fd);
    ::close(null_fd);
    throw std::runtime_error("fork: " + why);
  }
  if (pid == 0) {
    // A test that crashes must not leave etcd behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    if (null_fd >= 0)
      ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0)
    ::close(null_fd);
  pid_ = pid;
  paused_ = false;
}

void etcd_server::wait_ready() {
  auto deadline = clock_type::now() + ready_within_;
  while (clock_type::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("etcd exited at start (status "
                               + std::to_string(status) + "):\n" + log_tail());
    }
    if (healthy(endpoint_))
      return;
    std::this_thread::sleep_for(poll_interval);
  }
  throw std::runtime_error("etcd did not become healthy within "
                           + std::to_string(ready_within_.count()) + " ms:\n"
                           + log_tail());
}

void etcd_server::reap(int signal, milliseconds grace) {
  if (pid_ <= 0)
    return;
  if (paused_ && signal != SIGKILL)
    ::kill(pid_, SIGCONT); // a stopped process cannot act on SIGTERM
  ::kill(pid_, signal);
  auto deadline = clock_type::now() + grace;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD))
      break;
    if (clock_type::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds{5});
  }
  pid_ = -1;
  paused_ = false;
}

void etcd_server::stop(milliseconds grace) {
  reap(SIGTERM, grace);
}

void etcd_server::kill() {
  reap(SIGKILL, std::chrono::seconds{5});
}

void stop_process(pid_t pid) {
  ::kill(pid, SIGSTOP);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
    std::string text{std::istreambuf_iterator<char>{stat}, {}};
    // "pid (comm) S ...": the state follows the last ')'.
    auto close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size())
      return; // gone
    auto state = text[close + 2];
    if (state == 'T' || state == 't')
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
}

void etcd_server::pause() {
  if (pid_ > 0 && !paused_) {
    stop_process(pid_);
    paused_ = true;
  }
}

void etcd_server::resume() {
  if (pid_ > 0 && paused_) {
    ::kill(pid_, SIGCONT);
    paused_ = false;
  }
}

void etcd_server::restart() {
  stop();
  start();
  wait_ready();
}

std::string etcd_server::log_tail(std::size_t bytes) const {
  std::ifstream in{log_file_, std::ios::binary};
  std::string all{std::istreambuf_iterator<char>{in},
                  std::istreambuf_iterator<char>{}};
  if (all.size() > bytes)
    all.erase(0, all.size() - bytes);
  return all;
}

} // namespace hookd::testing
