#pragma once

#include <cstdint>
#include <string>

#include "hookd/api.hpp"

namespace hookd {

/// Pulumi-Webhook-Signature: lowercase hex HMAC-SHA256 of the exact body.
std::string pulumi_signature(const std::string& secret,
                             const std::string& body);

/// Standard Webhooks signature, "v1,<base64 HMAC-SHA256(id.timestamp.body)>".
/// The key is the base64 after "whsec_" when the secret has that prefix,
/// else the secret's bytes.
std::string standard_signature(const std::string& secret, const std::string& id,
                               std::int64_t timestamp, const std::string& body);

/// Every header of a delivery attempt, signatures included when there is a
/// secret. With `previous` (a rotated-out secret still in its overlap) the
/// Standard Webhooks signature carries both, "v1,<new> v1,<previous>";
/// Pulumi's signature has room for one, the new secret's.
header_list delivery_headers(const std::string& event_id,
                             const std::string& kind, const std::string& body,
                             const std::string& secret, std::int64_t timestamp,
                             const std::string& previous = {});

} // namespace hookd
