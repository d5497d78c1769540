// The delivery client: libcurl's multi interface on one transfer thread,
// wrapped in an actor. One thread serves every connection; the multi handle
// keeps connections alive and reuses them per host.
#include "address_class.hpp"
#include "hookd/components.hpp"
#include "hookd/defaults.hpp"
#include "hookd/fence.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"
#include "retry_policy.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <netinet/in.h>
#include <thread>
#include <unordered_map>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace hookd {

namespace {

constexpr std::size_t response_body_max = 64 * 1024;
constexpr int poll_timeout_ms = 1000;
constexpr std::size_t max_idle_handles = 256;
/// Transfers to one receiver (scheme, host and port) at once, and to all
/// of them: the rest wait here, in a queue per receiver taken in turns.
/// libcurl keeps transfers past its connection limits in one list that it
/// walks on every completion, so handing it thousands (a fan-out to a
/// thousand webhooks) made each delivery cost as much as all of them.
constexpr std::size_t max_per_receiver = 16;
constexpr std::size_t max_transfers = defaults::delivery_connections;

/// The receiver part of `url` ("scheme://host:port"): transfers are queued
/// by it.
std::string receiver_of(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return url;
  auto start = scheme_end + 3;
  auto end = url.find_first_of("/?#", start);
  auto authority = url.substr(
      start, end == std::string::npos ? std::string::npos : end - start);
  if (auto at = authority.rfind('@'); at != std::string::npos)
    authority.erase(0, at + 1);
  return url.substr(0, start) + authority;
}

/// The class of the address a connection would go to.
domain::address_class class_of(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return domain::classify_v4(
        ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr));
  if (sa->sa_family == AF_INET6) {
    std::array<std::uint8_t, 16> bytes;
    std::memcpy(bytes.data(),
                reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr,
                bytes.size());
    return domain::classify_v6(bytes);
  }
  return domain::address_class::reserved;
}

std::string address_text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf,
              sizeof buf);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr,
              buf, sizeof buf);
  return buf;
}

/// One transfer in flight.
struct transfer {
  std::uint64_t id = 0;
  http_request request;
  /// receiver_of(request.url): its queue in the engine.
  std::string receiver;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  header_list response_headers;
  std::string body;
  std::string refused;
  /// Not sent: the fence closed before the request went out.
  bool fenced = false;
  const delivery_options* options = nullptr;
};

curl_socket_t open_socket(void* clientp, curlsocktype, curl_sockaddr* addr) {
  auto* t = static_cast<transfer*>(clientp);
  // The address checked is the one connected to: a name that resolves to a
  // public address first and a private one later cannot slip through.
  auto cls = class_of(&addr->addr);
  if (!t->options->allow_private_targets && !domain::publicly_routable(cls)) {
    t->refused = "refused to connect to private address "
                 + address_text(&addr->addr) + " (" + domain::to_string(cls)
                 + "; HOOKD_ALLOW_PRIVATE_TARGETS=1 allows it)";
    return CURL_SOCKET_BAD;
  }
  return ::socket(addr->family, addr->socktype, addr->protocol);
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* p) {
  auto* t = static_cast<transfer*>(p);
  std::string_view line{data, size * n};
  if (line.rfind("HTTP/", 0) == 0) {
    t->response_headers.clear(); // a new response (after 100 Continue)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n'))
      value.remove_suffix(1);
    t->response_headers.emplace_back(std::string{line.substr(0, colon)},
                                     std::string{value});
  }
  return size * n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* p) {
  auto* t = static_cast<transfer*>(p);
  auto room = response_body_max - std::min(response_body_max, t->body.size());
  t->body.append(data, std::min(room, size * n));
  return size * n;
}

/// Right before the request goes out on its connection: a cluster member
/// whose lease ran out meanwhile (paused, cut off from etcd) sends nothing,
/// though the attempt began while it held it.
int before_sending(void* p, char*, char*, int, int) {
  auto* t = static_cast<transfer*>(p);
  if (fence::is_open())
    return CURL_PREREQFUNC_OK;
  t->fenced = true;
  return CURL_PREREQFUNC_ABORT;
}

CURLcode add_ca_file(CURL*, void* ssl_ctx, void* p) {
  auto* t = static_cast<transfer*>(p);
  auto* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (X509_STORE_load_file(store, t->options->ca_file.c_str()) != 1)
    return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

/// The wait the first readable Retry-After asks for; -1 without one.
std::int64_t retry_after(const header_list& headers) {
  for (const auto& [name, value] : headers) {
    if (strcasecmp(name.c_str(), "Retry-After") != 0)
      continue;
    if (auto wait = domain::parse_retry_after(value, std::time(nullptr));
        wait >= 0)
      return wait;
  }
  return -1;
}

} // namespace

/// libcurl's multi interface on its own thread.
class transfer_engine {
public:
  using completion = std::function<void(std::uint64_t, http_result)>;

  transfer_engine(delivery_options options, completion done)
      : options_(std::move(options)), done_(std::move(done)) {
    multi_ = curl_multi_init();
    // Bounded per host so one slow receiver cannot take every socket.
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(max_per_receiver));
    // Connections to receivers, open and cached, bounded as a whole: a
    // tenant's hooks to many hosts wait for a connection rather than take
    // the node's file descriptors.
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(defaults::delivery_connections));
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      static_cast<long>(defaults::delivery_connections));
    thread_ = std::thread{[this] { run(); }};
  }

  ~transfer_engine() {
    stopping_ = true;
    curl_multi_wakeup(multi_);
    thread_.join();
    for (auto& [easy, t] : active_) {
      curl_multi_remove_handle(multi_, easy);
      release(*t);
    }
    for (auto* e : idle_handles_)
      curl_easy_cleanup(e);
    curl_multi_cleanup(multi_);
  }

  void submit(std::uint64_t id, http_request req) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      incoming_.emplace_back(id, std::move(req));
    }
    curl_multi_wakeup(multi_);
  }

private:
  void start(std::uint64_t id, http_request req, std::string receiver) {
    auto t = std::make_unique<transfer>();
    t->id = id;
    t->request = std::move(req);
    t->receiver = std::move(receiver);
    t->options = &options_;
    t->easy = take_handle();
    auto* e = t->easy;
    for (const auto& [name, value] : t->request.headers)
      t->headers = curl_slist_append(t->headers, (name + ": " + value).c_str());
    // No "Expect: 100-continue" round trip on larger bodies.
    t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(t->request.body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(t->request.timeout.count()));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    // Straight to the receiver, whatever http_proxy/https_proxy say: the
    // address guard checks the socket's address, which through a proxy
    // would be the proxy's, not the receiver's.
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, before_sending);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, t.get());
    if (!options_.ca_file.empty()) {
      curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, add_ca_file);
      curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, t.get());
    }
    curl_multi_add_handle(multi_, e);
    active_.emplace(e, std::move(t));
  }

  /// Starts a transfer now, or queues it behind its receiver's.
  void admit(std::uint64_t id, http_request req) {
    auto key = receiver_of(req.url);
    auto& r = receivers_[key];
    if (r.active < max_per_receiver && active_.size() < max_transfers) {
      ++r.active;
      start(id, std::move(req), std::move(key));
      return;
    }
    if (r.waiting.empty())
      turns_.push_back(key);
    r.waiting.emplace_back(id, std::move(req));
  }

  /// Starts what waited, a receiver at a time in turn, while there is room.
  void start_waiting() {
    for (auto n = turns_.size(); n > 0 && active_.size() < max_transfers; --n) {
      auto key = std::move(turns_.front());
      turns_.pop_front();
      auto it = receivers_.find(key);
      if (it == receivers_.end() || it->second.waiting.empty())
        continue;
      auto& r = it->second;
      if (r.active < max_per_receiver) {
        auto [id, req] = std::move(r.waiting.front());
        r.waiting.pop_front();
        ++r.active;
        start(id, std::move(req), key);
      }
      if (!r.waiting.empty())
        turns_.push_back(std::move(key));
    }
  }

  void finish(CURL* easy, CURLcode code) {
    auto it = active_.find(easy);
    if (it == active_.end())
      return;
    auto t = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    if (auto r = receivers_.find(t->receiver); r != receivers_.end()
                                               && --r->second.active == 0
                                               && r->second.waiting.empty())
      receivers_.erase(r);
    http_result r;
    curl_off_t micros = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &micros);
    r.duration_ms = static_cast<std::int64_t>(micros / 1000);
    if (code == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.code);
      r.response_headers = header_block(t->response_headers);
      r.response_body = std::move(t->body);
      r.retry_after_s = retry_after(t->response_headers);
    } else if (t->fenced) {
      r.error = "not sent: this node lost its cluster lease (fenced)";
    } else if (!t->refused.empty()) {
      r.error = t->refused;
      r.refused = true;
      // Once a transfer; the URL is not logged (it may carry a secret).
      metrics::private_target_refused();
      log::warn("refused a delivery to a private address",
                {{"reason", t->refused}});
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      r.error = "timeout after " + std::to_string(t->request.timeout.count())
                + " ms";
    } else {
      r.error = curl_easy_strerror(code);
    }
    recycle(*t);
    done_(t->id, std::move(r));
  }

  /// Easy handles are kept for the next transfer: a fresh one allocates
  /// tens of kilobytes of buffers, which dominated the cost of a delivery.
  CURL* take_handle() {
    if (idle_handles_.empty())
      return curl_easy_init();
    auto* e = idle_handles_.back();
    idle_handles_.pop_back();
    return e;
  }

  void recycle(transfer& t) {
    curl_slist_free_all(t.headers);
    t.headers = nullptr;
    if (idle_handles_.size() < max_idle_handles) {
      curl_easy_reset(t.easy);
      idle_handles_.push_back(t.easy);
    } else {
      curl_easy_cleanup(t.easy);
    }
    t.easy = nullptr;
  }

  static void release(transfer& t) {
    curl_easy_cleanup(t.easy);
    curl_slist_free_all(t.headers);
  }

  void run() {
    while (!stopping_) {
      std::deque<std::pair<std::uint64_t, http_request>> fresh;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        fresh.swap(incoming_);
      }
      for (auto& [id, req] : fresh)
        admit(id, std::move(req));
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      bool finished = false;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left))
        if (msg->msg == CURLMSG_DONE) {
          finish(msg->easy_handle, msg->data.result);
          finished = true;
        }
      if (finished && !turns_.empty()) {
        start_waiting();
        // What just started goes out now, not after the poll.
        continue;
      }
      curl_multi_poll(multi_, nullptr, 0, poll_timeout_ms, nullptr);
    }
  }

  delivery_options options_;
  completion done_;
  CURLM* multi_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mtx_;
  std::deque<std::pair<std::uint64_t, http_request>> incoming_;
  std::unordered_map<CURL*, std::unique_ptr<transfer>> active_;
  std::vector<CURL*> idle_handles_;
  struct receiver {
    std::size_t active = 0;
    std::deque<std::pair<std::uint64_t, http_request>> waiting;
  };
  /// By receiver_of(url): those with transfers running or waiting.
  std::unordered_map<std::string, receiver> receivers_;
  /// Receivers with transfers waiting, in the order they get their turn.
  std::deque<std::string> turns_;
};

namespace {

struct delivery_state {
  static inline const char* name = "hookd.delivery";
  std::unique_ptr<transfer_engine> engine;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<http_result>>
      pending;
};

using self_ptr = delivery_actor::stateful_pointer<delivery_state>;

delivery_actor::behavior_type delivery_behavior(self_ptr self,
                                                delivery_options options) {
  auto addr = self->address();
  self->state.engine = std::make_unique<transfer_engine>(
      std::move(options), [addr](std::uint64_t id, http_result r) {
        // Weak: the engine lives inside the actor and must not keep it alive.
        if (auto hdl = caf::actor_cast<caf::actor>(addr))
          caf::anon_send(hdl, atom::done::value, id, std::move(r));
      });
  return {
      [=](http_request& req) -> caf::typed_response_promise<http_result> {
        auto id = ++self->state.next_id;
        auto rp = self->make_response_promise<http_result>();
        // A cluster member without a live lease starts no attempt: the
        // partition's new owner delivers instead.
        if (!fence::is_open()) {
          http_result r;
          r.error = "not attempted: this node lost its cluster lease (fenced)";
          rp.deliver(std::move(r));
          return rp;
        }
        self->state.pending.emplace(id, rp);
        self->state.engine->submit(id, std::move(req));
        return rp;
      },
      [=](atom::status) {
        return component_status{"delivery", true, {}};
      },
      [=](atom::done, std::uint64_t id, http_result& r) {
        auto it = self->state.pending.find(id);
        if (it == self->state.pending.end())
          return;
        it->second.deliver(std::move(r));
        self->state.pending.erase(it);
      },
  };
}

} // namespace

delivery_actor spawn_delivery(caf::actor_system& sys,
                              delivery_options options) {
  static std::once_flag curl_ready;
  std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return sys.spawn(delivery_behavior, std::move(options));
}

} // namespace hookd
