#include "hookd/event.hpp"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

using namespace hookd;
using json = nlohmann::json;

TEST(event, stored_numbers_hookd_never_writes_are_damage) {
  auto stored = json::parse(R"({"id":"0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0",
    "event":"update_succeeded","org":"acme","project":"web","subject":"prod",
    "body":"{}","created":1700000000,"hops":3})");
  event ev;
  ASSERT_TRUE(event_from_storage(stored.dump(), ev));
  EXPECT_EQ(ev.created_at, 1700000000);
  EXPECT_EQ(ev.hops, 3u);
  // Reading 34000000000000000001 (a double to nlohmann) as an integer was
  // undefined behaviour (found by fuzzing).
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"created", json::parse("34000000000000000001")},
           {"created", 1e300},
           {"created", 1.5},
           {"hops", -1},
           {"hops", 4294967296u},
           {"hops", 1e300}}) {
    auto damaged = stored;
    damaged[field] = value;
    EXPECT_FALSE(event_from_storage(damaged.dump(), ev)) << field << value;
  }
}
