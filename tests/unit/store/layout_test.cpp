// The data directory's layout: partitions, and the conversion of a data
// directory of the single-store layout, which must lose nothing.
#include "hookd/layout.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "hookd/crypto.hpp"
#include "hookd/keys.hpp"
#include "hookd/partition.hpp"

using namespace hookd;

namespace {

struct temp_dir {
  std::string path
      = testing::TempDir() + "hookd-layout-" + crypto::random_hex(6);
  ~temp_dir() {
    std::filesystem::remove_all(path);
  }
};

config config_in(const std::string& dir, std::uint32_t partitions) {
  config cfg;
  cfg.data_dir = dir;
  cfg.partitions = partitions;
  cfg.master_key = std::string(64, 'a');
  return cfg;
}

std::optional<std::string> value_of(store& db, const std::string& key) {
  auto v = db.get(key);
  EXPECT_TRUE(v) << message_of(v.error());
  return v ? *v : std::nullopt;
}

} // namespace

TEST(partitions, fnv1a_64_places_organizations_as_the_spec_says) {
  // The FNV-1a test vectors, and the rule partition = hash % P.
  EXPECT_EQ(fnv1a64(""), 14695981039346656037ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
  EXPECT_EQ(partition_of("foobar", 64), 0x85944171f73967e8ull % 64);
  // An org token's id names its organization's hash; ids made before do
  // not, and are told apart.
  auto id = org_token_id("acme");
  ASSERT_TRUE(org_hash_of_token_id(id));
  EXPECT_EQ(*org_hash_of_token_id(id), fnv1a64("acme"));
  EXPECT_FALSE(org_hash_of_token_id("0123456789abcdef"));
  EXPECT_FALSE(org_hash_of_token_id("admin"));
  EXPECT_FALSE(org_hash_of_token_id(std::string(32, 'z')));
}

TEST(partitions, a_partition_gets_its_store_when_it_first_starts) {
  temp_dir dir;
  auto host = prepare_host(config_in(dir.path, 8), true);
  ASSERT_TRUE(host) << message_of(host.error());
  ASSERT_EQ(host->stores.size(), 8u);
  // Nothing is made for partitions that hold no data yet.
  for (std::uint32_t p = 0; p < 8; ++p) {
    EXPECT_FALSE(host->stores[p]);
    EXPECT_FALSE(partition_exists(dir.path, p));
  }
  auto three = open_partition(*host, 3);
  ASSERT_TRUE(three) << message_of(three.error());
  write_batch b;
  b.puts.emplace_back("t/x", "y");
  ASSERT_FALSE((*three)->commit(std::move(b)));
  EXPECT_TRUE(partition_exists(dir.path, 3));
  three = caf::expected<store_ptr>{make_error(ec::internal, "closed")};
  // The admin token was made once, kept as a hash.
  EXPECT_FALSE(host->new_admin_token.empty());
  EXPECT_EQ(host->admin_hash, crypto::sha256_hex(host->new_admin_token));
  auto hash = host->admin_hash;
  host = caf::expected<host_setup>{make_error(ec::internal, "closed")};
  auto again = prepare_host(config_in(dir.path, 8), true);
  ASSERT_TRUE(again) << message_of(again.error());
  EXPECT_TRUE(again->new_admin_token.empty());
  EXPECT_EQ(again->admin_hash, hash);
  // A single node opens the partitions that hold data at start.
  ASSERT_TRUE(again->stores[3]);
  EXPECT_EQ(*again->stores[3]->get("t/x"), std::optional<std::string>{"y"});
  EXPECT_FALSE(again->stores[2]);
}

TEST(partitions, another_partition_count_is_refused_naming_both) {
  temp_dir dir;
  ASSERT_TRUE(prepare_host(config_in(dir.path, 8), true));
  auto other = prepare_host(config_in(dir.path, 16), true);
  ASSERT_FALSE(other);
  auto text = message_of(other.error());
  EXPECT_NE(text.find("holds 8 partitions"), std::string::npos) << text;
  EXPECT_NE(text.find("HOOKD_PARTITIONS is 16"), std::string::npos) << text;
}

TEST(partitions, a_single_store_data_dir_is_converted_without_loss) {
  temp_dir dir;
  const std::uint32_t count = 16;
  // What a node of the single-store layout left: two organizations'
  // tokens, webhooks, events, deliveries, queues and deployments.
  std::vector<std::pair<std::string, std::string>> written;
  {
    auto old = store::open(dir.path, true);
    ASSERT_TRUE(old);
    write_batch b;
    auto put = [&](std::string k, std::string v) {
      written.emplace_back(k, v);
      b.puts.emplace_back(std::move(k), std::move(v));
    };
    b.puts.emplace_back(keys::admin_token(), "feedface");
    for (std::string org : {"acme", "globex"}) {
      auto hook = "hook-" + org;
      auto ev = "ev-" + org;
      put("t/tok-" + org,
          R"({"id":"tok-)" + org + R"(","org":")" + org + R"(","hash":"00"})");
      put("c/o/" + org + "/web", R"({"id":")" + hook + R"("})");
      put("c/s/" + org + "/proj/prod/stack", R"({"id":")" + hook + R"(-s"})");
      put("ev/" + ev, R"({"id":")" + ev + R"(","org":")" + org + R"("})");
      put("et/00000000000000000001/" + ev, "");
      put("pf/" + ev, "00000000000000000001");
      put("dr/" + ev, "1");
      put("h/" + hook + "/0001/" + ev, "{}");
      put("hx/" + hook + "/" + ev, "0001");
      put("q/" + hook + "/" + ev, "{}");
      put("p/" + hook + "/0.debounce/k", "v");
      put("dk/" + hook + "/a1", "{}");
      put("dv/" + org + "/proj/prod", "3");
      put("dp/" + org + "/proj/prod/3", "{}");
    }
    put("eb/complete", "1");
    ASSERT_FALSE((*old)->commit(std::move(b)));
  }
  auto host = prepare_host(config_in(dir.path, count), true);
  ASSERT_TRUE(host) << message_of(host.error());
  // The admin token's hash moved to node.json; the old store is kept aside.
  EXPECT_EQ(host->admin_hash, "feedface");
  EXPECT_TRUE(host->new_admin_token.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path + "/db"));
  EXPECT_TRUE(std::filesystem::exists(dir.path + "/db.single-store/CURRENT"));
  for (const auto& [key, value] : written) {
    if (key == "eb/complete") {
      for (auto& db : host->stores)
        EXPECT_EQ(value_of(*db, key), value);
      continue;
    }
    auto org = key.find("acme") != std::string::npos ? "acme" : "globex";
    auto home = partition_of(org, count);
    for (std::uint32_t p = 0; p < count; ++p)
      EXPECT_EQ(value_of(*host->stores[p], key),
                p == home ? std::optional<std::string>{value} : std::nullopt)
          << key << " in partition " << p;
  }
}

TEST(partitions, placement_is_even_deterministic_and_stable) {
  for (std::uint32_t count : {1u, 7u, 16u, 64u}) {
    for (std::size_t n = 1; n <= 5; ++n) {
      std::vector<std::string> members;
      for (std::size_t i = 0; i < n; ++i)
        members.push_back("node-" + std::to_string(i));
      auto placed = place_partitions(members, count);
      ASSERT_EQ(placed.size(), count);
      // Every member owns ⌊P/N⌋ or ⌈P/N⌉.
      std::map<std::string, std::uint32_t> owned;
      for (const auto& m : placed)
        ++owned[m];
      for (const auto& m : members) {
        if (count < n && owned[m] == 0)
          continue;
        EXPECT_GE(owned[m], count / n) << count << " over " << n;
        EXPECT_LE(owned[m], (count + n - 1) / n) << count << " over " << n;
      }
      // Every node computes the same, whatever order it lists members in.
      std::reverse(members.begin(), members.end());
      EXPECT_EQ(place_partitions(members, count), placed);
    }
  }
  // Rendezvous hashing: adding a member moves partitions only to it.
  auto three = place_partitions({"a", "b", "c"}, 64);
  auto four = place_partitions({"a", "b", "c", "d"}, 64);
  std::size_t moved_elsewhere = 0;
  for (std::size_t p = 0; p < 64; ++p)
    if (three[p] != four[p] && four[p] != "d")
      ++moved_elsewhere;
  EXPECT_LE(moved_elsewhere, 8u);
}

TEST(partitions, every_copy_is_on_another_member_and_spread_evenly) {
  for (std::uint32_t replicas : {1u, 2u, 3u}) {
    for (std::size_t n = 1; n <= 5; ++n) {
      std::vector<std::string> members;
      for (std::size_t i = 0; i < n; ++i)
        members.push_back("node-" + std::to_string(i));
      auto copies = place_replicas(members, 64, replicas);
      ASSERT_EQ(copies.size(), 64u);
      auto owners = place_partitions(members, 64);
      std::map<std::string, std::uint32_t> held;
      for (std::uint32_t p = 0; p < 64; ++p) {
        // The owner is the one place_partitions gives; then as many
        // followers as asked for and the members allow, all different.
        ASSERT_EQ(copies[p].size(), std::min<std::size_t>(replicas, n));
        EXPECT_EQ(copies[p].front(), owners[p]);
        std::set<std::string> distinct(copies[p].begin(), copies[p].end());
        EXPECT_EQ(distinct.size(), copies[p].size());
        for (const auto& m : copies[p])
          ++held[m];
      }
      // Copies spread: nobody holds many more than an even share.
      auto even = 64.0 * std::min<std::size_t>(replicas, n) / n;
      for (const auto& m : members)
        EXPECT_LE(held[m], even + std::min<std::size_t>(replicas, n))
            << replicas << " copies over " << n;
      std::reverse(members.begin(), members.end());
      EXPECT_EQ(place_replicas(members, 64, replicas), copies);
    }
  }
}
