// The etcd client against a real etcd (tests/cluster/etcd_fixture.hpp),
// against a small canned HTTP server for answers etcd never gives, and its
// reading of the gateway's JSON on its own.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <curl/curl.h>
#include <gtest/gtest.h>

#include "cluster/etcd_json.hpp"
#include "etcd_fixture.hpp"
#include "hookd/error.hpp"
#include "hookd/etcd.hpp"

namespace {

using namespace std::chrono_literals;
using hookd::ec;
using hookd::etcd::claim_result;
using hookd::etcd::client;
using hookd::etcd::event;
using hookd::etcd::kv;
using hookd::testing::etcd_server;
using clock_type = std::chrono::steady_clock;
namespace detail = hookd::etcd::detail;

std::string describe(const caf::error& err) {
  return std::string{hookd::to_string(hookd::code_of(err))} + ": "
         + hookd::message_of(err);
}

#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    if (auto err_ = (expr))                                                    \
      FAIL() << #expr << ": " << describe(err_);                               \
  } while (false)

template <class T> T value_of(caf::expected<T> x, const char* what) {
  if (!x) {
    ADD_FAILURE() << what << ": " << describe(x.error());
    return T{};
  }
  return std::move(*x);
}
#define VALUE(expr) value_of((expr), #expr)

/// Polls `done` until it holds or `within` passes.
template <class F> bool eventually(F done, std::chrono::milliseconds within) {
  auto deadline = clock_type::now() + within;
  while (clock_type::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

/// What a watch reported, for a test thread to wait on.
struct recorder {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<event> events;
  std::vector<caf::error> broken;

  std::function<void(std::vector<event>)> on_events() {
    return [this](std::vector<event> batch) {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& e : batch)
        events.push_back(std::move(e));
      cv.notify_all();
    };
  }
  std::function<void(caf::error)> on_broken() {
    return [this](caf::error err) {
      std::lock_guard<std::mutex> guard{mtx};
      broken.push_back(std::move(err));
      cv.notify_all();
    };
  }
  bool wait_events(std::size_t n, std::chrono::milliseconds within) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, within, [&] { return events.size() >= n; });
  }
  bool wait_broken(std::chrono::milliseconds within) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, within, [&] { return !broken.empty(); });
  }
};

/// A port with no listener: connections to it are refused.
std::string closed_endpoint() {
  return "http://127.0.0.1:" + std::to_string(hookd::testing::free_port());
}

/// A raw POST to etcd, for what the client does not offer (compaction).
bool raw_post(const std::string& url, const std::string& body) {
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(
      e, CURLOPT_WRITEFUNCTION,
      +[](char*, size_t s, size_t n, void*) { return s * n; });
  auto rc = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  return rc == CURLE_OK && status == 200;
}

// -- A canned HTTP server ---------------------------------------------------

/// Answers every connection on a loopback port with the same bytes, or not
/// at all, for answers a real etcd does not give.
class canned_server {
public:
  enum class mode {
    answer_and_close, ///< reads the request, writes `response`, closes
    answer_and_hold,  ///< the same, but keeps the connection open
    silent,           ///< accepts and never answers
  };

  canned_server(std::string response, mode m)
      : response_(std::move(response)), mode_(m) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
        || ::listen(fd_, 16) != 0
        || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("canned server: "
                               + std::string{strerror(errno)});
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { serve(); }};
  }

  ~canned_server() {
    stop_ = true;
    thread_.join();
    for (int c : held_)
      ::close(c);
    ::close(fd_);
  }

  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

private:
  bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 50) > 0;
  }

  /// Reads headers and a Content-Length body.
  void read_request(int c) {
    std::string in;
    char buf[4096];
    std::size_t want = std::string::npos;
    while (!stop_) {
      if (!readable(c))
        continue;
      auto n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0)
        return;
      in.append(buf, static_cast<std::size_t>(n));
      auto end = in.find("\r\n\r\n");
      if (end == std::string::npos)
        continue;
      if (want == std::string::npos) {
        want = end + 4;
        auto cl = in.find("Content-Length: ");
        if (cl != std::string::npos && cl < end)
          want += std::stoul(in.substr(cl + 16));
      }
      if (in.size() >= want)
        return;
    }
  }

  void serve() {
    while (!stop_) {
      if (!readable(fd_))
        continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      if (mode_ == mode::silent) {
        held_.push_back(c);
        continue;
      }
      read_request(c);
      std::size_t off = 0;
      while (off < response_.size() && !stop_) {
        auto n = ::send(c, response_.data() + off, response_.size() - off,
                        MSG_NOSIGNAL);
        if (n <= 0)
          break;
        off += static_cast<std::size_t>(n);
      }
      if (mode_ == mode::answer_and_hold)
        held_.push_back(c);
      else
        ::close(c);
    }
  }

  std::string response_;
  mode mode_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;
  std::thread thread_;
};

std::string http_ok(const std::string& body, bool with_length = true) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
  if (with_length)
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  else
    head += "Connection: close\r\n";
  return head + "\r\n" + body;
}

// -- Reading the gateway's JSON ----------------------------------------------

TEST(etcd_json, prefix_end_increments_the_last_byte_that_can) {
  EXPECT_EQ(hookd::etcd::prefix_end("hookd/"), "hookd0");
  EXPECT_EQ(hookd::etcd::prefix_end(std::string{"a\xff"}), "b");
  EXPECT_EQ(hookd::etcd::prefix_end(std::string{"\xff\xff"}),
            std::string(1, '\0'));
  EXPECT_EQ(hookd::etcd::prefix_end(""), std::string(1, '\0'));
}

TEST(etcd_json, int64_fields_are_strings_or_numbers_and_zero_when_left_out) {
  auto j = nlohmann::json::parse(
      R"({"a":"9223372036854775807","b":42,"c":"-1","d":"12x","e":1.5,)"
      R"("f":18446744073709551615,"g":""})");
  EXPECT_EQ(VALUE(detail::int64_field(j, "a")), INT64_MAX);
  EXPECT_EQ(VALUE(detail::int64_field(j, "b")), 42);
  EXPECT_EQ(VALUE(detail::int64_field(j, "c")), -1);
  EXPECT_EQ(VALUE(detail::int64_field(j, "missing")), 0);
  for (const char* bad : {"d", "e", "f", "g"}) {
    auto n = detail::int64_field(j, bad);
    ASSERT_FALSE(n) << bad;
    EXPECT_EQ(hookd::code_of(n.error()), ec::internal);
  }
}

TEST(etcd_json, key_values_decode_base64_and_default_left_out_fields) {
  auto range = VALUE(detail::parse_object(
      R"({"header":{"revision":"6"},"kvs":[{"key":"aG9va2QvZA==",)"
      R"("create_revision":"6","mod_revision":"7","version":"2",)"
      R"("lease":"694d7d3b1a2e5f0b"}],"count":"1"})"));
  auto kvs = detail::parse_kvs(range);
  // A lease id in hex is not what the gateway writes: refused.
  ASSERT_FALSE(kvs);
  range = VALUE(detail::parse_object(
      R"({"kvs":[{"key":"aG9va2QvZA==","create_revision":"6",)"
      R"("mod_revision":"7","version":"2","lease":"7587869215454432011"}]})"));
  auto ok = VALUE(detail::parse_kvs(range));
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].key, "hookd/d");
  EXPECT_EQ(ok[0].value, ""); // an empty value is left out
  EXPECT_EQ(ok[0].create_revision, 6);
  EXPECT_EQ(ok[0].mod_revision, 7);
  EXPECT_EQ(ok[0].version, 2);
  EXPECT_EQ(ok[0].lease, 7587869215454432011);
  EXPECT_TRUE(VALUE(detail::parse_kvs(nlohmann::json::object())).empty());
  for (const char* bad :
       {R"({"kvs":{}})", R"({"kvs":[{"key":"!!!!"}]})", R"({"kvs":[7]})",
        R"({"kvs":[{"key":5}]})", R"({"kvs":[],"more":true})"}) {
    auto parsed = detail::parse_kvs(nlohmann::json::parse(bad));
    EXPECT_FALSE(parsed) << bad;
  }
}

TEST(etcd_json, errors_map_grpc_codes) {
  auto not_found = detail::error_of(
      404, R"({"error":"etcdserver: requested lease not found",)"
           R"("message":"etcdserver: requested lease not found","code":5})");
  EXPECT_EQ(hookd::code_of(not_found), ec::not_found);
  EXPECT_EQ(hookd::message_of(not_found),
            "etcd: etcdserver: requested lease not found");
  auto no_leader = detail::error_of(
      503, R"({"message":"etcdserver: no leader","code":14})");
  EXPECT_EQ(hookd::code_of(no_leader), ec::unavailable);
  auto bad = detail::error_of(400, R"({"error":"x","code":3})");
  EXPECT_EQ(hookd::code_of(bad), ec::bad_request);
  // The stream shape.
  auto in_stream = detail::error_of(nlohmann::json::parse(
      R"({"error":{"grpc_code":14,"http_code":503,"message":"closing"}})"));
  EXPECT_EQ(hookd::code_of(in_stream), ec::unavailable);
  EXPECT_EQ(hookd::message_of(in_stream), "etcd: closing");
  // Not the gateway at all.
  EXPECT_EQ(hookd::code_of(detail::error_of(502, "<html>bad gateway")),
            ec::unavailable);
  EXPECT_EQ(hookd::code_of(detail::error_of(404, "Not Found\n")), ec::internal);
  // A huge message is cut.
  auto huge = detail::error_of(500, R"({"code":13,"message":")"
                                        + std::string(100000, 'x') + "\"}");
  EXPECT_LT(hookd::message_of(huge).size(), 300u);
}

TEST(etcd_json, garbage_is_an_error_not_a_crash) {
  for (std::string bad :
       {std::string{}, std::string{"not json"}, std::string{"[1,2]"},
        std::string{"\"str\""}, std::string{"{\"a\":"},
        std::string(100000, '['), std::string{"{\"a\":1e999999}"},
        std::string{"\xff\xfe{}"}}) {
    auto parsed = detail::parse_object(bad);
    ASSERT_FALSE(parsed) << bad.substr(0, 20);
    EXPECT_EQ(hookd::code_of(parsed.error()), ec::internal);
  }
}

TEST(etcd_json, watch_lines) {
  auto created = VALUE(detail::parse_watch_line(
      R"({"result":{"header":{"revision":"6"},"created":true}})"));
  EXPECT_EQ(created.kind, detail::watch_message::created);

  auto events = VALUE(detail::parse_watch_line(
      R"({"result":{"header":{"revision":"8"},"events":[)"
      R"({"kv":{"key":"aG9va2QvZQ==","create_revision":"7",)"
      R"("mod_revision":"7","version":"1","value":"eA=="}},)"
      R"({"type":"DELETE","kv":{"key":"aG9va2QvZQ==","mod_revision":"8"}}]}})"));
  ASSERT_EQ(events.kind, detail::watch_message::events);
  ASSERT_EQ(events.changes.size(), 2u);
  EXPECT_FALSE(events.changes[0].deleted);
  EXPECT_EQ(events.changes[0].item.value, "x");
  EXPECT_TRUE(events.changes[1].deleted);
  EXPECT_EQ(events.changes[1].item.key, "hookd/e");
  EXPECT_EQ(events.changes[1].item.mod_revision, 8);

  auto compacted = VALUE(detail::parse_watch_line(
      R"({"result":{"header":{},"canceled":true,"compact_revision":"5"}})"));
  ASSERT_EQ(compacted.kind, detail::watch_message::ended);
  EXPECT_EQ(hookd::code_of(compacted.error), ec::conflict);

  auto failed = VALUE(detail::parse_watch_line(
      R"({"error":{"grpc_code":14,"message":"no leader"}})"));
  ASSERT_EQ(failed.kind, detail::watch_message::ended);
  EXPECT_EQ(hookd::code_of(failed.error), ec::unavailable);

  auto progress
      = VALUE(detail::parse_watch_line(R"({"result":{"header":{}}})"));
  EXPECT_EQ(progress.kind, detail::watch_message::progress);

  for (const char* bad :
       {"garbage", R"({"result":5})", R"({"other":{}})",
        R"({"result":{"events":{}}})", R"({"result":{"events":[{}]}})",
        R"({"result":{"events":[{"type":"MOVE","kv":{}}]}})"}) {
    EXPECT_FALSE(detail::parse_watch_line(bad)) << bad;
  }
}

TEST(etcd_json, keepalive_lines) {
  EXPECT_EQ(VALUE(detail::parse_keepalive_line(
                R"({"result":{"header":{},"ID":"7","TTL":"5"}})", 7)),
            5);
  for (const char* gone : {R"({"result":{"header":{},"ID":"7"}})",
                           R"({"result":{"ID":"7","TTL":"-1"}})"}) {
    auto ttl = detail::parse_keepalive_line(gone, 7);
    ASSERT_FALSE(ttl) << gone;
    EXPECT_EQ(hookd::code_of(ttl.error()), ec::not_found);
  }
  auto err = detail::parse_keepalive_line(
      R"({"error":{"grpc_code":14,"message":"no leader"}})", 7);
  ASSERT_FALSE(err);
  EXPECT_EQ(hookd::code_of(err.error()), ec::unavailable);
  EXPECT_FALSE(detail::parse_keepalive_line(R"({"result":[]})", 7));
}

TEST(etcd_json, line_splitter_joins_pieces_and_bounds_lines) {
  detail::line_splitter lines{16};
  std::vector<std::string> out;
  ASSERT_OK(lines.feed("{\"a\"", out));
  EXPECT_TRUE(out.empty());
  ASSERT_OK(lines.feed(":1}\r\n\n{\"b\":2}\n{\"c\"", out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "{\"a\":1}");
  EXPECT_EQ(out[1], "{\"b\":2}");
  EXPECT_EQ(lines.pending(), "{\"c\"");
  out.clear();
  auto err = lines.feed(std::string(20, 'x'), out);
  ASSERT_TRUE(err);
  EXPECT_EQ(hookd::code_of(err), ec::internal);
}

// -- Answers etcd does not give ----------------------------------------------

TEST(etcd_transport, garbage_answer_is_an_error) {
  canned_server server{http_ok("this is not json"),
                       canned_server::mode::answer_and_close};
  client c{{server.endpoint()}, 2s};
  auto got = c.get("k");
  ASSERT_FALSE(got);
  EXPECT_EQ(hookd::code_of(got.error()), ec::internal);
  auto lease = c.grant(2s);
  ASSERT_FALSE(lease);
}

TEST(etcd_transport, oversized_answer_is_an_error) {
  canned_server server{
      http_ok("{\"kvs\":[\"" + std::string(9 << 20, 'a') + "\"]}"),
      canned_server::mode::answer_and_close};
  client c{{server.endpoint()}, 5s};
  auto got = c.range("k");
  ASSERT_FALSE(got);
  EXPECT_EQ(hookd::code_of(got.error()), ec::internal);
  EXPECT_NE(hookd::message_of(got.error()).find("larger than"),
            std::string::npos)
      << hookd::message_of(got.error());
}

TEST(etcd_transport, silent_server_times_out) {
  canned_server server{"", canned_server::mode::silent};
  client c{{server.endpoint()}, 300ms};
  auto start = clock_type::now();
  auto got = c.get("k");
  auto took = clock_type::now() - start;
  ASSERT_FALSE(got);
  EXPECT_EQ(hookd::code_of(got.error()), ec::unavailable);
  EXPECT_LT(took, 1500ms);
}

TEST(etcd_transport, keepalive_returns_after_the_first_line) {
  // The gateway's keepalive is a stream; this server never ends it.
  canned_server server{http_ok(R"({"result":{"header":{},"ID":"7","TTL":"9"}})"
                               "\n",
                               false),
                       canned_server::mode::answer_and_hold};
  client c{{server.endpoint()}, 3s};
  auto start = clock_type::now();
  EXPECT_EQ(VALUE(c.keepalive(7)), 9);
  EXPECT_LT(clock_type::now() - start, 1s);
}

TEST(etcd_transport, watch_of_garbage_breaks) {
  canned_server server{
      http_ok("{\"result\":{\"created\":true}}\nnonsense\n", false),
      canned_server::mode::answer_and_hold};
  recorder seen;
  hookd::etcd::watch w{
      {server.endpoint()}, "p/", 0, seen.on_events(), seen.on_broken()};
  ASSERT_TRUE(seen.wait_broken(3s));
  std::lock_guard<std::mutex> guard{seen.mtx};
  EXPECT_EQ(hookd::code_of(seen.broken.front()), ec::internal);
}

// -- Against etcd -----------------------------------------------------------

TEST(etcd_client, kept_alive_lease_outlives_its_ttl) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  auto lease = VALUE(c.grant(2s));
  ASSERT_NE(lease, 0);
  ASSERT_OK(c.put("hookd/members/a", "alive", lease));
  auto until = clock_type::now() + 3500ms;
  while (clock_type::now() < until) {
    auto ttl = VALUE(c.keepalive(lease));
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 2);
    std::this_thread::sleep_for(500ms);
  }
  auto still = VALUE(c.get("hookd/members/a"));
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->value, "alive");
  EXPECT_EQ(still->lease, lease);

  ASSERT_OK(c.revoke(lease));
  EXPECT_FALSE(VALUE(c.get("hookd/members/a")).has_value());
  auto gone = c.keepalive(lease);
  ASSERT_FALSE(gone);
  EXPECT_EQ(hookd::code_of(gone.error()), ec::not_found);
  // Revoking what is gone already is what the caller wanted.
  ASSERT_OK(c.revoke(lease));
}

TEST(etcd_client, lease_not_kept_alive_expires_with_its_keys) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  auto lease = VALUE(c.grant(2s));
  ASSERT_OK(c.put("hookd/members/b", "alive", lease));
  auto start = clock_type::now();
  EXPECT_TRUE(eventually(
      [&] {
        auto got = c.get("hookd/members/b");
        return got && !got->has_value();
      },
      8s));
  EXPECT_GE(clock_type::now() - start, 1500ms);
  auto ttl = c.keepalive(lease);
  ASSERT_FALSE(ttl);
  EXPECT_EQ(hookd::code_of(ttl.error()), ec::not_found);
  // Writing under a lost lease is refused the same way.
  auto err = c.put("hookd/members/b", "late", lease);
  ASSERT_TRUE(err);
  EXPECT_EQ(hookd::code_of(err), ec::not_found);
}

TEST(etcd_client, second_creator_gets_the_first_record) {
  etcd_server etcd;
  client a{{etcd.endpoint()}, 2s};
  client b{{etcd.endpoint()}, 2s};
  auto lease_a = VALUE(a.grant(10s));
  auto lease_b = VALUE(b.grant(10s));

  auto first = VALUE(a.create_if_absent("hookd/partitions/7", "a", lease_a));
  ASSERT_TRUE(first.created);
  EXPECT_EQ(first.current.key, "hookd/partitions/7");
  EXPECT_EQ(first.current.value, "a");
  EXPECT_EQ(first.current.lease, lease_a);
  EXPECT_EQ(first.current.version, 1);
  EXPECT_GT(first.current.create_revision, 0);
  EXPECT_EQ(first.current.mod_revision, first.current.create_revision);

  auto second = VALUE(b.create_if_absent("hookd/partitions/7", "b", lease_b));
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.current.value, "a");
  EXPECT_EQ(second.current.lease, lease_a);
  EXPECT_EQ(second.current.create_revision, first.current.create_revision);

  auto stored = VALUE(b.get("hookd/partitions/7"));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->value, "a");

  // Once the owner's lease ends, the key is free for the next creator, with
  // a new create_revision: a new epoch.
  ASSERT_OK(a.revoke(lease_a));
  auto third = VALUE(b.create_if_absent("hookd/partitions/7", "b", lease_b));
  EXPECT_TRUE(third.created);
  EXPECT_GT(third.current.create_revision, first.current.create_revision);
}

TEST(etcd_client, put_if_value_takes_a_key_back_under_a_new_lease) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  auto old_lease = VALUE(c.grant(10s));
  auto first
      = VALUE(c.create_if_absent("hookd/partitions/3", "node-a", old_lease));
  ASSERT_TRUE(first.created);

  // node-a restarts with a new lease while its old record is still there.
  auto new_lease = VALUE(c.grant(10s));
  auto wrong = VALUE(
      c.put_if_value("hookd/partitions/3", "node-b", "node-b", new_lease));
  EXPECT_FALSE(wrong.created);
  EXPECT_EQ(wrong.current.value, "node-a");
  EXPECT_EQ(wrong.current.lease, old_lease);

  auto back = VALUE(
      c.put_if_value("hookd/partitions/3", "node-a", "node-a", new_lease));
  ASSERT_TRUE(back.created);
  EXPECT_EQ(back.current.value, "node-a");
  EXPECT_EQ(back.current.lease, new_lease);
  EXPECT_EQ(back.current.create_revision, first.current.create_revision);
  EXPECT_GT(back.current.mod_revision, first.current.mod_revision);
  EXPECT_EQ(back.current.version, 2);

  // The old lease no longer holds the key.
  ASSERT_OK(c.revoke(old_lease));
  auto kept = VALUE(c.get("hookd/partitions/3"));
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->lease, new_lease);

  auto absent = VALUE(c.put_if_value("hookd/partitions/99", "x", "y"));
  EXPECT_FALSE(absent.created);
  EXPECT_EQ(absent.current.create_revision, 0);
  EXPECT_FALSE(VALUE(c.get("hookd/partitions/99")).has_value());
}

TEST(etcd_client, erase_if_value) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  ASSERT_OK(c.put("hookd/k", "mine"));
  EXPECT_FALSE(VALUE(c.erase_if_value("hookd/k", "theirs")));
  EXPECT_TRUE(VALUE(c.get("hookd/k")).has_value());
  EXPECT_TRUE(VALUE(c.erase_if_value("hookd/k", "mine")));
  EXPECT_FALSE(VALUE(c.get("hookd/k")).has_value());
  EXPECT_FALSE(VALUE(c.erase_if_value("hookd/k", "mine")));
}

TEST(etcd_client, range_by_prefix_is_sorted_and_stops_at_the_prefix) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  for (const char* key : {"hookd/b", "hookd/a", "hookd/c/d", "hookd2/x",
                          "hookd", "hookd.", "hookd0"})
    ASSERT_OK(c.put(key, std::string{"v-"} + key));
  std::string binary{"hookd/\xff\x00z", 9};
  ASSERT_OK(c.put(binary, std::string{"\x00\x01\xff", 3}));

  std::int64_t revision = 0;
  auto all = VALUE(c.range("hookd/", &revision));
  std::vector<std::string> keys;
  for (const auto& item : all)
    keys.push_back(item.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"hookd/a", "hookd/b", "hookd/c/d",
                                            binary}));
  EXPECT_EQ(all[0].value, "v-hookd/a");
  EXPECT_EQ(all[3].value, std::string("\x00\x01\xff", 3));
  std::int64_t latest = 0;
  for (const auto& item : all)
    latest = std::max(latest, item.mod_revision);
  EXPECT_GE(revision, latest);

  EXPECT_TRUE(VALUE(c.range("nothing/")).empty());
  EXPECT_EQ(VALUE(c.range("")).size(), 8u);

  ASSERT_OK(c.erase("hookd/a"));
  ASSERT_OK(c.erase("hookd/a")); // nothing to erase is fine
  EXPECT_EQ(VALUE(c.range("hookd/")).size(), 3u);
  EXPECT_FALSE(VALUE(c.get("hookd/a")).has_value());
}

TEST(etcd_client, concurrent_calls_on_one_client) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i)
        if (c.put("hookd/c/" + std::to_string(t) + "/" + std::to_string(i),
                  "v"))
          ++failures;
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(VALUE(c.range("hookd/c/")).size(), 100u);
}

TEST(etcd_watch, sees_puts_and_deletes_in_order) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  ASSERT_OK(c.put("hookd/before", "seen by the range"));
  std::int64_t revision = 0;
  auto start = VALUE(c.range("hookd/", &revision));
  ASSERT_EQ(start.size(), 1u);

  recorder seen;
  hookd::etcd::watch w{{etcd.endpoint()},
                       "hookd/",
                       revision + 1,
                       seen.on_events(),
                       seen.on_broken()};
  ASSERT_OK(c.put("hookd/a", "1"));
  ASSERT_OK(c.put("hookd2/other", "not watched"));
  ASSERT_OK(c.put("hookd/b", "2"));
  ASSERT_OK(c.erase("hookd/a"));
  auto lease = VALUE(c.grant(2s));
  ASSERT_OK(c.put("hookd/c", "3", lease));
  // The last one is the lease's expiry.
  ASSERT_TRUE(seen.wait_events(5, 8s));

  std::lock_guard<std::mutex> guard{seen.mtx};
  ASSERT_EQ(seen.events.size(), 5u);
  const auto& e = seen.events;
  EXPECT_FALSE(e[0].deleted);
  EXPECT_EQ(e[0].item.key, "hookd/a");
  EXPECT_EQ(e[0].item.value, "1");
  EXPECT_EQ(e[1].item.key, "hookd/b");
  EXPECT_TRUE(e[2].deleted);
  EXPECT_EQ(e[2].item.key, "hookd/a");
  EXPECT_EQ(e[3].item.key, "hookd/c");
  EXPECT_EQ(e[3].item.lease, lease);
  EXPECT_TRUE(e[4].deleted);
  EXPECT_EQ(e[4].item.key, "hookd/c");
  for (std::size_t i = 1; i < e.size(); ++i)
    EXPECT_GT(e[i].item.mod_revision, e[i - 1].item.mod_revision);
  EXPECT_TRUE(seen.broken.empty());
}

TEST(etcd_watch, reports_broken_once_when_etcd_is_killed) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  recorder seen;
  hookd::etcd::watch w{
      {etcd.endpoint()}, "hookd/", 0, seen.on_events(), seen.on_broken()};
  // A change seen shows the stream is up.
  ASSERT_TRUE(eventually(
      [&] {
        c.put("hookd/ping", "x");
        return seen.wait_events(1, 100ms);
      },
      5s));
  etcd.kill();
  ASSERT_TRUE(seen.wait_broken(3s));
  std::this_thread::sleep_for(200ms);
  std::lock_guard<std::mutex> guard{seen.mtx};
  EXPECT_EQ(seen.broken.size(), 1u);
  EXPECT_EQ(hookd::code_of(seen.broken.front()), ec::unavailable)
      << describe(seen.broken.front());
}

TEST(etcd_watch, compacted_start_revision_breaks_with_conflict) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  for (int i = 0; i < 5; ++i)
    ASSERT_OK(c.put("hookd/k", std::to_string(i)));
  std::int64_t revision = 0;
  VALUE(c.range("hookd/", &revision));
  ASSERT_TRUE(raw_post(etcd.endpoint() + "/v3/kv/compaction",
                       "{\"revision\":\"" + std::to_string(revision) + "\"}"));
  recorder seen;
  hookd::etcd::watch w{
      {etcd.endpoint()}, "hookd/", 2, seen.on_events(), seen.on_broken()};
  ASSERT_TRUE(seen.wait_broken(3s));
  std::lock_guard<std::mutex> guard{seen.mtx};
  EXPECT_EQ(hookd::code_of(seen.broken.front()), ec::conflict)
      << describe(seen.broken.front());
  EXPECT_TRUE(seen.events.empty());
}

TEST(etcd_watch, stop_is_prompt_and_silent) {
  etcd_server etcd;
  recorder seen;
  hookd::etcd::watch w{
      {etcd.endpoint()}, "hookd/", 0, seen.on_events(), seen.on_broken()};
  std::this_thread::sleep_for(200ms); // the stream is idle by now
  auto start = clock_type::now();
  w.stop();
  EXPECT_LT(clock_type::now() - start, 200ms);
  w.stop();
  std::lock_guard<std::mutex> guard{seen.mtx};
  EXPECT_TRUE(seen.broken.empty());
}

TEST(etcd_watch, stop_from_its_own_callback) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 2s};
  std::atomic<int> calls{0};
  std::atomic<bool> broken{false};
  std::unique_ptr<hookd::etcd::watch> w;
  std::mutex mtx;
  std::unique_lock<std::mutex> hold{mtx};
  w = std::make_unique<hookd::etcd::watch>(
      std::vector<std::string>{etcd.endpoint()}, "hookd/", 0,
      [&](std::vector<event>) {
        std::lock_guard<std::mutex> guard{mtx}; // w is set
        ++calls;
        w->stop();
      },
      [&](caf::error) { broken = true; });
  hold.unlock();
  ASSERT_TRUE(eventually(
      [&] {
        c.put("hookd/x", "1");
        return calls.load() > 0;
      },
      5s));
  ASSERT_OK(c.put("hookd/y", "2"));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(broken.load());
  w->stop(); // joins the finished thread before the pointer changes
  w.reset();
}

TEST(etcd_client, first_endpoint_refusing_connections_is_skipped) {
  etcd_server etcd;
  client c{{closed_endpoint(), etcd.endpoint()}, 2s};
  ASSERT_OK(c.put("hookd/k", "v"));
  auto got = VALUE(c.get("hookd/k"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value, "v");
  EXPECT_NE(VALUE(c.grant(5s)), 0);

  recorder seen;
  hookd::etcd::watch w{{closed_endpoint(), etcd.endpoint()},
                       "hookd/",
                       got->mod_revision,
                       seen.on_events(),
                       seen.on_broken()};
  ASSERT_TRUE(seen.wait_events(1, 3s));
  std::lock_guard<std::mutex> guard{seen.mtx};
  EXPECT_EQ(seen.events.front().item.key, "hookd/k");
  EXPECT_TRUE(seen.broken.empty());
}

TEST(etcd_client, etcd_down_is_a_clear_error_within_the_timeout) {
  etcd_server etcd;
  client c{{etcd.endpoint()}, 500ms};
  ASSERT_OK(c.put("hookd/k", "kept"));

  etcd.stop();
  auto start = clock_type::now();
  auto got = c.get("hookd/k");
  EXPECT_LT(clock_type::now() - start, 1s);
  ASSERT_FALSE(got);
  EXPECT_EQ(hookd::code_of(got.error()), ec::unavailable);
  EXPECT_NE(hookd::message_of(got.error()).find(etcd.endpoint()),
            std::string::npos)
      << hookd::message_of(got.error());

  // A hung etcd: connections are accepted, nothing is answered.
  etcd.restart();
  ASSERT_OK(c.put("hookd/k", "kept"));
  etcd.pause();
  start = clock_type::now();
  auto hung = c.keepalive(1);
  EXPECT_LT(clock_type::now() - start, 1500ms);
  ASSERT_FALSE(hung);
  EXPECT_EQ(hookd::code_of(hung.error()), ec::unavailable);
  etcd.resume();

  // The data outlived the restart.
  auto back = VALUE(c.get("hookd/k"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->value, "kept");
}

TEST(etcd_client, no_endpoints_is_an_error) {
  client c{{}, 100ms};
  auto got = c.get("k");
  ASSERT_FALSE(got);
  EXPECT_EQ(hookd::code_of(got.error()), ec::internal);
}

} // namespace
