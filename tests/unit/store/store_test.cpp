#include "hookd/store.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "hookd/crypto.hpp"

using namespace hookd;

namespace {

struct temp_dir {
  std::string path
      = testing::TempDir() + "hookd-store-" + crypto::random_hex(6);
  ~temp_dir() {
    std::filesystem::remove_all(path);
  }
};

std::vector<std::string> keys(store& db, std::string_view prefix,
                              std::string_view start = {},
                              bool reverse = false) {
  std::vector<std::string> out;
  db.scan(prefix, start, reverse, [&](std::string_view k, std::string_view) {
    out.emplace_back(k);
    return true;
  });
  return out;
}

} // namespace

TEST(store, prefix_scans_stay_inside_their_prefix) {
  temp_dir dir;
  auto opened = store::open(dir.path, false);
  ASSERT_TRUE(opened) << message_of(opened.error());
  auto db = *opened;
  write_batch b;
  for (auto k : {"c/o/acme/a", "c/o/acme/b", "c/o/acme2/a", "c/s/acme/p/s/a",
                 "h/1/0001", "h/1/0002", "h/1/0003", "h/2/0001"})
    b.puts.emplace_back(k, "v");
  ASSERT_FALSE(db->commit(b));
  EXPECT_EQ(keys(*db, "c/o/acme/"),
            (std::vector<std::string>{"c/o/acme/a", "c/o/acme/b"}));
  EXPECT_EQ(keys(*db, "h/1/", {}, true),
            (std::vector<std::string>{"h/1/0003", "h/1/0002", "h/1/0001"}));
  EXPECT_EQ(keys(*db, "h/1/", "h/1/0002", true),
            (std::vector<std::string>{"h/1/0002", "h/1/0001"}));
  EXPECT_EQ(keys(*db, "h/2/", {}, true),
            (std::vector<std::string>{"h/2/0001"}));
}

TEST(store, batches_apply_together_and_survive_reopening) {
  temp_dir dir;
  {
    auto opened = store::open(dir.path, true);
    ASSERT_TRUE(opened) << message_of(opened.error());
    auto db = *opened;
    write_batch first;
    first.puts = {{"c/o/acme/h", "config"},
                  {"h/id/1", "r1"},
                  {"h/id/2", "r2"},
                  {"h/idx/1", "other"}};
    // A group: the second batch sees the first's writes, in order.
    write_batch second{{{"t/1", "token"}}, {"c/o/acme/h"}, {"h/id/"}};
    ASSERT_FALSE(db->commit(std::vector<write_batch>{first, second}));
  }
  auto opened = store::open(dir.path, false);
  ASSERT_TRUE(opened) << message_of(opened.error());
  auto db = *opened;
  auto get = [&](const char* key) {
    auto v = db->get(key);
    EXPECT_TRUE(v);
    return v ? *v : std::nullopt;
  };
  EXPECT_FALSE(get("c/o/acme/h"));
  EXPECT_TRUE(keys(*db, "h/id/").empty());
  EXPECT_TRUE(get("h/idx/1"));
  EXPECT_EQ(get("t/1"), std::optional<std::string>{"token"});
  EXPECT_TRUE(db->healthy());
}

TEST(store, an_unusable_directory_is_reported) {
  auto db = store::open("/proc/hookd-cannot-be-here", false);
  ASSERT_FALSE(db);
  EXPECT_NE(message_of(db.error()).find("/proc/hookd-cannot-be-here"),
            std::string::npos);
}
