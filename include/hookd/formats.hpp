#pragma once

#include <cstdint>
#include <string>

#include "hookd/event.hpp"

namespace hookd {

/// The body a webhook in `format` sends for an event: raw (Pulumi's shape),
/// slack (text and Block Kit blocks) or ms_teams (an Adaptive Card 1.4 in a
/// Teams Workflows message).
std::string render_payload(const std::string& format, const event& ev);

/// A one-line summary of an event, for chat formats.
std::string summary_of(const event& ev);

/// The ping body, as Pulumi sends it.
std::string ping_body(std::int64_t unix_seconds);

/// A ping in a webhook's format: the chat services refuse Pulumi's ping
/// JSON (Slack answers "no_text"), so slack and ms_teams get a message.
std::string ping_payload(const std::string& format, std::int64_t unix_seconds);

} // namespace hookd
