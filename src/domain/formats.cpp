#include "hookd/formats.hpp"

#include <nlohmann/json.hpp>

namespace hookd {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

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
  auto text = summary_of(ev);
  ordered_json fields = ordered_json::array();
  auto field = [&](const char* title, const std::string& value) {
    if (!value.empty())
      fields.push_back({{"type", "mrkdwn"},
                        {"text", std::string{"*"} + title + "*\n" + value}});
  };
  field("User", f.user);
  field(ev.info().scoped == scope_kind::env ? "Environment" : "Stack",
        f.target);
  field("Resource changes", f.changes);
  field("Link", f.link.empty() ? "" : "<" + f.link + "|Open in Pulumi>");
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
      facts_list.push_back({{"title", title}, {"value", value}});
  };
  fact("User", f.user);
  fact(ev.info().scoped == scope_kind::env ? "Environment" : "Stack", f.target);
  fact("Resource changes", f.changes);
  ordered_json body = ordered_json::array();
  body.push_back({{"type", "TextBlock"},
                  {"text", summary_of(ev)},
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
  return ordered_json{{"timestamp", unix_seconds},
                      {"message", "🍹 Just a friendly ping from Pulumi 🍹"}}
      .dump();
}

} // namespace hookd
