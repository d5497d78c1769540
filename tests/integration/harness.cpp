#include "harness.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace hookd_test {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

namespace {

std::string errno_text(const char* what) {
  return std::string{what} + ": " + std::strerror(errno);
}

/// libcurl wants one global initialization before any thread uses it.
void curl_init_once() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  return s.substr(b);
}

/// Parses "Name: value" into `out`; ignores anything else.
void add_header_line(const std::string& line, header_list& out) {
  auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0)
    return;
  out.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* headers = static_cast<header_list*>(user);
  std::string line{data, size * n};
  // A new status line (after a 100 Continue) starts a new header block.
  if (line.rfind("HTTP/", 0) == 0)
    headers->clear();
  else
    add_header_line(line, *headers);
  return size * n;
}

bool has_header(const header_list& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return iequals(h.first, name); });
}

std::atomic<unsigned> process_counter{0};

} // namespace

// -- helpers ---------------------------------------------------------------

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i]))
        != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr)
      != 1)
    throw std::runtime_error("EVP_Digest failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::optional<std::string> http_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name))
      return v;
  return std::nullopt;
}

json http_response::body_json() const {
  return json::parse(body, nullptr, false);
}

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file())
      out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> files_containing(const std::string& dir,
                                          const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& path : files_under(dir)) {
    std::ifstream in{path, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{in},
                      std::istreambuf_iterator<char>{}};
    if (bytes.find(needle) != std::string::npos)
      out.push_back(path);
  }
  return out;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  if (needle.empty())
    return 0;
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// -- http_client -----------------------------------------------------------

http_client::http_client(std::uint16_t port, std::optional<std::string> token)
    : port_(port), token_(std::move(token)) {}

http_client http_client::as(std::optional<std::string> token) const {
  http_client other{port_, std::move(token)};
  other.ca_file_ = ca_file_;
  return other;
}

http_client http_client::over_tls(std::string ca_file) const {
  http_client other = *this;
  other.ca_file_ = std::move(ca_file);
  return other;
}

http_response http_client::request(const std::string& method,
                                   const std::string& path,
                                   const std::string& body,
                                   const header_list& headers) const {
  curl_init_once();
  http_response resp;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    resp.error = "curl_easy_init failed";
    return resp;
  }
  auto url = (ca_file_.empty() ? "http" : "https")
             + std::string{"://127.0.0.1:"} + std::to_string(port_) + path;
  curl_slist* list = nullptr;
  for (const auto& [k, v] : headers)
    list = curl_slist_append(list, (k + ": " + v).c_str());
  if (token_ && !has_header(headers, "Authorization"))
    list = curl_slist_append(list, ("Authorization: token " + *token_).c_str());
  if (!body.empty() && !has_header(headers, "Content-Type"))
    list = curl_slist_append(list, "Content-Type: application/json");
  // No 100-continue round trip: send large bodies at once.
  list = curl_slist_append(list, "Expect:");

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
  if (!ca_file_.empty()) {
    // Only this CA: not the system's bundle nor its directory.
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, static_cast<char*>(nullptr));
  }
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method == "POST" || method == "PATCH"
      || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp.headers);
  auto rc = curl_easy_perform(curl);
  if (rc != CURLE_OK)
    resp.error = curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return resp;
}

std::string show(const http_response& r) {
  std::string out = "status " + std::to_string(r.status);
  if (!r.error.empty())
    out += " (transport error: " + r.error + ")";
  out += ", body: '" + r.body.substr(0, 2000) + "'";
  return out;
}

::testing::AssertionResult is_json_status(const http_response& r, long status) {
  if (r.status != status)
    return ::testing::AssertionFailure()
           << "want status " << status << ", got " << show(r);
  auto ct = r.header("Content-Type");
  if (!ct || ct->rfind("application/json", 0) != 0)
    return ::testing::AssertionFailure()
           << "want Content-Type application/json, got '"
           << ct.value_or("<none>") << "'; " << show(r);
  if (r.body_json().is_discarded())
    return ::testing::AssertionFailure() << "body is not JSON; " << show(r);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_error(const http_response& r, long status) {
  if (auto json_status = is_json_status(r, status); !json_status)
    return json_status;
  auto j = r.body_json();
  if (!j.is_object() || !j.contains("code") || !j["code"].is_number_integer()
      || j["code"].get<long>() != status || !j.contains("message")
      || !j["message"].is_string() || j["message"].get<std::string>().empty())
    return ::testing::AssertionFailure()
           << "want {\"code\":" << status << ",\"message\":\"...\"}; "
           << show(r);
  return ::testing::AssertionSuccess();
}

// -- raw socket ------------------------------------------------------------

int connect_loopback(std::uint16_t port, std::string& error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket");
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = errno_text("connect");
    ::close(fd);
    return -1;
  }
  return fd;
}

namespace {

void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      // The server may answer and close before reading everything.
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
}

} // namespace

std::string raw_stream(std::uint16_t port, const std::string& bytes,
                       std::chrono::milliseconds deadline) {
  std::string error;
  int fd = connect_loopback(port, error);
  if (fd < 0)
    return error;
  send_all(fd, bytes);
  std::string in;
  auto until = clock::now() + deadline;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr <= 0)
      continue;
    char buf[65536];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return in;
}

http_response raw_request(std::uint16_t port, const std::string& bytes,
                          std::chrono::milliseconds deadline) {
  http_response resp;
  int fd = connect_loopback(port, resp.error);
  if (fd < 0)
    return resp;
  send_all(fd, bytes);
  std::string in;
  auto until = clock::now() + deadline;
  std::size_t header_end = std::string::npos;
  std::optional<std::size_t> content_length;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::istringstream head{in.substr(0, header_end)};
        std::string line;
        std::getline(head, line);
        std::istringstream status_line{line};
        std::string version;
        status_line >> version >> resp.status;
        while (std::getline(head, line)) {
          if (!line.empty() && line.back() == '\r')
            line.pop_back();
          add_header_line(line, resp.headers);
        }
        if (auto cl = resp.header("Content-Length"))
          content_length = std::stoul(*cl);
      }
    }
    if (header_end != std::string::npos && content_length
        && in.size() >= header_end + 4 + *content_length)
      break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - clock::now());
    if (left.count() <= 0) {
      resp.error = "timed out reading the response";
      break;
    }
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0)
      continue;
    char buf[65536];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; // closed (or reset)
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (header_end != std::string::npos) {
    resp.body = in.substr(header_end + 4);
    if (content_length && resp.body.size() > *content_length)
      resp.body.resize(*content_length);
  } else if (resp.error.empty()) {
    resp.error = "no complete response; got: " + in;
  }
  return resp;
}

bool can_connect(std::uint16_t port) {
  std::string error;
  int fd = connect_loopback(port, error);
  if (fd < 0)
    return false;
  ::close(fd);
  return true;
}

// -- temp_dir --------------------------------------------------------------

temp_dir::temp_dir() {
  std::string templ = "/tmp/hookd-it-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error(errno_text("mkdtemp"));
  path_ = templ;
}

temp_dir::~temp_dir() {
  if (keep) {
    std::cerr << "[harness] kept " << path_ << '\n';
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::ostream& operator<<(std::ostream& os, const exit_status& st) {
  if (st.timed_out)
    os << "timed out (killed); ";
  if (st.exited)
    return os << "exited with " << st.code;
  if (st.signal != 0)
    return os << "killed by signal " << st.signal;
  return os << "unknown";
}

std::string hookd_binary() {
  if (const char* override_path = std::getenv("HOOKD_TEST_BINARY");
      override_path != nullptr && *override_path != '\0')
    return override_path;
  return HOOKD_BINARY;
}

// -- hookd_process ---------------------------------------------------------

hookd_process::hookd_process(process_options opts)
    : hookd_process(std::make_shared<temp_dir>(), std::move(opts)) {}

hookd_process::hookd_process(std::shared_ptr<temp_dir> root,
                             process_options opts)
    : root_(std::move(root)), opts_(std::move(opts)) {
  fs::create_directories(data_dir());
  stderr_path_ = root_->path() + "/stderr-"
                 + std::to_string(process_counter.fetch_add(1)) + ".log";
  spawn(opts_);
  if (opts_.wait_listening)
    wait_for_listening(start_deadline);
}

hookd_process::~hookd_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  if (reader_.joinable())
    reader_.join();
  if (stdout_fd_ >= 0)
    ::close(stdout_fd_);
}

std::string hookd_process::data_dir() const {
  return root_->path() + "/data";
}

std::unique_ptr<hookd_process> hookd_process::restart() const {
  return restart(opts_);
}

std::unique_ptr<hookd_process>
hookd_process::restart(process_options opts) const {
  return std::make_unique<hookd_process>(root_, std::move(opts));
}

void hookd_process::spawn(const process_options& opts) {
  // The environment: ours without any HOOKD_* setting, then the test's.
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (kv.rfind("HOOKD_", 0) == 0)
      continue;
    auto eq = kv.find('=');
    env.emplace_back(kv.substr(0, eq),
                     eq == std::string::npos ? "" : kv.substr(eq + 1));
  }
  auto set = [&](const std::string& k, const std::optional<std::string>& v) {
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const auto& p) { return p.first == k; }),
              env.end());
    if (v)
      env.emplace_back(k, *v);
  };
  set("HOOKD_HTTP_PORT", "0");
  set("HOOKD_DATA_DIR", data_dir());
  if (opts.admin_token)
    set("HOOKD_ADMIN_TOKEN", test_admin_token);
  for (const auto& [k, v] : opts.env)
    set(k, v);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env)
    env_strings.push_back(k + '=' + v);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);

  std::string binary = hookd_binary();
  std::vector<char*> argv{binary.data(), nullptr};

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(errno_text("pipe2"));
  // The child reports a failed exec through this pipe; a successful exec
  // closes it (O_CLOEXEC) without writing.
  int exec_fds[2];
  if (::pipe2(exec_fds, O_CLOEXEC) != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(errno_text("pipe2"));
  }
  const pid_t parent = ::getpid();
  const char* stderr_path = stderr_path_.c_str();
  rlimit files{};
  if (opts.open_files)
    files.rlim_cur = files.rlim_max = *opts.open_files;

  pid_ = ::fork();
  if (pid_ == 0) {
    // The child: async-signal-safe calls only.
    // If the test runner dies (a crash, a ctest timeout), so does hookd.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    int in = ::open("/dev/null", O_RDONLY);
    int err = ::open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(fds[1], 1) < 0
        || ::dup2(err, 2) < 0) {
      int e = errno;
      (void)!::write(exec_fds[1], &e, sizeof e);
      ::_exit(127);
    }
    if (opts.open_files && ::setrlimit(RLIMIT_NOFILE, &files) != 0) {
      int e = errno;
      (void)!::write(exec_fds[1], &e, sizeof e);
      ::_exit(127);
    }
    ::execve(binary.c_str(), argv.data(), envp.data());
    int e = errno;
    (void)!::write(exec_fds[1], &e, sizeof e);
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(fds[1]);
  ::close(exec_fds[1]);
  if (pid_ < 0) {
    ::close(fds[0]);
    ::close(exec_fds[0]);
    pid_ = -1;
    throw std::runtime_error("fork: " + std::string{std::strerror(fork_errno)});
  }
  int child_errno = 0;
  ssize_t n;
  do
    n = ::read(exec_fds[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  ::close(exec_fds[0]);
  if (n > 0) {
    ::close(fds[0]);
    reap(true);
    pid_ = -1;
    throw std::runtime_error("cannot start " + binary + ": "
                             + std::strerror(child_errno));
  }
  stdout_fd_ = fds[0];
  reader_ = std::thread{[this] { read_stdout(); }};
}

void hookd_process::read_stdout() {
  char buf[4096];
  for (;;) {
    auto n = ::read(stdout_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    std::lock_guard<std::mutex> guard{mtx_};
    if (n <= 0) {
      stdout_eof_ = true;
      cv_.notify_all();
      return;
    }
    stdout_.append(buf, static_cast<std::size_t>(n));
    if (opts_.probe_at_line && !connect_at_line_) {
      static const std::regex port_re{
          R"(hookd listening on https?://[^\n]*:([0-9]+)\n)"};
      std::smatch m;
      if (std::regex_search(stdout_, m, port_re))
        connect_at_line_
            = can_connect(static_cast<std::uint16_t>(std::stoul(m[1].str())));
    }
    cv_.notify_all();
  }
}

bool hookd_process::wait_for_listening(std::chrono::milliseconds deadline) {
  static const std::regex line_re{
      R"(hookd listening on (https?)://(\[[^\]]*\]|[^\s:/]+):([0-9]+)\n)"};
  std::smatch m;
  std::unique_lock<std::mutex> lock{mtx_};
  bool found = cv_.wait_for(lock, deadline, [&] {
    return std::regex_search(stdout_, m, line_re) || stdout_eof_;
  });
  if (found && !m.empty()) {
    scheme_ = m[1].str();
    host_ = m[2].str();
    auto port = static_cast<std::uint16_t>(std::stoul(m[3].str()));
    lock.unlock();
    if (opts_.wait_connectable) {
      auto until = clock::now() + deadline;
      while (!can_connect(port)) {
        if (clock::now() >= until) {
          start_error_ = "listening line printed but port "
                         + std::to_string(port) + " never accepted";
          return false;
        }
        std::this_thread::sleep_for(2ms);
      }
    }
    port_ = port;
    return true;
  }
  auto out = stdout_;
  lock.unlock();
  start_error_ = (found ? "hookd closed stdout before listening"
                        : "no listening line within the deadline")
                 + std::string{"; stdout: '"} + out + "'; stderr: '"
                 + stderr_text() + "'";
  return false;
}

bool hookd_process::reap(bool block) {
  if (status_)
    return true;
  int st = 0;
  pid_t r;
  do
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r != pid_)
    return false;
  exit_status es;
  if (WIFEXITED(st)) {
    es.exited = true;
    es.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    es.signal = WTERMSIG(st);
  }
  status_ = es;
  return true;
}

exit_status hookd_process::wait_exit(std::chrono::milliseconds deadline) {
  if (pid_ <= 0)
    return {};
  auto until = clock::now() + deadline;
  // Polls the child; the step is short so a fast exit is seen at once.
  while (!reap(false)) {
    if (clock::now() >= until) {
      ::kill(pid_, SIGKILL);
      reap(true);
      status_->timed_out = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  if (reader_.joinable())
    reader_.join();
  return *status_;
}

exit_status hookd_process::stop(int sig, std::chrono::milliseconds deadline) {
  if (pid_ <= 0)
    return {};
  if (!status_)
    ::kill(pid_, sig);
  return wait_exit(deadline);
}

std::string hookd_process::stdout_text() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return stdout_;
}

std::string hookd_process::stderr_text() const {
  std::ifstream in{stderr_path_, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

http_client hookd_process::client() const {
  return http_client{port_, std::string{test_admin_token}};
}

http_client hookd_process::client(std::optional<std::string> token) const {
  return http_client{port_, std::move(token)};
}

std::string org_in_partition_of(const std::string& org,
                                std::uint32_t partitions) {
  auto partition = [&](const std::string& name) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char ch : name) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    return h % partitions;
  };
  for (int i = 0;; ++i) {
    auto other = "other-" + std::to_string(i);
    if (partition(other) == partition(org))
      return other;
  }
}

} // namespace hookd_test
