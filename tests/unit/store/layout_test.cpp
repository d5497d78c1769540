// The data directory's layout: partitions, and the conversion of a data
// directory of the single-store layout, which must lose nothing.
#include "hookd/layout.hpp"

#include <filesystem>
#include <fstream>

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

TEST(partitions, a_fresh_data_dir_gets_one_store_per_partition) {
  temp_dir dir;
  auto host = prepare_host(config_in(dir.path, 8), true);
  ASSERT_TRUE(host) << message_of(host.error());
  ASSERT_EQ(host->stores.size(), 8u);
  for (std::uint32_t p = 0; p < 8; ++p) {
    ASSERT_TRUE(host->stores[p]);
    EXPECT_TRUE(std::filesystem::exists(partition_dir(dir.path, p) + "/db"));
  }
  // The admin token was made once, kept as a hash.
  EXPECT_FALSE(host->new_admin_token.empty());
  EXPECT_EQ(host->admin_hash, crypto::sha256_hex(host->new_admin_token));
  auto hash = host->admin_hash;
  host = caf::expected<host_setup>{make_error(ec::internal, "closed")};
  auto again = prepare_host(config_in(dir.path, 8), true);
  ASSERT_TRUE(again) << message_of(again.error());
  EXPECT_TRUE(again->new_admin_token.empty());
  EXPECT_EQ(again->admin_hash, hash);
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
