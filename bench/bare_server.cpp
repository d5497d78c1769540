// The ceiling for API figures: a bare RESTinio server answering JSON, with
// no actors, no store and no authentication. It also serves as the
// receiver of the latency figure: a POST whose body holds "sentAt":<µs>
// records now - sentAt, GET /stats reports the percentiles and GET
// /stats/reset forgets what was recorded.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include <restinio/all.hpp>

namespace {

std::mutex mtx;
std::vector<std::int64_t> latencies_us;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string stats() {
  std::lock_guard<std::mutex> guard{mtx};
  auto v = latencies_us;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) -> std::int64_t {
    if (v.empty())
      return 0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    return v[i];
  };
  return "{\"count\":" + std::to_string(v.size()) + ",\"p50_us\":"
         + std::to_string(pct(0.5)) + ",\"p99_us\":" + std::to_string(pct(0.99))
         + ",\"max_us\":" + std::to_string(v.empty() ? 0 : v.back()) + "}";
}

} // namespace

int main(int argc, char** argv) {
  std::uint16_t port
      = argc > 1 ? static_cast<std::uint16_t>(std::stoi(argv[1])) : 0;
  using traits = restinio::traits_t<restinio::asio_timer_manager_t,
                                    restinio::null_logger_t>;
  restinio::run(
      restinio::on_thread_pool<traits>(2)
          .port(port)
          .address("127.0.0.1")
          .request_handler([](restinio::request_handle_t req) {
            if (req->header().method() == restinio::http_method_post()) {
              const auto& body = req->body();
              auto at = body.find("\"sentAt\":");
              if (at != std::string::npos) {
                auto sent = std::stoll(body.substr(at + 9, 20));
                std::lock_guard<std::mutex> guard{mtx};
                latencies_us.push_back(now_us() - sent);
              }
              return req->create_response(restinio::status_accepted())
                  .append_header(restinio::http_field::content_type,
                                 "application/json")
                  .set_body(R"({"id":"00000000-0000-4000-8000-000000000000"})")
                  .done();
            }
            auto path = req->header().path();
            if (path == "/stats/reset") {
              std::lock_guard<std::mutex> guard{mtx};
              latencies_us.clear();
            }
            auto body
                = path == "/stats" ? stats() : std::string{R"({"ok":true})"};
            return req->create_response()
                .append_header(restinio::http_field::content_type,
                               "application/json")
                .set_body(std::move(body))
                .done();
          }));
  return 0;
}
