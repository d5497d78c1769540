// `hookd leave`: asks the local node, through its own API, to leave its
// cluster for good (POST /api/cluster/leave with the admin token).
#include "hookd/membership.hpp"

#include <chrono>
#include <thread>

#include <curl/curl.h>

namespace hookd {

namespace {

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() < 64 * 1024)
    body->append(data, size * n);
  return size * n;
}

/// One request to the node; its status (0: no answer) and body.
std::pair<long, std::string> call(const std::string& url,
                                  const std::string& token, bool post) {
  std::pair<long, std::string> out{0, {}};
  CURL* h = curl_easy_init();
  if (h == nullptr)
    return out;
  curl_slist* headers = nullptr;
  auto auth = "Authorization: token " + token;
  headers = curl_slist_append(headers, auth.c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.second);
  if (post)
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
  if (curl_easy_perform(h) == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.first);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  return out;
}

} // namespace

caf::expected<std::string> ask_to_leave(const config& cfg, bool wait,
                                        std::chrono::seconds deadline) {
  if (cfg.admin_token.empty())
    return make_error(ec::bad_request,
                      "hookd leave needs the admin token (HOOKD_ADMIN_TOKEN)");
  auto host = cfg.bind.empty() || cfg.bind == "0.0.0.0"
                  ? std::string{"127.0.0.1"}
                  : cfg.bind;
  auto base = "http://" + host + ':' + std::to_string(cfg.http_port);
  auto [status, body]
      = call(base + "/api/cluster/leave", cfg.admin_token, true);
  if (status == 0)
    return make_error(ec::unavailable, "no hookd answers at " + base);
  if (status != 202)
    return make_error(ec::bad_request, "the node at " + base + " answered "
                                           + std::to_string(status) + ": "
                                           + body);
  if (!wait)
    return "the node at " + base
           + " is leaving: its partitions move to the other members, then "
             "it stops";
  // It stops once others hold what it held: its API goes away.
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (call(base + "/healthz", cfg.admin_token, false).first == 0)
      return "the node at " + base
             + " left the cluster: its partitions are served by the others";
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  return make_error(ec::unavailable, "the node at " + base
                                         + " is still handing its partitions "
                                           "over; see its log");
}

} // namespace hookd
