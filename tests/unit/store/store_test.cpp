#include "hookd/store.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "hookd/crypto.hpp"

using namespace hookd;

namespace {

struct temp_dir {
  std::string path = testing::TempDir() + "hookd-store-" + crypto::random_hex(6);
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
  failure err;
  auto db = store::open(dir.path, false, err);
  ASSERT_TRUE(db) << err.message;
  for (auto k : {"c/o/acme/a", "c/o/acme/b", "c/o/acme2/a", "c/s/acme/p/s/a",
                 "h/1/0001", "h/1/0002", "h/1/0003", "h/2/0001"})
    db->put(k, "v");
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
  failure err;
  {
    auto db = store::open(dir.path, true, err);
    ASSERT_TRUE(db) << err.message;
    db->put("c/o/acme/h", "config");
    db->put("h/id/1", "r1");
    db->put("h/id/2", "r2");
    db->put("h/idx/1", "other");
    db->write({{{"t/1", "token"}}, {"c/o/acme/h"}, {"h/id/"}});
  }
  auto db = store::open(dir.path, false, err);
  ASSERT_TRUE(db) << err.message;
  std::string v;
  EXPECT_FALSE(db->get("c/o/acme/h", v));
  EXPECT_TRUE(keys(*db, "h/id/").empty());
  EXPECT_TRUE(db->get("h/idx/1", v));
  EXPECT_TRUE(db->get("t/1", v));
  EXPECT_EQ(v, "token");
  EXPECT_TRUE(db->healthy());
}

TEST(store, an_unusable_directory_is_reported) {
  failure err;
  auto db = store::open("/proc/hookd-cannot-be-here", false, err);
  EXPECT_FALSE(db);
  EXPECT_NE(err.message.find("/proc/hookd-cannot-be-here"), std::string::npos);
}
