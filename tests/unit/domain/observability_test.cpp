// The log's line format and the metrics' label bounds, without a process.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hookd/log.hpp"
#include "hookd/metrics.hpp"

using namespace hookd;

TEST(log_line, is_one_json_object_with_its_fields) {
  auto line = log::render(1795801541123, log::level::warn, "delivery failed",
                          {{"org", "acme"},
                           {"status", 503},
                           {"ratio", 0.5},
                           {"text", "quote \" newline \n tab \t"}});
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ts"], "2026-11-27T17:45:41.123Z");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "delivery failed");
  EXPECT_EQ(j["org"], "acme");
  EXPECT_EQ(j["status"], 503);
  EXPECT_EQ(j["ratio"], 0.5);
  EXPECT_EQ(j["text"], "quote \" newline \n tab \t");
}

TEST(log_line, survives_bytes_that_are_not_utf8_and_keeps_its_own_keys) {
  auto line = log::render(0, log::level::info, "m\xff",
                          {{"ts", "forged"}, {"msg", "forged"}, {"x", "\xc3"}});
  auto j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_TRUE(j.is_object()) << line;
  EXPECT_EQ(j["ts"], "1970-01-01T00:00:00.000Z");
  EXPECT_NE(j["msg"], "forged");
  EXPECT_TRUE(j["x"].is_string());
}

TEST(log_level, parses_the_four_names_only) {
  log::level l = log::level::info;
  for (const char* name : {"debug", "info", "warn", "error"}) {
    ASSERT_TRUE(log::parse_level(name, l)) << name;
    EXPECT_EQ(log::name_of(l), name);
  }
  EXPECT_FALSE(log::parse_level("verbose", l));
  EXPECT_FALSE(log::parse_level("INFO", l));
  EXPECT_FALSE(log::parse_level("", l));
}

TEST(metrics_labels, unknown_values_fold_into_other) {
  metrics::http_request("list_hooks", 200, 0.001);
  metrics::attempt("discord", metrics::attempt_result::succeeded, 0.01);
  auto before = metrics::series_count();
  // Whatever a caller passes, only a bounded set of values appears.
  for (int i = 0; i < 100; ++i) {
    metrics::http_request("Route-" + std::to_string(i), 200, 0.001);
    metrics::attempt("fmt" + std::to_string(i),
                     metrics::attempt_result::succeeded, 0.01);
    metrics::component_restarted("registry-" + std::to_string(i));
  }
  EXPECT_LE(metrics::series_count(), before + 2);
  auto text = metrics::render({});
  EXPECT_NE(
      text.find("hookd_http_requests_total{route=\"other\",code=\"200\"}"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("format=\"other\""), std::string::npos);
  EXPECT_NE(text.find("hookd_component_restarts_total{component=\"registry\"} "
                      "100"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("Route-"), std::string::npos);
  EXPECT_EQ(text.find("fmt1"), std::string::npos);
}
