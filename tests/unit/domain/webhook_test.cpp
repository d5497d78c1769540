#include "hookd/webhook.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "hookd/crypto.hpp"
#include "hookd/events.hpp"

using namespace hookd;
using json = nlohmann::json;

namespace {

const auto node_sealer
    = std::make_shared<const crypto::sealer>(std::string(32, 'k'));
const webhook_rules rules{"https://hooks.slack.com/", node_sealer,
                          std::chrono::seconds{0}, nullptr};

scope stack_scope() {
  return {scope_kind::stack, "acme", "web", "prod"};
}

scope org_scope() {
  return {scope_kind::org, "acme", "", ""};
}

scope env_scope() {
  return {scope_kind::env, "acme", "default", "dev"};
}

std::string create_error(const std::string& body, scope where = stack_scope()) {
  auto hook = parse_create(body, where, rules);
  if (hook)
    return "";
  EXPECT_EQ(code_of(hook.error()), ec::bad_request);
  return message_of(hook.error());
}

webhook created(const std::string& body, scope where = stack_scope()) {
  auto hook = parse_create(body, where, rules);
  EXPECT_TRUE(hook) << message_of(hook.error());
  return hook ? *hook : webhook{};
}

/// Applies a PATCH in place, as the registry does with its result.
bool patch(const std::string& body, webhook& hook) {
  auto next = apply_update(body, rules, hook);
  if (!next)
    return false;
  hook = std::move(*next);
  return true;
}

} // namespace

TEST(webhook, create_reads_every_field) {
  auto hook = created(R"({"organizationName":"acme","projectName":"web",
    "stackName":"prod","name":"deploys","displayName":"Deploys",
    "payloadUrl":"https://example.com/hook","secret":"s","active":true,
    "format":"ms_teams","filters":["update_succeeded","update_succeeded"],
    "groups":["deployments"],"hasSecret":false,"unknown":1})");
  EXPECT_EQ(hook.name, "deploys");
  EXPECT_EQ(hook.display_name, "Deploys");
  EXPECT_TRUE(hook.active);
  EXPECT_EQ(hook.format, "ms_teams");
  EXPECT_EQ(hook.secret, "s");
  EXPECT_EQ(hook.filters, std::vector<std::string>{"update_succeeded"});
  EXPECT_EQ(hook.filter_mask(),
            std::uint64_t{1} << event_index("update_succeeded"));
  EXPECT_EQ(hook.group_mask(), 1u << group_index("deployments"));
}

TEST(webhook, response_never_carries_the_secret) {
  auto hook = created(R"({"displayName":"D","payloadUrl":"http://h/",
                          "secret":"hunter2"})");
  auto j = json::parse(response_json(hook));
  EXPECT_FALSE(j.contains("secret"));
  EXPECT_TRUE(j["hasSecret"].get<bool>());
  // A keyed fingerprint: not the plain SHA-256 of the secret, which would
  // let a weak one be guessed offline; another key, another fingerprint.
  EXPECT_EQ(j["secretCiphertext"], node_sealer->fingerprint("hunter2"));
  EXPECT_EQ(j["secretCiphertext"].get<std::string>().size(), 64u);
  EXPECT_NE(j["secretCiphertext"], crypto::sha256_hex("hunter2"));
  EXPECT_NE(j["secretCiphertext"],
            crypto::sealer{std::string(32, 'x')}.fingerprint("hunter2"));
  EXPECT_EQ(j["format"], "raw");
  EXPECT_EQ(j["filters"], json::array());
  EXPECT_EQ(j["stackName"], "prod");
  EXPECT_FALSE(j.contains("envName"));
  EXPECT_EQ(response_json(hook).find("hunter2"), std::string::npos);
}

TEST(webhook, bad_bodies_are_rejected_with_reasons) {
  EXPECT_NE(create_error("{"), "");
  EXPECT_NE(create_error("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(create_error(R"("text")").find("JSON object"), std::string::npos);
  EXPECT_NE(create_error(R"({"displayName":"D","payloadUrl":"http://h",
                             "active":"yes"})")
                .find("'active' must be a boolean"),
            std::string::npos);
  EXPECT_NE(create_error(R"({"payloadUrl":"http://h"})").find("displayName"),
            std::string::npos);
  EXPECT_NE(create_error(R"({"displayName":"D","payloadUrl":"http://h",
                             "filters":"update_succeeded"})")
                .find("array"),
            std::string::npos);
  EXPECT_NE(
      create_error("{\"displayName\":\"\xff\",\"payloadUrl\":\"http://h\"}"),
      "");
}

TEST(webhook, names) {
  EXPECT_TRUE(valid_hook_name("a.b_c-D9"));
  EXPECT_TRUE(valid_hook_name(std::string(32, 'a')));
  EXPECT_FALSE(valid_hook_name(std::string(33, 'a')));
  EXPECT_FALSE(valid_hook_name(""));
  EXPECT_FALSE(valid_hook_name(".."));
  EXPECT_FALSE(valid_hook_name("."));
  EXPECT_FALSE(valid_hook_name("a/b"));
  EXPECT_FALSE(valid_hook_name("a\nb"));
  EXPECT_FALSE(valid_hook_name("a b"));
  EXPECT_NE(create_error(R"({"name":"../x","displayName":"D",
                             "payloadUrl":"http://h"})"),
            "");
}

TEST(webhook, payload_url_depends_on_format) {
  EXPECT_NE(create_error(R"({"displayName":"D","payloadUrl":"ftp://h/"})"), "");
  EXPECT_NE(create_error(R"({"displayName":"D","payloadUrl":"https:///x"})"),
            "");
  EXPECT_NE(create_error(R"({"displayName":"D","payloadUrl":"/relative"})"),
            "");
  EXPECT_NE(
      create_error(R"({"displayName":"D","payloadUrl":"http://h:99999/"})"),
      "");
  EXPECT_EQ(
      create_error(R"({"displayName":"D","payloadUrl":"http://[::1]:8080/x"})"),
      "");
  EXPECT_NE(create_error(R"({"displayName":"D","format":"slack",
                             "payloadUrl":"https://example.com/x"})"),
            "");
  EXPECT_EQ(create_error(R"({"displayName":"D","format":"slack",
                             "payloadUrl":"https://hooks.slack.com/services/T/B/X"})"),
            "");
  EXPECT_EQ(create_error(R"({"displayName":"D","format":"pulumi_deployments",
                             "payloadUrl":"web/staging"})"),
            "");
  EXPECT_NE(create_error(R"({"displayName":"D","format":"pulumi_deployments",
                             "payloadUrl":"web/stag ing"})"),
            "");
  EXPECT_EQ(create_error(R"({"displayName":"D","format":"pulumi_deployments",
                             "payloadUrl":"web/staging"})",
                         org_scope()),
            "'pulumi_deployments' format can only be used on stack or "
            "environment webhooks.");
  EXPECT_NE(create_error(
                R"({"displayName":"D","format":"","payloadUrl":"http://h"})"),
            "");
  EXPECT_NE(
      create_error(
          R"({"displayName":"D","format":"xml","payloadUrl":"http://h"})"),
      "");
}

// Credentials in a payload URL would be stored and listed in clear: they
// are refused, and the error does not repeat them. An '@' past the host is
// only a path.
TEST(webhook, payload_url_carries_no_credentials) {
  for (const char* url :
       {"https://user:pw@example.com/hook", "https://user@example.com/hook",
        "http://a:b@[::1]:8080/x", "https://:pw@h?q=1"}) {
    auto err = create_error(R"({"displayName":"D","payloadUrl":")"
                            + std::string{url} + "\"}");
    EXPECT_NE(err.find("must not carry credentials"), std::string::npos)
        << url << ": " << err;
    EXPECT_EQ(err.find("pw"), std::string::npos) << err;
  }
  EXPECT_EQ(
      create_error(R"({"displayName":"D","payloadUrl":"https://h/a@b?c=@d"})"),
      "");
}

TEST(webhook, filters_and_groups_follow_the_scope) {
  auto body = [](const char* field, const char* value) {
    return std::string{R"({"displayName":"D","payloadUrl":"http://h",")"}
           + field + R"(":[")" + value + R"("]})";
  };
  EXPECT_EQ(create_error(body("filters", "stack_created"), org_scope()), "");
  EXPECT_NE(create_error(body("filters", "stack_created")), "");
  EXPECT_NE(create_error(body("filters", "update_succeeded"), env_scope()), "");
  EXPECT_EQ(
      create_error(body("filters", "environment_tag_created"), env_scope()),
      "");
  EXPECT_NE(create_error(body("filters", "no_such_event")), "");
  EXPECT_EQ(create_error(body("groups", "policies")), "");
  EXPECT_NE(create_error(body("groups", "environments")), "");
  EXPECT_NE(create_error(body("groups", "stacks"), env_scope()), "");
  EXPECT_EQ(create_error(body("groups", "environments"), org_scope()), "");
}

TEST(webhook, scope_fields_must_match_the_path) {
  EXPECT_NE(create_error(R"({"organizationName":"other","displayName":"D",
                             "payloadUrl":"http://h"})")
                .find("does not match"),
            std::string::npos);
  EXPECT_NE(create_error(R"({"stackName":"dev","displayName":"D",
                             "payloadUrl":"http://h"})"),
            "");
  EXPECT_NE(create_error(R"({"envName":"prod","displayName":"D",
                             "payloadUrl":"http://h"})",
                         env_scope()),
            "");
}

TEST(webhook, patch_is_a_full_replace_except_format_and_secret) {
  auto hook = created(R"({"name":"h","displayName":"D","payloadUrl":"http://h",
    "secret":"one","active":true,"format":"ms_teams",
    "filters":["update_failed"],"groups":["stacks"]})");
  ASSERT_TRUE(patch(R"({"displayName":"E","payloadUrl":"http://i"})", hook));
  EXPECT_EQ(hook.display_name, "E");
  EXPECT_FALSE(hook.active);
  EXPECT_TRUE(hook.filters.empty());
  EXPECT_TRUE(hook.groups.empty());
  EXPECT_EQ(hook.format, "ms_teams");
  EXPECT_EQ(hook.secret, "one");
  EXPECT_EQ(hook.name, "h");

  ASSERT_TRUE(patch(R"({"displayName":"E","payloadUrl":"http://i",
                               "secret":"","format":null})",
                    hook));
  EXPECT_EQ(hook.secret, "one");
  ASSERT_TRUE(patch(R"({"displayName":"E","payloadUrl":"http://i",
                               "secret":"two","format":"raw"})",
                    hook));
  EXPECT_EQ(hook.secret, "two");
  EXPECT_EQ(hook.format, "raw");
  ASSERT_TRUE(patch(R"({"displayName":"E","payloadUrl":"http://i",
                               "secret":"__remove-secret"})",
                    hook));
  EXPECT_TRUE(hook.secret.empty());

  auto before = hook;
  EXPECT_FALSE(patch(R"({"displayName":"","payloadUrl":"http://i"})", hook));
  EXPECT_EQ(hook.display_name, before.display_name); // unchanged on failure
}

TEST(webhook, storage_round_trip_seals_the_secret) {
  const auto& sealer = *node_sealer;
  auto hook = created(R"({"name":"h","displayName":"D","payloadUrl":"http://h",
                          "secret":"very-secret-value","filters":["update_failed"]})");
  hook.id = "id-1";
  auto stored = storage_json(hook, sealer);
  EXPECT_EQ(stored.find("very-secret-value"), std::string::npos);
  auto back = from_storage_json(stored, sealer);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->secret, "very-secret-value");
  EXPECT_EQ(back->filters, hook.filters);
  EXPECT_EQ(response_json(*back), response_json(hook));
  crypto::sealer wrong{std::string(32, 'w')};
  EXPECT_FALSE(from_storage_json(stored, wrong));
  // The fan-out index reads a stored hook without the key at all.
  auto summary = summary_from_storage(stored);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->filters, hook.filter_mask());
  EXPECT_EQ(summary->id, "id-1");
}

TEST(webhook, a_secret_is_sealed_at_the_door_and_opened_by_the_registry) {
  auto sealer = std::make_shared<const crypto::sealer>(std::string(32, 'k'));
  auto sealed = seal_body_secret(
      R"({"name":"h","displayName":"D","payloadUrl":"http://h",
        "secret":"very-secret-value"})",
      *sealer);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->find("very-secret-value"), std::string::npos);
  auto with_transit = rules;
  with_transit.transit = sealer;
  auto hook = parse_create(*sealed, stack_scope(), with_transit);
  ASSERT_TRUE(hook) << message_of(hook.error());
  EXPECT_EQ(hook->secret, "very-secret-value");

  // A client cannot hand in a sealed secret of its own.
  auto forged = seal_body_secret(
      R"({"name":"h","displayName":"D","payloadUrl":"http://h",
        "hookd.sealedSecret":"AAAA"})",
      *sealer);
  ASSERT_TRUE(forged);
  auto plain = parse_create(*forged, stack_scope(), with_transit);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->secret.empty());

  // Malformed bodies get the registry's own error, at the door.
  auto bad = seal_body_secret("{", *sealer);
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), ec::bad_request);
  EXPECT_NE(message_of(bad.error()).find("malformed JSON"), std::string::npos);
}

TEST(webhook, stored_numbers_hookd_never_writes_are_damage) {
  crypto::sealer sealer{std::string(32, 'm')};
  auto hook
      = created(R"({"name":"h","displayName":"D","payloadUrl":"http://h"})");
  hook.id = "id-1";
  auto stored = json::parse(storage_json(hook, sealer));
  ASSERT_TRUE(from_storage_json(stored.dump(), sealer));
  // Reading 1e300 as an integer was undefined behaviour (found by fuzzing).
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"kind", 1e300},
           {"kind", 1.5},
           {"kind", -1},
           {"kind", 3},
           {"createdAt", 1e300},
           {"createdAt", 18446744073709551615u}}) {
    auto damaged = stored;
    damaged[field] = value;
    EXPECT_FALSE(from_storage_json(damaged.dump(), sealer)) << field << value;
    EXPECT_FALSE(summary_from_storage(damaged.dump())) << field << value;
  }
}

TEST(webhook, a_rotation_keeps_the_old_secret_for_the_overlap_only) {
  auto overlapping = rules;
  overlapping.rotation_overlap = std::chrono::hours{1};
  auto hook = created(R"({"displayName":"D","payloadUrl":"http://h/",
                          "secret":"old-secret"})");
  hook.id = "id-rot";
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto next = apply_update(
      R"({"displayName":"D","payloadUrl":"http://h/","secret":"new-secret"})",
      overlapping, hook);
  ASSERT_TRUE(next) << message_of(next.error());
  EXPECT_EQ(next->secret, "new-secret");
  EXPECT_EQ(signing_previous(*next, now), "old-secret");
  EXPECT_EQ(signing_previous(*next, now + 3601), "");
  // Sealed in the store like the secret, and read back.
  auto stored = storage_json(*next, *node_sealer);
  EXPECT_EQ(stored.find("old-secret"), std::string::npos);
  auto back = from_storage_json(stored, *node_sealer);
  ASSERT_TRUE(back);
  EXPECT_EQ(signing_previous(*back, now), "old-secret");
  // The same secret again, or none, leaves nothing to overlap.
  auto same = apply_update(
      R"({"displayName":"E","payloadUrl":"http://h/","secret":"new-secret"})",
      overlapping, *next);
  ASSERT_TRUE(same);
  EXPECT_EQ(signing_previous(*same, now), "old-secret");
  auto removed = apply_update(
      R"({"displayName":"D","payloadUrl":"http://h/","secret":"__remove-secret"})",
      overlapping, *next);
  ASSERT_TRUE(removed);
  EXPECT_EQ(signing_previous(*removed, now), "");
  EXPECT_EQ(signing_previous(
                *apply_update(R"({"displayName":"D","payloadUrl":"http://h/",
                                  "secret":"other"})",
                              rules, hook),
                now),
            "");
}

TEST(webhook, filter_lists_are_bounded) {
  auto list_of = [](std::size_t n, bool distinct) {
    json items = json::array();
    for (std::size_t i = 0; i < n; ++i)
      items.push_back(distinct ? "x" + std::to_string(i) : "update_failed");
    return json{
        {"displayName", "D"}, {"payloadUrl", "http://h"}, {"filters", items}}
        .dump();
  };
  // Repeats are dropped; past 256 entries the list is refused at once,
  // before any entry is looked at.
  EXPECT_EQ(create_error(list_of(256, false)), "");
  EXPECT_EQ(created(list_of(256, false)).filters,
            std::vector<std::string>{"update_failed"});
  EXPECT_NE(create_error(list_of(257, false)).find("at most 256"),
            std::string::npos);
  EXPECT_NE(create_error(list_of(50000, true)).find("at most 256"),
            std::string::npos);
}
