#include "hookd/store.hpp"

#include <filesystem>
#include <map>

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

// A read from memory answers the value or "ask the disk", never a value it
// did not read: a store just opened has none of its table files open, and
// RocksDB answers such a Get under kBlockCacheTier OK with an empty value.
TEST(store, a_read_from_memory_never_answers_a_value_it_did_not_read) {
  temp_dir dir;
  std::map<std::string, std::string> written;
  // Several table files: each clean close flushes the memtable.
  for (int round = 0; round < 6; ++round) {
    auto opened = store::open(dir.path, false);
    ASSERT_TRUE(opened) << message_of(opened.error());
    write_batch b;
    for (int i = 0; i < 50; ++i) {
      auto key = "c/o/org-" + std::to_string(round) + "/h" + std::to_string(i);
      auto value = "config " + std::to_string(round * 100 + i);
      b.puts.emplace_back(key, value);
      written[key] = value;
    }
    ASSERT_FALSE((*opened)->commit(std::move(b)));
  }
  store_options opts;
  opts.max_open_files = 1;
  auto opened = store::open(dir.path, opts);
  ASSERT_TRUE(opened) << message_of(opened.error());
  auto db = *opened;
  std::size_t from_memory = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& [key, value] : written) {
      auto cached = db->get_cached(key);
      if (!cached) {
        // Needs the disk: the reader threads answer it (and the next read
        // of the key may come from memory).
        EXPECT_EQ(db->get(key).value(), std::optional<std::string>{value});
        continue;
      }
      ASSERT_TRUE(*cached) << key;
      ASSERT_TRUE(cached->value().has_value()) << key;
      EXPECT_EQ(*cached->value(), value) << key;
      ++from_memory;
      // What the disk says agrees.
      EXPECT_EQ(db->get(key).value(), std::optional<std::string>{value});
    }
  auto absent = db->get_cached("c/o/nobody/h");
  if (absent) {
    ASSERT_TRUE(*absent);
    EXPECT_FALSE(absent->value().has_value());
  }
  std::cerr << from_memory << " of " << 2 * written.size()
            << " reads answered from memory\n";
}

TEST(store, an_unusable_directory_is_reported) {
  auto db = store::open("/proc/hookd-cannot-be-here", false);
  ASSERT_FALSE(db);
  EXPECT_NE(message_of(db.error()).find("/proc/hookd-cannot-be-here"),
            std::string::npos);
}

// -- replication primitives -------------------------------------------------

namespace {

std::map<std::string, std::string> contents(store& db) {
  std::map<std::string, std::string> out;
  db.scan("", {}, false, [&](std::string_view k, std::string_view v) {
    out.emplace(k, v);
    return true;
  });
  return out;
}

write_batch batch_of(int i) {
  write_batch b;
  b.puts.emplace_back("h/hook/" + std::to_string(1000 + i),
                      "record " + std::to_string(i));
  b.puts.emplace_back("q/hook/" + std::to_string(1000 + i), "queued");
  if (i % 3 == 0)
    b.delete_prefixes.push_back("q/hook/");
  if (i % 5 == 0)
    b.deletes.push_back("h/hook/" + std::to_string(1000 + i - 1));
  return b;
}

} // namespace

// A follower seeded from a checkpoint and fed the owner's committed groups
// in order holds exactly what the owner holds, range deletes included.
TEST(store_replication, a_checkpoint_and_the_log_reproduce_the_store) {
  temp_dir owner_dir, follower_dir;
  auto owner = *store::open(owner_dir.path, false);
  for (int i = 0; i < 20; ++i)
    ASSERT_FALSE(owner->commit(batch_of(i)));
  ASSERT_FALSE(owner->checkpoint(follower_dir.path));
  auto seeded_at = owner->sequence();
  for (int i = 20; i < 200; ++i)
    ASSERT_FALSE(owner->commit(batch_of(i)));

  auto follower = *store::open(follower_dir.path, false);
  EXPECT_EQ(follower->sequence(), seeded_at);
  // Tail in small pieces, as a follower over the network would.
  while (follower->sequence() < owner->sequence()) {
    auto changes = owner->changes_since(follower->sequence() + 1, 256);
    ASSERT_TRUE(changes) << message_of(changes.error());
    ASSERT_FALSE(changes->empty());
    for (const auto& c : *changes)
      ASSERT_FALSE(follower->apply(c)) << c.sequence;
  }
  EXPECT_EQ(follower->sequence(), owner->sequence());
  EXPECT_EQ(contents(*follower), contents(*owner));
  // Caught up: nothing more to send.
  auto none = owner->changes_since(owner->sequence() + 1, 256);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// A change that does not start where the follower stands is refused, not
// applied out of order.
TEST(store_replication, a_change_out_of_order_is_refused) {
  temp_dir owner_dir, follower_dir;
  auto owner = *store::open(owner_dir.path, false);
  ASSERT_FALSE(owner->commit(batch_of(1)));
  ASSERT_FALSE(owner->checkpoint(follower_dir.path));
  ASSERT_FALSE(owner->commit(batch_of(2)));
  ASSERT_FALSE(owner->commit(batch_of(3)));
  auto follower = *store::open(follower_dir.path, false);
  auto changes = owner->changes_since(follower->sequence() + 1, 1 << 20);
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->size(), 2u);
  auto err = follower->apply(changes->back());
  ASSERT_TRUE(err);
  EXPECT_EQ(code_of(err), ec::conflict);
  EXPECT_FALSE(follower->apply(changes->front()));
  EXPECT_FALSE(follower->apply(changes->back()));
  EXPECT_EQ(contents(*follower), contents(*owner));
}

// A log that no longer reaches back far enough says so (the follower is
// seeded again), rather than starting later and skipping writes.
TEST(store_replication, a_gap_in_the_log_is_an_error) {
  temp_dir dir;
  auto owner = *store::open(dir.path, false);
  for (int i = 0; i < 5; ++i)
    ASSERT_FALSE(owner->commit(batch_of(i)));
  auto first = owner->changes_since(1, 1 << 20);
  ASSERT_TRUE(first) << message_of(first.error());
  EXPECT_EQ(first->front().sequence, 1u);
  // Reopening flushes the memtables; the old log files are gone then.
  owner.reset();
  owner = *store::open(dir.path, false);
  ASSERT_FALSE(owner->commit(batch_of(6)));
  auto gone = owner->changes_since(1, 1 << 20);
  ASSERT_FALSE(gone);
  EXPECT_EQ(code_of(gone.error()), ec::not_found) << message_of(gone.error());
}
