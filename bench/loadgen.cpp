// hookd-loadgen: the load the benchmark harness puts on hookd that wrk
// cannot: populating webhooks, posting at a constant rate, and timing
// deliveries end to end.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

/// One keep-alive connection.
class client {
public:
  explicit client(std::string token) : token_(std::move(token)) {
    easy_ = curl_easy_init();
    auth_ = curl_slist_append(nullptr,
                              ("Authorization: token " + token_).c_str());
    auth_ = curl_slist_append(auth_, "Content-Type: application/json");
    auth_ = curl_slist_append(auth_, "Expect:");
  }
  ~client() {
    curl_slist_free_all(auth_);
    curl_easy_cleanup(easy_);
  }

  long request(const std::string& method, const std::string& url,
               const std::string& body, std::string* response = nullptr) {
    std::string sink;
    curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, auth_);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT, 30L);
    if (method == "GET") {
      curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE,
                       static_cast<long>(body.size()));
    }
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, response ? response : &sink);
    if (curl_easy_perform(easy_) != CURLE_OK)
      return 0;
    long code = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }

private:
  std::string token_;
  CURL* easy_ = nullptr;
  curl_slist* auth_ = nullptr;
};

std::string event_json(const std::string& stack) {
  return R"({"event":"update_succeeded","projectName":"bench","stackName":")"
         + stack + R"(","data":{"sentAt":)" + std::to_string(now_us()) + "}}";
}

std::string batch_json(const std::string& stack, int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i)
    out += (i ? "," : "") + event_json(stack);
  return out + "]";
}

/// Posts until accepted, waiting out 429s.
void post_accepted(client& c, const std::string& url, const std::string& body) {
  for (;;) {
    auto code = c.request("POST", url, body);
    if (code == 202)
      return;
    if (code != 429 && code != 503) {
      std::cerr << "loadgen: POST answered " << code << '\n';
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

long nginx_requests(client& c, const std::string& status_url) {
  std::string body;
  c.request("GET", status_url, {}, &body);
  // "Active connections: N\nserver accepts handled requests\n A H R\n…"
  auto line = body.find('\n', body.find("requests"));
  long a = 0, h = 0, r = 0;
  std::sscanf(body.c_str() + line + 1, "%ld %ld %ld", &a, &h, &r);
  return r;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

int usage() {
  std::cerr << "usage: hookd-loadgen populate BASE TOKEN HOOKS STACKS TARGET\n"
               "       hookd-loadgen rate BASE TOKEN PER_SECOND SECONDS STACK "
               "[THREADS]\n"
               "       hookd-loadgen fanout BASE TOKEN EVENTS HOOKS STACK "
               "NGINX_STATUS_URL\n"
               "       hookd-loadgen deliver BASE TOKEN EVENTS BATCH STACK "
               "NGINX_STATUS_URL\n"
               "       hookd-loadgen pending BASE TOKEN STACKS\n"
               "       hookd-loadgen ready BASE TIMEOUT_S\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3)
    return usage();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::string cmd = argv[1];
  std::string base = argv[2];
  if (cmd == "ready" && argc == 4) {
    // Milliseconds until GET /healthz answers 200.
    client c{""};
    auto start = clock_type::now();
    while (seconds_since(start) < std::atof(argv[3])) {
      if (c.request("GET", base + "/healthz", {}) == 200) {
        std::cout << static_cast<long>(seconds_since(start) * 1000) << '\n';
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    return 1;
  }
  if (argc < 4)
    return usage();
  client c{argv[3]};
  if (cmd == "populate" && argc == 7) {
    int hooks = std::atoi(argv[4]);
    int stacks = std::atoi(argv[5]);
    std::string target = argv[6];
    auto start = clock_type::now();
    for (int i = 0; i < hooks; ++i) {
      auto stack = "s" + std::to_string(i % stacks);
      auto url = base + "/api/stacks/acme/bench/" + stack + "/hooks";
      auto body = R"({"name":"h)" + std::to_string(i)
                  + R"(","displayName":"bench","active":true,"payloadUrl":")"
                  + target + R"("})";
      if (c.request("POST", url, body) != 201) {
        std::cerr << "loadgen: creating hook " << i << " failed\n";
        return 1;
      }
    }
    std::cout << hooks / seconds_since(start) << '\n';
    return 0;
  }
  if (cmd == "rate" && (argc == 7 || argc == 8)) {
    // A constant rate over THREADS connections: each thread's events are
    // due at start + i / (rate / threads).
    double rate = std::atof(argv[4]);
    double seconds = std::atof(argv[5]);
    std::string stack = argv[6];
    int threads = argc == 8 ? std::max(1, std::atoi(argv[7])) : 1;
    auto start = clock_type::now();
    std::atomic<long> sent{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t)
      senders.emplace_back([&, t] {
        client own{argv[3]};
        double per_thread = rate / threads;
        // Threads start a fraction of an interval apart.
        double offset = static_cast<double>(t) / rate;
        for (long i = 0; seconds_since(start) < seconds; ++i) {
          auto due
              = start
                + std::chrono::duration_cast<clock_type::duration>(
                    std::chrono::duration<double>(offset + i / per_thread));
          std::this_thread::sleep_until(due);
          post_accepted(own, base + "/api/orgs/acme/events", event_json(stack));
          ++sent;
        }
      });
    for (auto& t : senders)
      t.join();
    std::cout << sent / seconds_since(start) << '\n';
    return 0;
  }
  if (cmd == "fanout" && argc == 8) {
    // EVENTS events, one at a time, each matching HOOKS webhooks: deliveries
    // per second from the first POST to the last delivery nginx counted.
    int events = std::atoi(argv[4]);
    long hooks = std::atol(argv[5]);
    std::string stack = argv[6];
    std::string status_url = argv[7];
    auto before = nginx_requests(c, status_url);
    auto start = clock_type::now();
    for (int sent = 0; sent < events; ++sent)
      post_accepted(c, base + "/api/orgs/acme/events", event_json(stack));
    long expected = events * hooks;
    long polls = 1;
    while (nginx_requests(c, status_url) - before - polls < expected) {
      ++polls;
      if (seconds_since(start) > 300) {
        std::cerr << "loadgen: fan-out deliveries did not finish\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    std::cout << expected / seconds_since(start) << '\n';
    return 0;
  }
  if (cmd == "deliver" && argc == 8) {
    // Events per second from the first POST to the last delivery that
    // nginx counted.
    int events = std::atoi(argv[4]);
    int batch = std::atoi(argv[5]);
    std::string stack = argv[6];
    std::string status_url = argv[7];
    auto before = nginx_requests(c, status_url);
    auto start = clock_type::now();
    for (int sent = 0; sent < events; sent += batch)
      post_accepted(c, base + "/api/orgs/acme/events",
                    batch_json(stack, std::min(batch, events - sent)));
    // Every poll of the status page is one request more.
    long polls = 1;
    while (nginx_requests(c, status_url) - before - polls < events) {
      ++polls;
      if (seconds_since(start) > 300) {
        std::cerr << "loadgen: deliveries did not finish\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    std::cout << events / seconds_since(start) << '\n';
    return 0;
  }
  if (cmd == "pending" && argc == 5) {
    // One event per stack: each is owed to every hook of its stack.
    int stacks = std::atoi(argv[4]);
    for (int i = 0; i < stacks; ++i)
      post_accepted(c, base + "/api/orgs/acme/events",
                    event_json("s" + std::to_string(i)));
    return 0;
  }
  return usage();
}
