// The data directory's layout: partitions, node.json, and the conversion
// of the single-store layout (layout.hpp).
#include "hookd/layout.hpp"

#include <filesystem>
#include <fstream>
#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "hookd/defaults.hpp"
#include "hookd/keys.hpp"
#include "hookd/log.hpp"
#include "hookd/node.hpp"
#include "hookd/partition.hpp"

namespace hookd {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int layout_version = 2;
constexpr const char* layout_file = "node.json";
constexpr std::size_t convert_batch = 1000;

/// Writes `content` to `path` atomically (a temporary file, fsynced, then
/// renamed over it), readable by its owner only.
bool write_atomically(const std::string& path, const std::string& content) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return false;
  auto n = ::write(fd, content.data(), content.size());
  bool ok = n == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return false;
  int dir = ::open(fs::path(path).parent_path().c_str(), O_RDONLY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

/// The organization of a scope key ("o/<org>", "s/<org>/…", "e/<org>/…").
std::string org_of_scope_key(std::string_view key) {
  if (key.size() < 3 || key[1] != '/')
    return {};
  auto rest = key.substr(2);
  return std::string{rest.substr(0, rest.find('/'))};
}

/// The part of `key` after its table and before the next '/', or after
/// `skip` more slashes.
std::string field(std::string_view key, std::size_t skip = 0) {
  auto pos = key.find('/');
  for (std::size_t i = 0; i < skip && pos != std::string_view::npos; ++i)
    pos = key.find('/', pos + 1);
  if (pos == std::string_view::npos)
    return {};
  auto rest = key.substr(pos + 1);
  return std::string{rest.substr(0, rest.find('/'))};
}

std::string json_field(std::string_view value, const char* name) {
  auto j = json::parse(value, nullptr, false);
  if (!j.is_object() || !j.contains(name) || !j[name].is_string())
    return {};
  return j[name].get<std::string>();
}

struct layout_record {
  std::uint32_t partitions = 0;
  std::string admin_hash;
};

caf::expected<std::optional<layout_record>> read_layout(const config& cfg) {
  auto path = cfg.data_dir + '/' + layout_file;
  std::ifstream in{path};
  if (!in)
    return std::optional<layout_record>{};
  auto j = json::parse(in, nullptr, false);
  if (!j.is_object() || j.value("layout", 0) != layout_version
      || !j.contains("partitions") || !j["partitions"].is_number_unsigned())
    return make_error(ec::internal,
                      "'" + path
                          + "' is not a hookd layout this version reads");
  layout_record out;
  out.partitions = j["partitions"].get<std::uint32_t>();
  out.admin_hash = j.value("admin_token_sha256", "");
  return std::optional<layout_record>{std::move(out)};
}

caf::error write_layout(const config& cfg, const layout_record& rec) {
  json j{{"layout", layout_version}, {"partitions", rec.partitions}};
  if (!rec.admin_hash.empty())
    j["admin_token_sha256"] = rec.admin_hash;
  auto path = cfg.data_dir + '/' + layout_file;
  if (!write_atomically(path, j.dump(2) + '\n'))
    return make_error(ec::internal, "cannot write '" + path + "'");
  return caf::none;
}

bool single_store_layout(const config& cfg) {
  std::error_code err;
  return fs::exists(cfg.data_dir + "/db/CURRENT", err);
}

} // namespace

std::string partition_dir(const std::string& data_dir, std::uint32_t p) {
  return data_dir + "/partitions/" + std::to_string(p);
}

bool partition_exists(const std::string& data_dir, std::uint32_t p) {
  std::error_code err;
  return fs::exists(partition_dir(data_dir, p) + "/db/CURRENT", err);
}

caf::expected<std::size_t> convert_single_store(const config& cfg,
                                                std::uint32_t partitions) {
  auto old = store::open(cfg.data_dir, true);
  if (!old)
    return std::move(old.error());
  auto& src = **old;
  // Who owns each webhook id and each event id, from their records.
  std::unordered_map<std::string, std::string> hook_org;
  std::unordered_map<std::string, std::string> event_org;
  auto err = src.scan(keys::hook_configs_prefix(), {}, false,
                      [&](std::string_view key, std::string_view value) {
                        auto id = json_field(value, "id");
                        if (!id.empty())
                          hook_org[id] = org_of_scope_key(key.substr(2));
                        return true;
                      });
  if (!err)
    err = src.scan(
        "ev/", {}, false, [&](std::string_view key, std::string_view value) {
          event_org[std::string{key.substr(3)}] = json_field(value, "org");
          return true;
        });
  if (err)
    return err;
  auto lookup = [](const auto& map, const std::string& id) {
    auto it = map.find(id);
    return it == map.end() ? std::string{} : it->second;
  };
  store_options opts;
  opts.sync = true;
  opts.shared = make_store_resources(defaults::store_block_cache_bytes,
                                     defaults::store_write_buffer_bytes);
  opts.max_open_files = 16;
  std::vector<store_ptr> out(partitions);
  for (std::uint32_t p = 0; p < partitions; ++p) {
    auto db = store::open(partition_dir(cfg.data_dir, p), opts);
    if (!db)
      return std::move(db.error());
    out[p] = std::move(*db);
  }
  std::vector<write_batch> pending(partitions);
  std::size_t moved = 0;
  std::size_t orphans = 0;
  auto flush = [&](std::uint32_t p) -> caf::error {
    if (pending[p].empty())
      return caf::none;
    auto e = out[p]->commit(std::move(pending[p]));
    pending[p] = write_batch{};
    return e;
  };
  caf::error failure;
  err = src.scan(
      {}, {}, false, [&](std::string_view key, std::string_view value) {
        auto table = key.substr(0, key.find('/'));
        std::string org;
        bool everywhere = false;
        if (table == "m")
          return true; // node metadata: node.json now
        if (table == "t")
          org = json_field(value, "org");
        else if (table == "c")
          org = org_of_scope_key(key.substr(2));
        else if (table == "ev" || table == "pf" || table == "dr")
          org = lookup(event_org, field(key));
        else if (table == "et")
          org = lookup(event_org, field(key, 1));
        else if (table == "h" || table == "hx" || table == "q" || table == "p"
                 || table == "dk")
          org = lookup(hook_org, field(key));
        else if (table == "dv" || table == "dp")
          org = field(key);
        else if (table == "eb")
          everywhere = true;
        std::vector<std::uint32_t> targets;
        if (everywhere) {
          for (std::uint32_t p = 0; p < partitions; ++p)
            targets.push_back(p);
        } else {
          // What no organization claims is kept, in partition 0.
          if (org.empty())
            ++orphans;
          targets.push_back(org.empty() ? 0 : partition_of(org, partitions));
        }
        for (auto p : targets) {
          pending[p].puts.emplace_back(std::string{key}, std::string{value});
          if (pending[p].puts.size() >= convert_batch)
            if ((failure = flush(p)))
              return false;
        }
        ++moved;
        return true;
      });
  if (err)
    return err;
  if (failure)
    return failure;
  for (std::uint32_t p = 0; p < partitions; ++p)
    if (auto e = flush(p))
      return e;
  if (orphans > 0)
    log::warn("converting the data directory: keys of no organization kept "
              "in partition 0",
              {{"keys", static_cast<std::int64_t>(orphans)}});
  return moved;
}

caf::expected<store_ptr> open_partition(const host_setup& host,
                                        std::uint32_t p) {
  store_options opts;
  opts.sync = host.cfg.sync;
  opts.shared = host.resources;
  // Table files open at once over all partitions stay near the one-store
  // figure.
  opts.max_open_files = std::max<int>(
      defaults::partition_open_files_min,
      static_cast<int>(defaults::store_open_files / host.cfg.partitions));
  // A member keeps its log for followers that fell behind: within this
  // they catch up from the log, past it they are seeded again.
  if (host.cfg.clustered())
    opts.keep_log_seconds = defaults::replication_log_seconds;
  return store::open(partition_dir(host.cfg.data_dir, p), opts);
}

caf::expected<host_setup> prepare_host(const config& cfg, bool open_all) {
  host_setup out;
  out.cfg = cfg;
  std::error_code fs_err;
  fs::create_directories(cfg.data_dir, fs_err);
  if (fs_err)
    return make_error(ec::internal, "cannot create data directory '"
                                        + cfg.data_dir
                                        + "': " + fs_err.message());
  auto rec = read_layout(cfg);
  if (!rec)
    return std::move(rec.error());
  if (!*rec) {
    layout_record fresh;
    fresh.partitions = cfg.partitions;
    if (single_store_layout(cfg)) {
      log::info("converting the data directory to partitions",
                {{"data_dir", cfg.data_dir},
                 {"partitions", static_cast<std::int64_t>(cfg.partitions)}});
      {
        auto old = store::open(cfg.data_dir, false);
        if (!old)
          return std::move(old.error());
        auto stored = (*old)->get(keys::admin_token());
        if (!stored)
          return std::move(stored.error());
        if (*stored)
          fresh.admin_hash = **stored;
      }
      auto moved = convert_single_store(cfg, cfg.partitions);
      if (!moved)
        return std::move(moved.error());
      auto kept = cfg.data_dir + "/db.single-store";
      fs::rename(cfg.data_dir + "/db", kept, fs_err);
      if (fs_err)
        return make_error(ec::internal, "cannot set the converted store aside "
                                        "as '"
                                            + kept + "': " + fs_err.message());
      log::info("converted the data directory; the old store is kept",
                {{"keys", static_cast<std::int64_t>(*moved)}, {"kept", kept}});
    }
    if (auto err = write_layout(cfg, fresh))
      return err;
    *rec = fresh;
  } else if ((*rec)->partitions != cfg.partitions) {
    return make_error(
        ec::bad_request,
        "the data directory '" + cfg.data_dir + "' holds "
            + std::to_string((*rec)->partitions)
            + " partitions, but HOOKD_PARTITIONS is "
            + std::to_string(cfg.partitions)
            + "; the count is fixed when the data directory is created: set "
              "HOOKD_PARTITIONS="
            + std::to_string((*rec)->partitions));
  }
  out.resources = make_store_resources(defaults::store_block_cache_bytes,
                                       defaults::store_write_buffer_bytes);
  out.stores.resize(cfg.partitions);
  if (open_all) {
    for (std::uint32_t p = 0; p < cfg.partitions; ++p) {
      if (!partition_exists(cfg.data_dir, p))
        continue;
      auto db = open_partition(out, p);
      if (!db)
        return std::move(db.error());
      out.stores[p] = std::move(*db);
    }
  }
  auto sealer = make_sealer(cfg);
  if (!sealer)
    return std::move(sealer.error());
  out.sealer = std::move(*sealer);
  if (!cfg.admin_token.empty()) {
    out.admin_hash = crypto::sha256_hex(cfg.admin_token);
    return out;
  }
  if (cfg.clustered())
    return make_error(ec::bad_request,
                      "a cluster member needs HOOKD_ADMIN_TOKEN (the same on "
                      "every node)");
  if (!(*rec)->admin_hash.empty()) {
    out.admin_hash = (*rec)->admin_hash;
    return out;
  }
  out.new_admin_token = "hookd_admin_" + crypto::random_hex(24);
  out.admin_hash = crypto::sha256_hex(out.new_admin_token);
  auto updated = **rec;
  updated.admin_hash = out.admin_hash;
  if (auto err = write_layout(cfg, updated))
    return err;
  return out;
}

} // namespace hookd
