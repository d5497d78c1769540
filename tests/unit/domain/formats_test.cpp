// Chat formats carry text from whoever raised the event: it must not
// mention a channel or plant a link, and must fit the service's limits,
// or the service refuses the message and it is lost.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "hookd/behaviours.hpp"
#include "hookd/event.hpp"
#include "hookd/formats.hpp"

namespace hookd {
namespace {

using json = nlohmann::json;

event event_by(const std::string& user, const std::string& update_url
                                        = "https://app.pulumi.com/acme/u/1") {
  json body{{"event", "update_succeeded"},
            {"projectName", "web"},
            {"stackName", "prod"},
            {"user", {{"name", user}}},
            {"data", {{"updateUrl", update_url}}}};
  auto parsed = parse_events(body.dump(), "acme", 10);
  EXPECT_TRUE(parsed) << message_of(parsed.error());
  return parsed->events.at(0);
}

/// Characters (code points) of UTF-8 text.
std::size_t chars(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text)
    n += (c & 0xC0) != 0x80;
  return n;
}

/// Every mrkdwn text of a Slack message: the fallback text, sections and
/// fields.
std::vector<std::string> slack_texts(const json& msg) {
  std::vector<std::string> out{msg.at("text").get<std::string>()};
  for (const auto& block : msg.at("blocks")) {
    if (block.contains("text"))
      out.push_back(block["text"]["text"].get<std::string>());
    if (block.contains("fields"))
      for (const auto& f : block["fields"])
        out.push_back(f["text"].get<std::string>());
  }
  return out;
}

TEST(formats, slack_escapes_mentions_and_links_in_names) {
  auto msg = json::parse(render_payload(
      "slack", event_by("<!channel> <https://evil.example|click> & co")));
  for (const auto& text : slack_texts(msg)) {
    EXPECT_EQ(text.find("<!channel>"), std::string::npos) << text;
    EXPECT_EQ(text.find("<https://evil"), std::string::npos) << text;
  }
  EXPECT_NE(msg["text"].get<std::string>().find(
                "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co"),
            std::string::npos)
      << msg.dump();
}

TEST(formats, slack_text_fits_its_limits_and_is_cut_with_an_ellipsis) {
  // Long, with multi-byte characters and characters that escaping grows,
  // so that a cut could split a character or an entity.
  std::string name;
  for (int i = 0; i < 2000; ++i)
    name += "é&<🍹";
  auto msg = json::parse(render_payload("slack", event_by(name)));
  auto section = msg["blocks"][0]["text"]["text"].get<std::string>();
  EXPECT_LE(chars(section), 3000u);
  EXPECT_EQ(section.substr(section.size() - 3), "…");
  for (const auto& f : msg["blocks"][1]["fields"]) {
    auto text = f["text"].get<std::string>();
    EXPECT_LE(chars(text), 2000u) << text.substr(0, 40);
    // No entity cut in half: every '&' starts a whole one.
    for (auto at = text.find('&'); at != std::string::npos;
         at = text.find('&', at + 1))
      EXPECT_TRUE(text.compare(at, 5, "&amp;") == 0
                  || text.compare(at, 4, "&lt;") == 0
                  || text.compare(at, 4, "&gt;") == 0)
          << text.substr(at, 8);
  }
  // A short name is not touched but for escaping.
  auto short_msg = json::parse(render_payload("slack", event_by("Ann")));
  EXPECT_EQ(short_msg["text"].get<std::string>().find("…"), std::string::npos);
}

TEST(formats, links_are_http_and_cannot_break_out_of_their_brackets) {
  auto link_field = [](const event& ev) {
    auto msg = json::parse(render_payload("slack", ev));
    for (const auto& f : msg["blocks"][1]["fields"])
      if (f["text"].get<std::string>().rfind("*Link*", 0) == 0)
        return f["text"].get<std::string>();
    return std::string{};
  };
  EXPECT_EQ(link_field(event_by("Ann", "https://app.pulumi.com/a?x=1&y=2")),
            "*Link*\n<https://app.pulumi.com/a?x=1&amp;y=2|Open in Pulumi>");
  EXPECT_EQ(link_field(event_by("Ann", "javascript:alert(1)")), "");
  EXPECT_EQ(link_field(event_by("Ann", "https://e.example|click>")), "");
  auto teams = json::parse(
      render_payload("ms_teams", event_by("Ann", "javascript:alert(1)")));
  EXPECT_FALSE(teams["attachments"][0]["content"].contains("actions"));
}

TEST(formats, teams_text_is_cut_to_fit) {
  auto msg = json::parse(
      render_payload("ms_teams", event_by(std::string(9000, 'x'))));
  const auto& card = msg["attachments"][0]["content"];
  auto text = card["body"][0]["text"].get<std::string>();
  EXPECT_LE(chars(text), 2000u);
  EXPECT_EQ(text.substr(text.size() - 3), "…");
  for (const auto& fact : card["body"][1]["facts"])
    EXPECT_LE(chars(fact["value"].get<std::string>()), 2000u);
}

// Teams renders Markdown in a card's text: a user name cannot plant a
// link or emphasis; it shows as typed.
TEST(formats, teams_text_cannot_plant_a_link) {
  auto msg = json::parse(render_payload(
      "ms_teams", event_by("[click here](https://evil.example) **now**")));
  const auto& card = msg["attachments"][0]["content"];
  auto text = card["body"][0]["text"].get<std::string>();
  EXPECT_NE(text.find("\\[click here\\]\\(https://evil.example\\) "
                      "\\*\\*now\\*\\*"),
            std::string::npos)
      << text;
  for (const auto& fact : card["body"][1]["facts"]) {
    if (fact["title"] == "User") {
      EXPECT_EQ(fact["value"], "\\[click here\\]\\(https://evil.example\\) "
                               "\\*\\*now\\*\\*");
    }
  }
  // Cut after a backslash, the ellipsis is not escaped.
  auto cut_msg = json::parse(render_payload(
      "ms_teams", event_by(std::string(1990, 'x') + std::string(100, '*'))));
  auto cut_text = cut_msg["attachments"][0]["content"]["body"][0]["text"]
                      .get<std::string>();
  EXPECT_EQ(cut_text.substr(cut_text.size() - 3), "…");
  auto before = cut_text.substr(0, cut_text.size() - 3);
  std::size_t slashes = 0;
  while (slashes < before.size() && before[before.size() - 1 - slashes] == '\\')
    ++slashes;
  EXPECT_EQ(slashes % 2, 0u) << before.substr(before.size() - 10);
}

TEST(behaviours, built_in_formats_render_through_the_registry) {
  auto registry = builtin_behaviours();
  EXPECT_EQ(registry->format_names(),
            (std::vector<std::string>{"ms_teams", "pulumi_deployments", "raw",
                                      "slack"}));
  EXPECT_EQ(registry->destination_names(), (std::vector<std::string>{"http"}));
  auto ev = event_by("Ann");
  for (auto name : {"raw", "slack", "ms_teams"}) {
    const auto* f = registry->format(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->render(plugin_event(ev), {}).body, render_payload(name, ev))
        << name;
    EXPECT_EQ(f->ping(7, {}).body, ping_payload(name, 7)) << name;
  }
  EXPECT_EQ(
      registry->format("pulumi_deployments")->render(plugin_event(ev), {}).body,
      ev.body);
}

TEST(behaviours, a_name_is_registered_once_per_kind) {
  behaviour_registry registry;
  auto raw = builtin_behaviours();
  registry.set_origin("plugin 'a'");
  registry.add_destination("twin",
                           std::shared_ptr<const plugin::destination_kind>(
                               raw, raw->destination("http")));
  EXPECT_FALSE(registry.take_error());
  registry.set_origin("plugin 'b'");
  registry.add_destination("twin",
                           std::shared_ptr<const plugin::destination_kind>(
                               raw, raw->destination("http")));
  auto err = registry.take_error();
  ASSERT_TRUE(err);
  EXPECT_NE(message_of(err).find("plugin 'b' registers a destination named "
                                 "'twin', which plugin 'a' registered first"),
            std::string::npos)
      << message_of(err);
  registry.add_format("Bad Name", std::shared_ptr<const plugin::format>(
                                      raw, raw->format("raw")));
  EXPECT_TRUE(registry.take_error());
}

} // namespace
} // namespace hookd
