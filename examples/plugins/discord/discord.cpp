// The `discord` format: events as Discord incoming-webhook messages.
//
// A Discord webhook URL (https://discord.com/api/webhooks/ID/TOKEN) takes a
// JSON body with `content` and `embeds`
// (https://discord.com/developers/docs/resources/webhook#execute-webhook).
// This format sends a one-line summary as `content` and one embed with the
// facts. Everything taken from the event is escaped for Discord's markdown
// and cut to Discord's documented limits
// (https://discord.com/developers/docs/resources/message#embed-object-embed-limits),
// so that a message is never refused, and nobody is pinged: mentions are
// both disabled (`allowed_mentions: {"parse": []}`) and broken up in the
// text.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <hookd/plugin.hpp>
#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::ordered_json;
namespace plugin = hookd::plugin;

// Discord's limits, in characters.
constexpr std::size_t content_max = 2000;
constexpr std::size_t title_max = 256;
constexpr std::size_t description_max = 4096;
constexpr std::size_t fields_max = 25;
constexpr std::size_t field_name_max = 256;
constexpr std::size_t field_value_max = 1024;
constexpr std::size_t embed_total_max = 6000;
constexpr std::size_t url_max = 2048;

constexpr const char* zero_width_space = "\u200b";
constexpr int color_ok = 0x2ecc71;
constexpr int color_failed = 0xe74c3c;
constexpr int color_other = 0x7289da;

/// The width of the UTF-8 sequence starting with `c`.
std::size_t utf8_width(unsigned char c) {
  return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/// Characters as Discord counts them (UTF-16 code units: a character
/// outside the BMP counts twice), so that counting never undercounts.
std::size_t units(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto w = utf8_width(static_cast<unsigned char>(text[i]));
    n += w == 4 ? 2 : 1;
    i += w;
  }
  return n;
}

/// Escapes `text` for Discord markdown: a backslash before every character
/// that formats (emphasis, code, spoilers, quotes, headings, lists, masked
/// links), and a zero-width space after every `@` so that `@everyone`,
/// `@here` and `<@id>` mention nobody even where mentions are allowed.
std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    if (c == '\r')
      continue;
    if (std::string_view{"\\*_~`|>#-[]()<"}.find(c) != std::string_view::npos)
      out += '\\';
    out += c;
    if (c == '@')
      out += zero_width_space;
  }
  return out;
}

/// `text` (already escaped) cut to `max` characters with an ellipsis,
/// never inside a UTF-8 sequence nor right after an escaping backslash.
std::string cut(const std::string& text, std::size_t max) {
  if (units(text) <= max)
    return text;
  std::string out;
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto w = utf8_width(static_cast<unsigned char>(text[i]));
    auto cost = w == 4 ? 2u : 1u;
    if (n + cost + 1 > max) // room for the ellipsis
      break;
    out.append(text, i, w);
    n += cost;
    i += w;
  }
  // An odd run of trailing backslashes would escape the ellipsis.
  std::size_t slashes = 0;
  while (slashes < out.size() && out[out.size() - 1 - slashes] == '\\')
    ++slashes;
  if (slashes % 2 == 1)
    out.pop_back();
  return out + "…";
}

std::string text_of(std::string_view raw, std::size_t max) {
  return cut(escape(raw), max);
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

/// A link the embed may carry: http(s), no spaces or quotes, not too long.
bool safe_link(const std::string& url) {
  return (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0)
         && url.size() <= url_max
         && url.find_first_of(" \"<>\r\n\t") == std::string::npos;
}

std::string humanize(std::string name) {
  for (auto& c : name)
    if (c == '_')
      c = ' ';
  if (!name.empty() && name[0] >= 'a' && name[0] <= 'z')
    name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return name;
}

class discord_format final : public plugin::format {
public:
  plugin::rendered render(const plugin::event& ev,
                          const plugin::webhook_info&) const override {
    auto body = json::parse(ev.body, nullptr, false);
    if (!body.is_object())
      body = json::object();
    std::string user;
    if (auto u = body.find("user"); u != body.end() && u->is_object())
      user = str(*u, "name").empty() ? str(*u, "githubLogin") : str(*u, "name");
    auto target = ev.org + '/' + ev.project + '/' + ev.subject;
    auto what = humanize(ev.name);
    auto summary = what + " on " + target + (user.empty() ? "" : " by " + user);

    std::string changes;
    if (auto rc = body.find("resourceChanges");
        rc != body.end() && rc->is_object())
      for (auto& [op, count] : rc->items())
        changes += (changes.empty() ? "" : ", ") + op + ": " + count.dump();
    std::string link;
    for (auto key : {"updateUrl", "deploymentUrl", "url", "environmentUrl"})
      if (auto candidate = str(body, key); !candidate.empty()) {
        if (safe_link(candidate))
          link = candidate;
        break;
      }

    json embed;
    embed["title"] = text_of(what, title_max);
    if (!link.empty())
      embed["url"] = link;
    embed["description"] = text_of(summary, description_max);
    auto color = ev.name.find("failed") != std::string::npos      ? color_failed
                 : ev.name.find("succeeded") != std::string::npos ? color_ok
                                                                  : color_other;
    embed["color"] = color;
    // Fields, while they fit Discord's count and the embed's total.
    std::size_t total = units(embed["title"].get<std::string>())
                        + units(embed["description"].get<std::string>());
    json fields = json::array();
    auto field = [&](const std::string& name, const std::string& value) {
      if (value.empty() || fields.size() >= fields_max)
        return;
      auto n = text_of(name, field_name_max);
      auto v = text_of(value, field_value_max);
      if (total + units(n) + units(v) > embed_total_max)
        return;
      total += units(n) + units(v);
      fields.push_back({{"name", n}, {"value", v}, {"inline", true}});
    };
    field("User", user);
    field(ev.environment ? "Environment" : "Stack", target);
    field("Event", ev.name);
    field("Resource changes", changes);
    for (auto key : {"kind", "result", "status", "level", "message"})
      field(humanize(key), str(body, key));
    if (!fields.empty())
      embed["fields"] = fields;

    json msg;
    msg["content"] = text_of(summary, content_max);
    msg["allowed_mentions"] = {{"parse", json::array()}};
    msg["embeds"] = json::array({embed});
    return {msg.dump(), {}};
  }

  plugin::rendered ping(std::int64_t,
                        const plugin::webhook_info&) const override {
    json msg;
    msg["content"] = "🍹 Just a friendly ping from Pulumi 🍹";
    msg["allowed_mentions"] = {{"parse", json::array()}};
    return {msg.dump(), {}};
  }
};

} // namespace

HOOKD_PLUGIN("discord", "1.0.0") {
  registrar.add_format("discord", std::make_shared<discord_format>());
}
