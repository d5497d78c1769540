// The etcd client: one blocking libcurl transfer a call, on an easy handle
// taken from a small pool (so that connections are reused and concurrent
// calls do not wait for each other), and one streaming transfer a watch on
// a thread of its own.
#include "hookd/etcd.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "etcd_json.hpp"
#include "hookd/crypto.hpp"
#include "hookd/error.hpp"
#include "hookd/log.hpp"

namespace hookd::etcd {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

/// Idle easy handles kept for reuse; more concurrent calls make more, and
/// the extra ones are freed when done.
constexpr std::size_t max_idle_handles = 4;

/// How long a watch waits in curl_multi_poll before looking at its stop
/// flag again; stop() wakes it at once, so this is only a backstop.
constexpr int watch_poll_ms = 1000;

/// TCP keepalive on the watch stream, so that a peer that vanished from the
/// network (not one that merely stopped answering) ends the stream.
constexpr long watch_keepalive_idle_s = 5;
constexpr long watch_keepalive_interval_s = 2;

void init_curl() {
  static std::once_flag ready;
  std::call_once(ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string b64(const std::string& bytes) {
  return crypto::to_base64(bytes);
}

std::string i64(std::int64_t n) {
  return std::to_string(n);
}

/// The endpoint as errors and log lines show it: without user information,
/// should a URL carry some.
std::string shown(const std::string& endpoint) {
  auto scheme = endpoint.find("://");
  auto start = scheme == std::string::npos ? 0 : scheme + 3;
  auto at = endpoint.find('@', start);
  auto slash = endpoint.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && at > slash))
    return endpoint;
  return endpoint.substr(0, start) + endpoint.substr(at + 1);
}

/// Endpoints without a trailing slash, so that paths append cleanly.
std::vector<std::string> normalized(std::vector<std::string> endpoints) {
  for (auto& e : endpoints)
    while (!e.empty() && e.back() == '/')
      e.pop_back();
  return endpoints;
}

/// Whether a failed transfer certainly never reached etcd, so that another
/// endpoint may be tried without risking a write done twice.
bool never_sent(CURLcode rc, CURL* easy) {
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST
      || rc == CURLE_COULDNT_RESOLVE_PROXY)
    return true;
  long sent = 0;
  curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
  return sent == 0
         && (rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_SEND_ERROR
             || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING);
}

/// Options every transfer to etcd has.
void common_options(CURL* e, const std::string& url, const std::string& body,
                    curl_slist* headers, milliseconds connect_timeout) {
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(
      e, CURLOPT_CONNECTTIMEOUT_MS,
      std::max<long>(1, static_cast<long>(connect_timeout.count())));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  // etcd is reached directly: an http_proxy in the environment is meant
  // for the outside world, not for the cluster's own store.
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
}

struct header_list {
  curl_slist* list = nullptr;
  header_list() {
    list = curl_slist_append(list, "Content-Type: application/json");
    // No "Expect: 100-continue" round trip for larger bodies.
    list = curl_slist_append(list, "Expect:");
  }
  ~header_list() {
    curl_slist_free_all(list);
  }
  header_list(const header_list&) = delete;
  header_list& operator=(const header_list&) = delete;
};

/// The body of one unary answer, capped.
struct answer {
  std::string body;
  bool too_large = false;
  /// For a stream of which only the first line is wanted
  /// (/v3/lease/keepalive): the transfer ends once it has arrived.
  bool first_line_only = false;
  bool have_line = false;
};

size_t on_answer(char* data, size_t size, size_t n, void* p) {
  auto* a = static_cast<answer*>(p);
  auto len = size * n;
  if (a->body.size() + len > max_answer_bytes) {
    a->too_large = true;
    return 0; // aborts the transfer
  }
  auto old = a->body.size();
  a->body.append(data, len);
  if (a->first_line_only && a->body.find('\n', old) != std::string::npos) {
    // The gateway would keep the stream open for more keepalives; one is
    // all a call makes.
    a->have_line = true;
    return 0;
  }
  return len;
}

} // namespace

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  // Every key: etcd reads a range end of "\0" as "to the end".
  return std::string(1, '\0');
}

// -- client -----------------------------------------------------------------

struct client::impl {
  std::vector<std::string> endpoints;
  milliseconds timeout;
  /// The endpoint that answered last, tried first.
  std::atomic<std::size_t> preferred{0};

  std::mutex mtx;
  std::vector<CURL*> idle;

  ~impl() {
    for (auto* e : idle)
      curl_easy_cleanup(e);
  }

  CURL* take() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!idle.empty()) {
        auto* e = idle.back();
        idle.pop_back();
        // Options go; the connection stays for the next call.
        curl_easy_reset(e);
        return e;
      }
    }
    return curl_easy_init();
  }

  void give(CURL* e) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (idle.size() < max_idle_handles) {
        idle.push_back(e);
        return;
      }
    }
    curl_easy_cleanup(e);
  }

  /// POSTs `request` to `path`: the answer's JSON object, or the error it
  /// stands for. Endpoints are tried in turn from the preferred one while
  /// the request never reached one and time is left.
  caf::expected<json> call(const char* path, const json& request,
                           bool first_line_only = false) {
    if (endpoints.empty())
      return make_error(ec::internal, "etcd: no endpoints configured");
    auto deadline = clock_type::now() + timeout;
    auto body = request.dump();
    header_list headers;
    auto count = endpoints.size();
    auto first = preferred.load();
    std::string failures;
    for (std::size_t i = 0; i < count; ++i) {
      auto remaining = std::chrono::duration_cast<milliseconds>(
          deadline - clock_type::now());
      if (remaining.count() <= 0)
        break;
      auto index = (first + i) % count;
      const auto& endpoint = endpoints[index];
      // The endpoints left share the time left, so that one that swallows
      // connection attempts cannot starve the others.
      auto connect_budget = remaining / static_cast<long>(count - i);
      CURL* e = take();
      if (e == nullptr)
        return make_error(ec::internal, "etcd: could not make a transfer");
      answer a;
      a.first_line_only = first_line_only;
      common_options(e, endpoint + path, body, headers.list, connect_budget);
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                       std::max<long>(1, static_cast<long>(remaining.count())));
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
      curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
      auto rc = curl_easy_perform(e);
      long status = 0;
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      bool retry_elsewhere = rc != CURLE_OK && never_sent(rc, e);
      if (a.have_line) {
        // Aborted on purpose after the first line; the connection is not
        // reusable, so the handle goes with it.
        curl_easy_cleanup(e);
      } else {
        give(e);
      }
      if (a.too_large)
        return make_error(ec::internal, std::string{"etcd's answer to "} + path
                                            + " is larger than "
                                            + std::to_string(max_answer_bytes)
                                            + " bytes");
      if (rc == CURLE_OK || a.have_line) {
        preferred.store(index);
        if (status != 200)
          return detail::error_of(status, a.body);
        if (first_line_only) {
          auto nl = a.body.find('\n');
          return detail::parse_object(std::string_view{a.body}.substr(0, nl));
        }
        return detail::parse_object(a.body);
      }
      std::string why = curl_easy_strerror(rc);
      if (!retry_elsewhere)
        return make_error(ec::unavailable, "etcd at " + shown(endpoint) + ": "
                                               + why + " (" + path + ")");
      if (!failures.empty())
        failures += "; ";
      failures += shown(endpoint) + ": " + why;
    }
    if (failures.empty())
      failures = "no time left";
    return make_error(ec::unavailable, "etcd: no endpoint answered within "
                                           + std::to_string(timeout.count())
                                           + " ms (" + failures + ")");
  }

  /// The first range answer in a txn's responses (what a failed compare's
  /// range, or a put followed by a range, read).
  static caf::expected<kv> txn_range(const json& answer) {
    auto it = answer.find("responses");
    if (it != answer.end() && it->is_array())
      for (const auto& r : *it) {
        auto range = r.find("response_range");
        if (range == r.end())
          continue;
        auto kvs = detail::parse_kvs(*range);
        if (!kvs)
          return std::move(kvs.error());
        if (kvs->empty())
          return kv{};
        return std::move(kvs->front());
      }
    return kv{};
  }

  static bool succeeded(const json& answer) {
    auto it = answer.find("succeeded");
    return it != answer.end() && it->is_boolean() && it->get<bool>();
  }

  /// A txn: if `compare`, put and read back the key; else read it.
  caf::expected<claim_result>
  claim(const std::string& key, json compare, const std::string& value,
        std::int64_t lease,
        const std::vector<std::pair<std::string, std::string>>& also = {},
        std::optional<json> guard = std::nullopt) {
    json put = {{"key", b64(key)}, {"value", b64(value)}};
    if (lease != 0)
      put["lease"] = i64(lease);
    json read = {{"key", b64(key)}};
    auto success = json::array({{{"request_put", std::move(put)}}});
    for (const auto& [k, v] : also)
      success.push_back(
          {{"request_put", {{"key", b64(k)}, {"value", b64(v)}}}});
    // Operations of a txn see the writes before them: the range after the
    // puts reads the record as written, create_revision included.
    success.push_back({{"request_range", read}});
    auto compares = json::array({std::move(compare)});
    if (guard)
      compares.push_back(std::move(*guard));
    json request = {
        {"compare", std::move(compares)},
        {"success", std::move(success)},
        {"failure", json::array({{{"request_range", read}}})},
    };
    auto answer = call("/v3/kv/txn", request);
    if (!answer)
      return std::move(answer.error());
    claim_result out;
    out.created = succeeded(*answer);
    auto current = txn_range(*answer);
    if (!current)
      return std::move(current.error());
    out.current = std::move(*current);
    return out;
  }
};

client::client(std::vector<std::string> endpoints, milliseconds timeout)
    : impl_(std::make_unique<impl>()) {
  init_curl();
  impl_->endpoints = normalized(std::move(endpoints));
  impl_->timeout = timeout;
}

client::~client() = default;

caf::expected<std::int64_t> client::grant(std::chrono::seconds ttl) {
  auto answer = impl_->call("/v3/lease/grant",
                            {{"TTL", i64(ttl.count())}, {"ID", "0"}});
  if (!answer)
    return std::move(answer.error());
  if (auto it = answer->find("error");
      it != answer->end() && it->is_string() && !it->get<std::string>().empty())
    return make_error(ec::unavailable, "etcd: " + it->get<std::string>());
  auto id = detail::int64_field(*answer, "ID");
  if (!id)
    return std::move(id.error());
  if (*id == 0)
    return make_error(ec::internal,
                      "etcd answered something unexpected: a lease without "
                      "an ID");
  return *id;
}

caf::expected<std::int64_t> client::keepalive(std::int64_t lease) {
  auto answer = impl_->call("/v3/lease/keepalive", {{"ID", i64(lease)}}, true);
  if (!answer)
    return std::move(answer.error());
  return detail::keepalive_ttl(*answer, lease);
}

caf::error client::revoke(std::int64_t lease) {
  auto answer = impl_->call("/v3/lease/revoke", {{"ID", i64(lease)}});
  if (!answer && code_of(answer.error()) != ec::not_found)
    return std::move(answer.error());
  return caf::none;
}

caf::expected<std::optional<kv>> client::get(const std::string& key) {
  auto answer = impl_->call("/v3/kv/range", {{"key", b64(key)}});
  if (!answer)
    return std::move(answer.error());
  auto kvs = detail::parse_kvs(*answer);
  if (!kvs)
    return std::move(kvs.error());
  if (kvs->empty())
    return std::optional<kv>{};
  return std::optional<kv>{std::move(kvs->front())};
}

caf::expected<std::vector<kv>> client::range(const std::string& prefix,
                                             std::int64_t* revision) {
  // etcd refuses an empty key; "\0" is the smallest there is.
  auto from = prefix.empty() ? std::string(1, '\0') : prefix;
  // No sort order asked: etcd answers a range in ascending key order.
  auto answer
      = impl_->call("/v3/kv/range", {{"key", b64(from)},
                                     {"range_end", b64(prefix_end(prefix))}});
  if (!answer)
    return std::move(answer.error());
  auto kvs = detail::parse_kvs(*answer);
  if (!kvs)
    return std::move(kvs.error());
  if (revision != nullptr) {
    auto header = answer->find("header");
    if (header == answer->end())
      return make_error(ec::internal, "etcd answered something unexpected: a "
                                      "range without a header");
    auto rev = detail::int64_field(*header, "revision");
    if (!rev)
      return std::move(rev.error());
    *revision = *rev;
  }
  return kvs;
}

caf::error client::put(const std::string& key, const std::string& value,
                       std::int64_t lease) {
  json request = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0)
    request["lease"] = i64(lease);
  auto answer = impl_->call("/v3/kv/put", request);
  if (!answer)
    return std::move(answer.error());
  return caf::none;
}

caf::error client::erase(const std::string& key) {
  auto answer = impl_->call("/v3/kv/deleterange", {{"key", b64(key)}});
  if (!answer)
    return std::move(answer.error());
  return caf::none;
}

caf::expected<claim_result> client::create_if_absent(const std::string& key,
                                                     const std::string& value,
                                                     std::int64_t lease) {
  json compare = {{"key", b64(key)},
                  {"target", "CREATE"},
                  {"result", "EQUAL"},
                  {"create_revision", "0"}};
  return impl_->claim(key, std::move(compare), value, lease);
}

caf::expected<claim_result> client::create_if_absent_with(
    const std::string& key, const std::string& value, std::int64_t lease,
    const std::vector<std::pair<std::string, std::string>>& also,
    const std::string& guard, std::int64_t guard_mod_revision) {
  json compare = {{"key", b64(key)},
                  {"target", "CREATE"},
                  {"result", "EQUAL"},
                  {"create_revision", "0"}};
  std::optional<json> g;
  if (!guard.empty())
    g = guard_mod_revision == 0
            ? json{{"key", b64(guard)},
                   {"target", "CREATE"},
                   {"result", "EQUAL"},
                   {"create_revision", "0"}}
            : json{{"key", b64(guard)},
                   {"target", "MOD"},
                   {"result", "EQUAL"},
                   {"mod_revision", i64(guard_mod_revision)}};
  return impl_->claim(key, std::move(compare), value, lease, also,
                      std::move(g));
}

caf::expected<bool> client::put_if_revision(const std::string& guard,
                                            std::int64_t mod_revision,
                                            const std::string& key,
                                            const std::string& value) {
  json request = {
      {"compare", json::array({{{"key", b64(guard)},
                                {"target", "MOD"},
                                {"result", "EQUAL"},
                                {"mod_revision", i64(mod_revision)}}})},
      {"success",
       json::array(
           {{{"request_put", {{"key", b64(key)}, {"value", b64(value)}}}}})},
      {"failure", json::array()},
  };
  auto answer = impl_->call("/v3/kv/txn", request);
  if (!answer)
    return std::move(answer.error());
  return impl::succeeded(*answer);
}

caf::expected<claim_result> client::put_if_value(
    const std::string& key, const std::string& expected_value,
    const std::string& new_value, std::int64_t lease,
    const std::vector<std::pair<std::string, std::string>>& also) {
  // A compare on the value fails when the key does not exist.
  json compare = {{"key", b64(key)},
                  {"target", "VALUE"},
                  {"result", "EQUAL"},
                  {"value", b64(expected_value)}};
  return impl_->claim(key, std::move(compare), new_value, lease, also);
}

caf::expected<bool> client::erase_if_value(const std::string& key,
                                           const std::string& expected_value) {
  json request = {
      {"compare", json::array({{{"key", b64(key)},
                                {"target", "VALUE"},
                                {"result", "EQUAL"},
                                {"value", b64(expected_value)}}})},
      {"success",
       json::array({{{"request_delete_range", {{"key", b64(key)}}}}})},
      {"failure", json::array()},
  };
  auto answer = impl_->call("/v3/kv/txn", request);
  if (!answer)
    return std::move(answer.error());
  return impl::succeeded(*answer);
}

// -- watch ------------------------------------------------------------------

struct watch::state {
  std::vector<std::string> endpoints;
  std::string prefix;
  std::int64_t start_revision = 0;
  std::function<void(std::vector<event>)> on_events;
  std::function<void(caf::error)> on_broken;
  milliseconds connect_timeout;

  std::atomic<bool> stopping{false};
  CURLM* multi = nullptr;
  std::mutex join_mtx;

  /// The transfer in progress.
  detail::line_splitter lines;
  caf::error ended; ///< why etcd ended the watch, from a line it sent
  long status = 0;
  std::string error_body; ///< the body of an answer that is not 200
  bool too_large = false;
  CURL* easy = nullptr;

  ~state() {
    if (multi != nullptr)
      curl_multi_cleanup(multi);
  }

  static size_t on_data(char* data, size_t size, size_t n, void* p) {
    auto* self = static_cast<state*>(p);
    auto len = size * n;
    if (self->stopping.load())
      return 0;
    if (self->status == 0)
      curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &self->status);
    if (self->status != 200) {
      if (self->error_body.size() + len > max_answer_bytes) {
        self->too_large = true;
        return 0;
      }
      self->error_body.append(data, len);
      return len;
    }
    std::vector<std::string> complete;
    if (auto err = self->lines.feed({data, len}, complete)) {
      self->ended = std::move(err);
      return 0;
    }
    for (const auto& line : complete) {
      auto msg = detail::parse_watch_line(line);
      if (!msg) {
        self->ended = std::move(msg.error());
        return 0;
      }
      if (msg->kind == detail::watch_message::ended) {
        // A cancelled watch's stream stays open in the gateway; it is
        // closed from here.
        self->ended = std::move(msg->error);
        return 0;
      }
      if (msg->kind == detail::watch_message::events) {
        self->on_events(std::move(msg->changes));
        if (self->stopping.load())
          return 0;
      }
    }
    return len;
  }

  enum class outcome { connect_failed, ended, stopped };

  /// One streaming transfer to one endpoint, until it ends or stop().
  outcome stream(const std::string& endpoint, caf::error& why) {
    json request
        = {{"create_request",
            {{"key", b64(prefix.empty() ? std::string(1, '\0') : prefix)},
             {"range_end", b64(prefix_end(prefix))},
             {"start_revision", i64(start_revision)}}}};
    auto body = request.dump();
    header_list headers;
    easy = curl_easy_init();
    if (easy == nullptr) {
      why = make_error(ec::internal, "etcd: could not make a transfer");
      return outcome::ended;
    }
    lines = detail::line_splitter{};
    ended = caf::none;
    status = 0;
    error_body.clear();
    too_large = false;
    common_options(easy, endpoint + "/v3/watch", body, headers.list,
                   connect_timeout);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, watch_keepalive_idle_s);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, watch_keepalive_interval_s);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
    curl_multi_add_handle(multi, easy);
    CURLcode rc = CURLE_OK;
    bool done = false;
    while (!done && !stopping.load()) {
      int running = 0;
      curl_multi_perform(multi, &running);
      int queued = 0;
      while (auto* m = curl_multi_info_read(multi, &queued))
        if (m->msg == CURLMSG_DONE) {
          rc = m->data.result;
          done = true;
        }
      if (!done)
        curl_multi_poll(multi, nullptr, 0, watch_poll_ms, nullptr);
    }
    if (status == 0)
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    bool connect_failed
        = done && rc != CURLE_OK && status == 0 && never_sent(rc, easy);
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    easy = nullptr;
    if (stopping.load())
      return outcome::stopped;
    if (connect_failed) {
      why = make_error(ec::unavailable, "etcd at " + shown(endpoint) + ": "
                                            + curl_easy_strerror(rc));
      return outcome::connect_failed;
    }
    if (ended)
      why = std::move(ended);
    else if (too_large)
      why = make_error(ec::internal,
                       "etcd's answer to /v3/watch is larger than "
                           + std::to_string(max_answer_bytes) + " bytes");
    else if (status != 200 && status != 0)
      why = detail::error_of(status, error_body);
    else if (rc != CURLE_OK)
      why = make_error(ec::unavailable, "etcd at " + shown(endpoint)
                                            + ": the watch stream broke ("
                                            + curl_easy_strerror(rc) + ")");
    else
      why = make_error(ec::unavailable,
                       "etcd at " + shown(endpoint) + " closed the watch");
    return outcome::ended;
  }

  void run() {
    caf::error why = make_error(ec::internal, "etcd: no endpoints to watch");
    if (multi == nullptr) {
      why = make_error(ec::internal, "etcd: could not make a transfer");
    } else {
      // The next endpoint only when this one could not be reached: once a
      // stream ran, its end is for the user to handle (range again).
      for (const auto& endpoint : endpoints) {
        auto result = stream(endpoint, why);
        if (result == outcome::stopped)
          return;
        if (result == outcome::ended)
          break;
      }
    }
    if (stopping.load())
      return;
    log::debug("etcd watch broke",
               {{"prefix", prefix}, {"reason", message_of(why)}});
    on_broken(std::move(why));
  }
};

watch::watch(std::vector<std::string> endpoints, std::string prefix,
             std::int64_t start_revision,
             std::function<void(std::vector<event>)> on_events,
             std::function<void(caf::error)> on_broken,
             milliseconds connect_timeout)
    : state_(std::make_shared<state>()) {
  init_curl();
  state_->endpoints = normalized(std::move(endpoints));
  state_->prefix = std::move(prefix);
  state_->start_revision = start_revision;
  state_->on_events = std::move(on_events);
  state_->on_broken = std::move(on_broken);
  state_->connect_timeout = connect_timeout;
  state_->multi = curl_multi_init();
  // The thread holds the state too, so that a watch stopped from one of
  // its own callbacks can finish unwinding.
  thread_ = std::thread{[s = state_] { s->run(); }};
}

watch::~watch() {
  stop();
  if (thread_.joinable())
    thread_.detach(); // only when destroyed on its own thread, see stop()
}

void watch::stop() {
  state_->stopping.store(true);
  curl_multi_wakeup(state_->multi);
  std::lock_guard<std::mutex> guard{state_->join_mtx};
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

} // namespace hookd::etcd
