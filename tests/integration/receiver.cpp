#include "receiver.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hookd_test {

namespace {

constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr std::size_t max_body_bytes = 64 * 1024 * 1024;

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty()
         && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string{s};
}

const char* reason_of(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 307:
    return "Temporary Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 408:
    return "Request Timeout";
  case 410:
    return "Gone";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Status";
  }
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

} // namespace

std::optional<std::string>
received_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name))
      return v;
  return std::nullopt;
}

std::size_t received_request::header_count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(headers.begin(), headers.end(),
                    [&](const auto& h) { return iequals(h.first, name); }));
}

receiver::receiver() {
  default_reply_.status = 200;
  default_reply_.headers = {{"Content-Type", "application/json"}};
  default_reply_.body = R"({"ok":true})";
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string{"pipe2: "} + std::strerror(errno));
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0)
    throw std::runtime_error(std::string{"socket: "} + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::listen(listen_fd_, 128) != 0)
    throw std::runtime_error(std::string{"bind/listen: "}
                             + std::strerror(errno));
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread{[this] { accept_loop(); }};
}

receiver::~receiver() {
  stop();
}

std::string receiver::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string{path};
}

void receiver::set_responder(responder r) {
  std::lock_guard<std::mutex> guard{mtx_};
  responder_ = std::move(r);
}

void receiver::set_default_reply(reply r) {
  std::lock_guard<std::mutex> guard{mtx_};
  default_reply_ = std::move(r);
}

void receiver::reply_on(const std::string& path, std::vector<reply> replies) {
  std::lock_guard<std::mutex> guard{mtx_};
  sequences_[path] = std::move(replies);
}

std::vector<received_request> receiver::requests() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return requests_;
}

std::vector<received_request>
receiver::requests_to(std::string_view path) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<received_request> out;
  for (const auto& r : requests_)
    if (r.path == path)
      out.push_back(r);
  return out;
}

std::size_t receiver::count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return requests_.size();
}

std::size_t receiver::connections() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return connections_;
}

bool receiver::wait_for(std::size_t n,
                        std::chrono::milliseconds deadline) const {
  return wait_for(
      [n](const std::vector<received_request>& all) { return all.size() >= n; },
      deadline);
}

bool receiver::wait_for(
    const std::function<bool(const std::vector<received_request>&)>& done,
    std::chrono::milliseconds deadline) const {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::unique_lock<std::mutex> lock{mtx_};
  for (;;) {
    if (done(requests_))
      return true;
    if (std::chrono::steady_clock::now() >= until)
      return false;
    // Woken by every new request; the short step also re-checks the
    // predicate in case it depends on something besides the requests.
    cv_.wait_for(lock, 20ms);
  }
}

bool receiver::wait_for_path(std::string_view path, std::size_t n,
                             std::chrono::milliseconds deadline) const {
  std::string p{path};
  return wait_for(
      [&](const std::vector<received_request>& all) {
        return static_cast<std::size_t>(
                   std::count_if(all.begin(), all.end(),
                                 [&](const auto& r) { return r.path == p; }))
               >= n;
      },
      deadline);
}

void receiver::stop() {
  if (stopping_.exchange(true))
    return;
  char b = 1;
  (void)!::write(stop_pipe_[1], &b, 1);
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable())
    acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> guard{threads_mtx_};
    threads.swap(threads_);
  }
  for (auto& t : threads)
    if (t.joinable())
      t.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
  cv_.notify_all();
}

void receiver::accept_loop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    int pr = ::poll(p, 2, -1);
    if (pr < 0 && errno == EINTR)
      continue;
    if (stopping_ || (p[1].revents & POLLIN) != 0)
      return;
    if (pr <= 0 || (p[0].revents & POLLIN) == 0) {
      if ((p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
        return;
      continue;
    }
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::size_t conn;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      conn = connections_++;
    }
    std::lock_guard<std::mutex> guard{threads_mtx_};
    threads_.emplace_back([this, fd, conn] { serve(fd, conn); });
  }
}

bool receiver::pause(std::chrono::milliseconds d) const {
  auto until = std::chrono::steady_clock::now() + d;
  for (;;) {
    if (stopping_)
      return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return true;
    pollfd p{stop_pipe_[0], POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

reply receiver::answer_for(const received_request& req, std::size_t nth) {
  responder r;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = sequences_.find(req.path);
    if (it != sequences_.end() && !it->second.empty())
      return it->second[std::min(nth, it->second.size() - 1)];
    if (!responder_)
      return default_reply_;
    r = responder_;
  }
  return r(req, nth);
}

void receiver::serve(int fd, std::size_t connection) {
  std::string buf;
  // Reads more bytes into `buf`; false when the peer closed, on an error,
  // or when the receiver stops.
  auto read_more = [&]() -> bool {
    for (;;) {
      pollfd p[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      int pr = ::poll(p, 2, -1);
      if (pr < 0 && errno == EINTR)
        continue;
      if (pr < 0 || stopping_ || (p[1].revents & POLLIN) != 0)
        return false;
      char chunk[16384];
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      buf.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
  };
  auto finish = [&] {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  };

  for (;;) {
    std::size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > max_head_bytes || !read_more())
        return finish();
    }
    received_request req;
    req.connection = connection;
    {
      std::string_view head{buf.data(), head_end};
      auto eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      auto sp1 = line.find(' ');
      auto sp2 = line.rfind(' ');
      if (sp1 == std::string_view::npos || sp2 == sp1)
        return finish();
      req.method = std::string{line.substr(0, sp1)};
      req.target = std::string{line.substr(sp1 + 1, sp2 - sp1 - 1)};
      req.version = std::string{line.substr(sp2 + 1)};
      req.path = req.target.substr(0, req.target.find('?'));
      std::string_view rest = eol == std::string_view::npos
                                  ? std::string_view{}
                                  : head.substr(eol + 2);
      while (!rest.empty()) {
        auto e = rest.find("\r\n");
        auto h = rest.substr(0, e);
        auto colon = h.find(':');
        if (colon != std::string_view::npos && colon > 0)
          req.headers.emplace_back(trim(h.substr(0, colon)),
                                   trim(h.substr(colon + 1)));
        if (e == std::string_view::npos)
          break;
        rest.remove_prefix(e + 2);
      }
    }
    std::size_t pos = head_end + 4;
    if (auto expect = req.header("Expect");
        expect && lower(*expect) == "100-continue")
      if (!send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n"))
        return finish();
    auto te = req.header("Transfer-Encoding");
    if (te && lower(*te).find("chunked") != std::string::npos) {
      for (;;) {
        std::size_t eol;
        while ((eol = buf.find("\r\n", pos)) == std::string::npos)
          if (!read_more())
            return finish();
        std::size_t size = 0;
        try {
          size = std::stoul(buf.substr(pos, eol - pos), nullptr, 16);
        } catch (const std::exception&) {
          return finish();
        }
        pos = eol + 2;
        if (size == 0) {
          // Trailers (ignored) up to the empty line.
          for (;;) {
            while ((eol = buf.find("\r\n", pos)) == std::string::npos)
              if (!read_more())
                return finish();
            bool empty = eol == pos;
            pos = eol + 2;
            if (empty)
              break;
          }
          break;
        }
        if (req.body.size() + size > max_body_bytes)
          return finish();
        while (buf.size() < pos + size + 2)
          if (!read_more())
            return finish();
        req.body.append(buf, pos, size);
        pos += size + 2;
      }
    } else {
      std::size_t length = 0;
      if (auto cl = req.header("Content-Length")) {
        try {
          length = std::stoul(*cl);
        } catch (const std::exception&) {
          return finish();
        }
      }
      if (length > max_body_bytes)
        return finish();
      while (buf.size() < pos + length)
        if (!read_more())
          return finish();
      req.body = buf.substr(pos, length);
      pos += length;
    }
    buf.erase(0, pos);

    bool keep_alive = req.version == "HTTP/1.1";
    if (auto c = req.header("Connection")) {
      auto v = lower(*c);
      if (v.find("close") != std::string::npos)
        keep_alive = false;
      else if (v.find("keep-alive") != std::string::npos)
        keep_alive = true;
    }

    std::size_t nth;
    req.arrived = std::chrono::steady_clock::now();
    req.arrived_wall = std::chrono::system_clock::now();
    {
      std::lock_guard<std::mutex> guard{mtx_};
      nth = per_path_[req.path]++;
      req.index = requests_.size();
      requests_.push_back(req);
    }
    cv_.notify_all();

    reply r = answer_for(req, nth);
    if (r.delay.count() > 0 && !pause(r.delay))
      return finish();
    if (r.close_without_answer)
      return finish();

    std::string out = "HTTP/1.1 " + std::to_string(r.status) + ' '
                      + reason_of(r.status) + "\r\n";
    bool has_length = false;
    for (const auto& [k, v] : r.headers) {
      if (iequals(k, "Content-Length"))
        has_length = true;
      out += k + ": " + v + "\r\n";
    }
    if (!has_length)
      out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    if (!keep_alive)
      out += "Connection: close\r\n";
    out += "\r\n";
    out += r.body;
    if (r.drip.count() > 0) {
      // A byte at a time, as a receiver that is slow to answer does.
      for (char c : out)
        if (!send_all(fd, std::string_view{&c, 1}) || !pause(r.drip))
          return finish();
      if (!keep_alive)
        return finish();
      continue;
    }
    if (!send_all(fd, out) || !keep_alive)
      return finish();
  }
}

} // namespace hookd_test
