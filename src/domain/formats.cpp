#include "hookd/formats.hpp"

#include <algorithm>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hookd {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

constexpr const char* ping_message = "🍹 Just a friendly ping from Pulumi 🍹";

/// Limits of the chat services, in characters: a message the service
/// refuses (a 4xx) would be lost, so text is cut to fit, with an ellipsis.
constexpr std::size_t slack_section_max = 3000;
constexpr std::size_t slack_field_max = 2000;
constexpr std::size_t teams_text_max = 2000;

/// The length of the UTF-8 sequence that starts with byte `c` (1 for a
/// stray continuation byte, so that nothing loops).
std::size_t utf8_width(unsigned char c) {
  if (c >= 0xF0)
    return 4;
  if (c >= 0xE0)
    return 3;
  if (c >= 0xC0)
    return 2;
  return 1;
}

/// `text` made safe for Slack's mrkdwn and cut to `max` characters: `&`,
/// `<` and `>` escaped, so that nobody's name can mention a channel
/// (`<!channel>`) or plant a link (`<https://…|click>`); an entity is never
/// cut in half.
std::string slack_text(std::string_view text, std::size_t max) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto width = std::min(utf8_width(static_cast<unsigned char>(text[i])),
                          text.size() - i);
    std::string_view piece = text.substr(i, width);
    if (piece == "&")
      piece = "&amp;";
    else if (piece == "<")
      piece = "&lt;";
    else if (piece == ">")
      piece = "&gt;";
    auto cost = piece.size() > 1 && piece[0] == '&' ? piece.size() : 1;
    // Room for this piece and, if more follows, an ellipsis.
    auto more = i + width < text.size();
    if (chars + cost + (more ? 1 : 0) > max) {
      out += "…";
      return out;
    }
    out += piece;
    chars += cost;
    i += width;
  }
  return out;
}

/// `text` cut to `max` characters, with an ellipsis when cut.
std::string cut(std::string_view text, std::size_t max) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto width = std::min(utf8_width(static_cast<unsigned char>(text[i])),
                          text.size() - i);
    if (chars + 1 == max && i + width < text.size())
      return std::string{text.substr(0, i)} + "…";
    ++chars;
    i += width;
  }
  return std::string{text};
}

/// `text` made inert for the Markdown of Teams' cards and cut to `max`
/// characters: the characters that make links (`[click](https://…)`),
/// emphasis, code or HTML get a backslash, so a name shows as typed.
std::string teams_text(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (std::string_view{"\\*_[]()`~<>#|!"}.find(c) != std::string_view::npos)
      out += '\\';
    out += c;
  }
  auto kept = cut(out, max);
  // A cut right after an escaping backslash would escape the ellipsis.
  auto ellipsis = std::string_view{"…"};
  if (kept.size() > out.size() || kept == out)
    return kept;
  auto body = std::string_view{kept}.substr(0, kept.size() - ellipsis.size());
  std::size_t slashes = 0;
  while (slashes < body.size() && body[body.size() - 1 - slashes] == '\\')
    ++slashes;
  if (slashes % 2 == 1)
    return std::string{body.substr(0, body.size() - 1)} + std::string{ellipsis};
  return kept;
}

/// A link from the event that a chat message may carry: http(s) only, and
/// nothing that would end Slack's `<url|label>` early.
bool safe_link(const std::string& url) {
  auto scheme_ok
      = url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
  return scheme_ok && url.size() <= 2000
         && url.find_first_of("|<> \"\n\r\t") == std::string::npos;
}

/// The facts chat formats show, read back from the raw payload.
struct facts {
  std::string user;
  std::string target; ///< org/project/stack or org/project/env
  std::string changes;
  std::string link;
};

std::string str(const ordered_json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

facts facts_of(const event& ev) {
  facts f;
  auto body = ordered_json::parse(ev.body);
  if (auto u = body.find("user"); u != body.end() && u->is_object())
    f.user = str(*u, "name").empty() ? str(*u, "githubLogin") : str(*u, "name");
  f.target = ev.org + '/' + ev.project + '/' + ev.subject;
  if (auto rc = body.find("resourceChanges");
      rc != body.end() && rc->is_object()) {
    for (auto& [op, count] : rc->items()) {
      if (!f.changes.empty())
        f.changes += ", ";
      f.changes += op + ": " + count.dump();
    }
  }
  for (auto key : {"updateUrl", "deploymentUrl", "url", "environmentUrl"})
    if (auto link = str(body, key); !link.empty()) {
      if (safe_link(link))
        f.link = link;
      break;
    }
  return f;
}

std::string humanize(std::string_view name) {
  std::string out{name};
  for (auto& c : out)
    if (c == '_')
      c = ' ';
  if (!out.empty())
    out[0]
        = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string slack(const event& ev) {
  auto f = facts_of(ev);
  auto text = slack_text(summary_of(ev), slack_section_max);
  ordered_json fields = ordered_json::array();
  auto field = [&](const char* title, const std::string& value) {
    if (value.empty())
      return;
    std::string head = std::string{"*"} + title + "*\n";
    fields.push_back(
        {{"type", "mrkdwn"},
         {"text", head + slack_text(value, slack_field_max - head.size())}});
  };
  field("User", f.user);
  field(ev.info().scoped == scope_kind::env ? "Environment" : "Stack",
        f.target);
  field("Resource changes", f.changes);
  if (!f.link.empty()) {
    // A checked link, whose `&` Slack wants escaped like any text; left
    // out when it would not fit.
    auto link = "*Link*\n<" + slack_text(f.link, std::size_t{1} << 20)
                + "|Open in Pulumi>";
    if (link.size() <= slack_field_max)
      fields.push_back({{"type", "mrkdwn"}, {"text", link}});
  }
  ordered_json blocks = ordered_json::array();
  blocks.push_back(
      {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", text}}}});
  if (!fields.empty())
    blocks.push_back({{"type", "section"}, {"fields", fields}});
  return ordered_json{{"text", text}, {"blocks", blocks}}.dump();
}

std::string teams(const event& ev) {
  auto f = facts_of(ev);
  ordered_json facts_list = ordered_json::array();
  auto fact = [&](const char* title, const std::string& value) {
    if (!value.empty())
      facts_list.push_back(
          {{"title", title}, {"value", teams_text(value, teams_text_max)}});
  };
  fact("User", f.user);
  fact(ev.info().scoped == scope_kind::env ? "Environment" : "Stack", f.target);
  fact("Resource changes", f.changes);
  ordered_json body = ordered_json::array();
  body.push_back({{"type", "TextBlock"},
                  {"text", teams_text(summary_of(ev), teams_text_max)},
                  {"weight", "Bolder"},
                  {"size", "Medium"},
                  {"wrap", true}});
  if (!facts_list.empty())
    body.push_back({{"type", "FactSet"}, {"facts", facts_list}});
  ordered_json card{
      {"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
      {"type", "AdaptiveCard"},
      {"version", "1.4"},
      {"body", body}};
  if (!f.link.empty())
    card["actions"] = ordered_json::array({{{"type", "Action.OpenUrl"},
                                            {"title", "Open in Pulumi"},
                                            {"url", f.link}}});
  ordered_json attachment{
      {"contentType", "application/vnd.microsoft.card.adaptive"},
      {"contentUrl", nullptr},
      {"content", card}};
  return ordered_json{{"type", "message"},
                      {"attachments", ordered_json::array({attachment})}}
      .dump();
}

} // namespace

std::string summary_of(const event& ev) {
  auto f = facts_of(ev);
  auto what = humanize(ev.info().name);
  std::string out = what + " on " + f.target;
  if (!f.user.empty())
    out += " by " + f.user;
  return out;
}

std::string render_payload(const std::string& format, const event& ev) {
  if (format == "slack")
    return slack(ev);
  if (format == "ms_teams")
    return teams(ev);
  return ev.body;
}

std::string ping_body(std::int64_t unix_seconds) {
  return ordered_json{{"timestamp", unix_seconds}, {"message", ping_message}}
      .dump();
}

std::string ping_payload(const std::string& format, std::int64_t unix_seconds) {
  if (format == "slack")
    return ordered_json{
        {"text", ping_message},
        {"blocks",
         ordered_json::array(
             {{{"type", "section"},
               {"text", {{"type", "mrkdwn"}, {"text", ping_message}}}}})}}
        .dump();
  if (format == "ms_teams") {
    ordered_json card{
        {"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
        {"type", "AdaptiveCard"},
        {"version", "1.4"},
        {"body", ordered_json::array({{{"type", "TextBlock"},
                                       {"text", ping_message},
                                       {"wrap", true}}})}};
    return ordered_json{
        {"type", "message"},
        {"attachments",
         ordered_json::array(
             {{{"contentType", "application/vnd.microsoft.card.adaptive"},
               {"contentUrl", nullptr},
               {"content", card}}})}}
        .dump();
  }
  return ping_body(unix_seconds);
}

} // namespace hookd
