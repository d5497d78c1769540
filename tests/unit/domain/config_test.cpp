#include "hookd/config.hpp"

#include <fstream>
#include <map>

#include <gtest/gtest.h>

using namespace hookd;
using namespace std::chrono_literals;

namespace {

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end())
      return it->second;
    return std::nullopt;
  };
}

} // namespace

TEST(config, defaults_without_file_or_environment) {
  auto loaded = load_config("", env_of({}));
  ASSERT_TRUE(loaded) << message_of(loaded.error());
  auto& cfg = *loaded;
  EXPECT_EQ(cfg.bind, "127.0.0.1");
  EXPECT_EQ(cfg.http_port, 8080);
  EXPECT_EQ(cfg.data_dir, "./data");
  EXPECT_EQ(cfg.retry_schedule.size(), 8u);
  EXPECT_EQ(cfg.retry_schedule[3], 30min);
  EXPECT_EQ(cfg.delivery_timeout, 10s);
  EXPECT_FALSE(cfg.allow_private_targets);
}

TEST(config, environment_overrides_file) {
  auto path = testing::TempDir() + "hookd-config-test.conf";
  std::ofstream{path} << "# comment\nhttp_port = 9000\nsync = 1\n"
                         "retry_schedule = 0s, 200ms ,1s\n";
  auto loaded = load_config(
      path,
      env_of({{"HOOKD_HTTP_PORT", "0"}, {"HOOKD_ALLOW_PRIVATE_TARGETS", "1"}}));
  ASSERT_TRUE(loaded) << message_of(loaded.error());
  auto& cfg = *loaded;
  EXPECT_EQ(cfg.http_port, 0);
  EXPECT_TRUE(cfg.sync);
  EXPECT_TRUE(cfg.allow_private_targets);
  ASSERT_EQ(cfg.retry_schedule.size(), 3u);
  EXPECT_EQ(cfg.retry_schedule[1], 200ms);
}

TEST(config, plugins_are_a_list_in_order) {
  auto path = testing::TempDir() + "hookd-config-plugins.conf";
  std::ofstream{path} << "plugins = /a/libhookd_x.so , b.so,,\n";
  auto loaded = load_config(path, env_of({}));
  ASSERT_TRUE(loaded) << message_of(loaded.error());
  EXPECT_EQ(loaded->plugins,
            (std::vector<std::string>{"/a/libhookd_x.so", "b.so"}));
  loaded = load_config(path, env_of({{"HOOKD_PLUGINS", "c.so"}}));
  ASSERT_TRUE(loaded) << message_of(loaded.error());
  EXPECT_EQ(loaded->plugins, (std::vector<std::string>{"c.so"}));
  loaded = load_config({}, env_of({}));
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->plugins.empty());
}

TEST(config, bad_settings_are_named) {
  struct bad {
    const char* var;
    const char* value;
  };
  for (auto [var, value] :
       {bad{"HOOKD_HTTP_PORT", "http"}, bad{"HOOKD_HTTP_PORT", "70000"},
        bad{"HOOKD_RETRY_SCHEDULE", "1s,soon"},
        bad{"HOOKD_DELIVERY_TIMEOUT", "0s"},
        bad{"HOOKD_REQUEST_TIMEOUT", "soon"}, bad{"HOOKD_MASTER_KEY", "abcd"},
        bad{"HOOKD_ADMIN_TOKEN", "short"}, bad{"HOOKD_SYNC", "maybe"},
        bad{"HOOKD_CA_FILE", "/nonexistent/ca.pem"},
        bad{"HOOKD_TLS_CERT", "/nonexistent/hookd.crt"},
        bad{"HOOKD_TLS_KEY", "/nonexistent/hookd.key"}}) {
    auto loaded = load_config("", env_of({{var, value}}));
    ASSERT_FALSE(loaded) << var;
    auto message = message_of(loaded.error());
    EXPECT_NE(message.find(var), std::string::npos) << message;
  }
}

TEST(config, unknown_key_in_file_is_named_with_its_line) {
  auto path = testing::TempDir() + "hookd-config-bad.conf";
  std::ofstream{path} << "bind = 0.0.0.0\nlisten_port = 1\n";
  auto loaded = load_config(path, env_of({}));
  ASSERT_FALSE(loaded);
  auto message = message_of(loaded.error());
  EXPECT_NE(message.find("listen_port"), std::string::npos);
  EXPECT_NE(message.find(":2"), std::string::npos);
}

TEST(config, missing_file_is_an_error) {
  auto loaded = load_config("/nonexistent/hookd.conf", env_of({}));
  ASSERT_FALSE(loaded);
  EXPECT_NE(message_of(loaded.error()).find("/nonexistent/hookd.conf"),
            std::string::npos);
}

TEST(config, the_shipped_config_files_load) {
  for (auto name : {"hookd.conf", "quickstart.conf"}) {
    auto path = std::string{HOOKD_SOURCE_DIR} + "/config/" + name;
    auto loaded = load_config(path, env_of({}));
    ASSERT_TRUE(loaded) << name << ": " << message_of(loaded.error());
    auto& cfg = *loaded;
    EXPECT_EQ(cfg.http_port, 8080) << name;
    EXPECT_EQ(cfg.allow_private_targets, std::string{name} == "quickstart.conf")
        << name;
  }
}

TEST(config, event_retention_takes_days_and_refuses_less_than_a_second) {
  auto loaded = load_config("", env_of({}));
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->event_retention, std::chrono::hours{24 * 7});
  loaded = load_config("", env_of({{"HOOKD_EVENT_RETENTION", "30d"}}));
  ASSERT_TRUE(loaded) << message_of(loaded.error());
  EXPECT_EQ(loaded->event_retention, std::chrono::hours{24 * 30});
  for (const char* bad : {"0s", "500ms", "7 days", "-1d", ""}) {
    auto refused = load_config("", env_of({{"HOOKD_EVENT_RETENTION", bad}}));
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(message_of(refused.error()).find("HOOKD_EVENT_RETENTION"),
              std::string::npos)
        << message_of(refused.error());
  }
}
