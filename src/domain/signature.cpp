#include "hookd/signature.hpp"

#include <algorithm>
#include <strings.h>

#include "hookd/delivery.hpp"

#include "hookd/crypto.hpp"
#include "hookd/defaults.hpp"

namespace hookd {

std::string header_block(header_list headers) {
  std::stable_sort(headers.begin(), headers.end(), [](auto& a, auto& b) {
    return strcasecmp(a.first.c_str(), b.first.c_str()) < 0;
  });
  std::string out;
  for (const auto& [name, value] : headers)
    out += name + ": " + value + "\r\n";
  return out;
}

std::string pulumi_signature(const std::string& secret,
                             const std::string& body) {
  return crypto::to_hex(crypto::hmac_sha256(secret, body));
}

std::string standard_signature(const std::string& secret, const std::string& id,
                               std::int64_t timestamp,
                               const std::string& body) {
  std::string key = secret;
  constexpr std::string_view prefix = "whsec_";
  if (secret.compare(0, prefix.size(), prefix) == 0)
    if (auto decoded = crypto::from_base64(secret.substr(prefix.size())))
      key = std::move(*decoded);
  auto signed_content = id + '.' + std::to_string(timestamp) + '.' + body;
  return "v1," + crypto::to_base64(crypto::hmac_sha256(key, signed_content));
}

header_list delivery_headers(const std::string& event_id,
                             const std::string& kind, const std::string& body,
                             const std::string& secret, std::int64_t timestamp,
                             const std::string& previous) {
  header_list h{{"Accept", "*/*"},
                {"Content-Type", "application/json"},
                {"Pulumi-Webhook-Id", event_id},
                {"Pulumi-Webhook-Kind", kind},
                {"User-Agent", std::string{"hookd/"} + defaults::version}};
  if (!secret.empty()) {
    h.emplace_back("Pulumi-Webhook-Signature", pulumi_signature(secret, body));
    h.emplace_back("webhook-id", event_id);
    h.emplace_back("webhook-timestamp", std::to_string(timestamp));
    auto signatures = standard_signature(secret, event_id, timestamp, body);
    if (!previous.empty())
      signatures
          += ' ' + standard_signature(previous, event_id, timestamp, body);
    h.emplace_back("webhook-signature", std::move(signatures));
  }
  return h;
}

} // namespace hookd
