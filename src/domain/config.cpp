#include "hookd/config.hpp"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>

#include "hookd/crypto.hpp"
#include "hookd/defaults.hpp"
#include "hookd/tls.hpp"

namespace hookd {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/// A whole number from 1 to `max`.
bool parse_count(const std::string& v, long long max, long long& out) {
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || n < 1 || n > max)
    return false;
  out = n;
  return true;
}

bool parse_bool(const std::string& v, bool& out) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") {
    out = true;
    return true;
  }
  if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) {
    out = false;
    return true;
  }
  return false;
}

// The settings, by their config-file key; the variable is HOOKD_<KEY>.
const char* const setting_keys[] = {
    "bind",
    "http_port",
    "data_dir",
    "admin_token",
    "master_key",
    "retry_schedule",
    "delivery_timeout",
    "request_timeout",
    "slack_url_prefix",
    "ca_file",
    "allow_private_targets",
    "sync",
    "shutdown_timeout",
    "max_pending",
    "max_pending_per_org",
    "event_retention",
    "max_hooks_per_org",
    "max_plugin_hooks_per_org",
    "secret_rotation_overlap",
    "max_connections",
    "tls_cert",
    "tls_key",
    "log_level",
    "plugins",
    "partitions",
    "node_name",
    "cluster_etcd",
    "cluster_prefix",
    "cluster_bind",
    "cluster_port",
    "cluster_size",
    "lease_ttl",
    "replicas",
    "replication_backlog",
    "cluster_ca",
    "cluster_cert",
    "cluster_key",
};

/// Splits "a, b,c" into its non-empty items.
std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    auto item = trim(value.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!item.empty())
      out.push_back(item);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

std::string env_name(const std::string& key) {
  std::string out = "HOOKD_";
  for (char c : key)
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool apply(config& cfg, const std::string& key, const std::string& value,
           const std::string& origin, caf::error& err) {
  auto bad = [&](const std::string& why) {
    err = make_error(ec::bad_request, "invalid setting " + origin + ": " + why);
    return false;
  };
  if (key == "bind") {
    if (value.empty())
      return bad("expected an address such as 127.0.0.1");
    cfg.bind = value;
  } else if (key == "http_port") {
    char* end = nullptr;
    long port = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || port < 0 || port > 65535)
      return bad("expected a port number from 0 to 65535, got '" + value + "'");
    cfg.http_port = static_cast<std::uint16_t>(port);
  } else if (key == "data_dir") {
    if (value.empty())
      return bad("expected a directory");
    cfg.data_dir = value;
  } else if (key == "admin_token") {
    if (!value.empty() && value.size() < 16)
      return bad("an admin token needs at least 16 characters");
    cfg.admin_token = value;
  } else if (key == "master_key") {
    if (!value.empty() && (value.size() != 64 || !crypto::from_hex(value)))
      return bad("expected 64 hex digits (32 bytes)");
    cfg.master_key = value;
  } else if (key == "retry_schedule") {
    std::vector<std::chrono::milliseconds> schedule;
    if (!parse_duration_list(value, schedule) || schedule.empty())
      return bad("expected comma-separated durations such as 0s,5s,5m, got '"
                 + value + "'");
    cfg.retry_schedule = std::move(schedule);
  } else if (key == "delivery_timeout") {
    std::chrono::milliseconds d{0};
    if (!parse_duration(value, d) || d.count() <= 0)
      return bad("expected a positive duration such as 10s, got '" + value
                 + "'");
    cfg.delivery_timeout = d;
  } else if (key == "request_timeout") {
    std::chrono::milliseconds d{0};
    if (!parse_duration(value, d) || d.count() <= 0)
      return bad("expected a positive duration such as 10s, got '" + value
                 + "'");
    cfg.request_timeout = d;
  } else if (key == "slack_url_prefix") {
    if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
      return bad("expected an http(s) URL prefix");
    cfg.slack_url_prefix = value;
  } else if (key == "ca_file") {
    if (!value.empty() && !std::ifstream(value))
      return bad("cannot read '" + value + "'");
    cfg.ca_file = value;
  } else if (key == "allow_private_targets") {
    if (!parse_bool(value, cfg.allow_private_targets))
      return bad("expected 0 or 1");
  } else if (key == "sync") {
    if (!parse_bool(value, cfg.sync))
      return bad("expected 0 or 1");
  } else if (key == "shutdown_timeout") {
    std::chrono::milliseconds d{0};
    if (!parse_duration(value, d))
      return bad("expected a duration such as 10s, got '" + value + "'");
    cfg.shutdown_timeout = d;
  } else if (key == "secret_rotation_overlap") {
    std::chrono::milliseconds d{0};
    if (!parse_duration(value, d))
      return bad("expected a duration such as 24h (0s: none), got '" + value
                 + "'");
    cfg.secret_rotation_overlap = d;
  } else if (key == "event_retention") {
    std::chrono::milliseconds d{0};
    if (!parse_duration(value, d) || d < std::chrono::seconds{1})
      return bad("expected a duration of at least 1s such as 7d, got '" + value
                 + "'");
    cfg.event_retention = d;
  } else if (key == "max_hooks_per_org" || key == "max_plugin_hooks_per_org") {
    long long n = 0;
    if (!parse_count(value, std::numeric_limits<long long>::max(), n))
      return bad("expected a positive number, got '" + value + "'");
    if (key == "max_hooks_per_org")
      cfg.max_hooks_per_org = n;
    else
      cfg.max_plugin_hooks_per_org = n;
  } else if (key == "max_pending" || key == "max_pending_per_org") {
    long long n = 0;
    if (!parse_count(value, std::numeric_limits<long long>::max(), n))
      return bad("expected a positive number, got '" + value + "'");
    if (key == "max_pending")
      cfg.max_pending = n;
    else
      cfg.max_pending_per_org = n;
  } else if (key == "max_connections") {
    long long n = 0;
    if (!parse_count(value, 1000000, n))
      return bad("expected a number from 1 to 1000000, got '" + value + "'");
    cfg.max_connections = static_cast<std::size_t>(n);
  } else if (key == "tls_cert" || key == "tls_key") {
    bool cert = key == "tls_cert";
    if (!value.empty()) {
      auto why = cert ? tls::check_certificate_file(value)
                      : tls::check_key_file(value);
      if (!why.empty())
        return bad(why);
    }
    (cert ? cfg.tls_cert : cfg.tls_key) = value;
  } else if (key == "plugins") {
    // Shared libraries, comma-separated, loaded in this order.
    cfg.plugins = split_list(value);
  } else if (key == "partitions") {
    long long n = 0;
    if (!parse_count(value, defaults::max_partitions, n))
      return bad("expected a number from 1 to "
                 + std::to_string(defaults::max_partitions) + ", got '" + value
                 + "'");
    cfg.partitions = static_cast<std::uint32_t>(n);
  } else if (key == "node_name") {
    if (value.empty() || value.size() > 64
        || value.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
               != std::string::npos)
      return bad("expected 1 to 64 letters, digits, '-', '_' or '.'");
    cfg.node_name = value;
  } else if (key == "cluster_etcd") {
    auto urls = split_list(value);
    for (const auto& url : urls)
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
        return bad("expected comma-separated etcd client URLs such as "
                   "http://127.0.0.1:2379, got '"
                   + url + "'");
    cfg.cluster.etcd = std::move(urls);
  } else if (key == "cluster_prefix") {
    if (value.empty() || value.size() > 128)
      return bad("expected a key prefix such as hookd/");
    cfg.cluster.prefix = value.back() == '/' ? value : value + '/';
  } else if (key == "cluster_bind") {
    cfg.cluster.bind = value;
  } else if (key == "cluster_port") {
    char* end = nullptr;
    long port = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || port < 0 || port > 65535)
      return bad("expected a port number from 0 to 65535, got '" + value + "'");
    cfg.cluster.port = static_cast<std::uint16_t>(port);
  } else if (key == "cluster_size" || key == "replicas") {
    long long n = 0;
    if (!parse_count(value, 1000, n))
      return bad("expected a number from 1 to 1000, got '" + value + "'");
    (key == "cluster_size" ? cfg.cluster.size : cfg.cluster.replicas)
        = static_cast<std::uint32_t>(n);
  } else if (key == "replication_backlog") {
    long long n = 0;
    if (!parse_count(value, 1000000000, n))
      return bad("expected a number of writes from 1 to 1000000000, got '"
                 + value + "'");
    cfg.cluster.backlog = static_cast<std::uint64_t>(n);
  } else if (key == "lease_ttl") {
    std::chrono::milliseconds d{0};
    if (!parse_duration(value, d) || d < std::chrono::seconds{1}
        || d > std::chrono::minutes{5})
      return bad("expected a duration from 1s to 5m such as 5s, got '" + value
                 + "'");
    cfg.cluster.lease_ttl = d;
  } else if (key == "cluster_ca" || key == "cluster_cert"
             || key == "cluster_key") {
    if (!value.empty() && !std::ifstream(value))
      return bad("cannot read '" + value + "'");
    (key == "cluster_ca"     ? cfg.cluster.ca
     : key == "cluster_cert" ? cfg.cluster.cert
                             : cfg.cluster.key)
        = value;
  } else if (key == "log_level") {
    if (!log::parse_level(value, cfg.log_level))
      return bad("expected debug, info, warn or error, got '" + value + "'");
  } else {
    err = make_error(ec::bad_request, "unknown setting " + origin);
    return false;
  }
  return true;
}

/// What is wrong with the cluster settings as a whole, or nothing.
std::string check_cluster(const config& cfg) {
  const auto& c = cfg.cluster;
  int tls_files = !c.ca.empty() + !c.cert.empty() + !c.key.empty();
  if (tls_files != 0 && tls_files != 3)
    return "invalid settings HOOKD_CLUSTER_CA, HOOKD_CLUSTER_CERT and "
           "HOOKD_CLUSTER_KEY: mutual TLS between nodes needs all three";
  if (!cfg.clustered())
    return {};
  bool loopback = c.bind == "127.0.0.1" || c.bind == "::1"
                  || c.bind == "localhost" || c.bind.rfind("127.", 0) == 0;
  if (!loopback && tls_files == 0)
    return "invalid setting HOOKD_CLUSTER_BIND (cluster_bind): '" + c.bind
           + "' is not a loopback address, and nodes talk to each other "
             "unauthenticated without HOOKD_CLUSTER_CA, HOOKD_CLUSTER_CERT "
             "and HOOKD_CLUSTER_KEY; set them, or bind the cluster port to "
             "127.0.0.1";
  if (c.size > cfg.partitions)
    return "invalid setting HOOKD_CLUSTER_SIZE (cluster_size): "
           + std::to_string(c.size) + " members for "
           + std::to_string(cfg.partitions)
           + " partitions leaves members without any";
  return {};
}

} // namespace

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str()))
      return std::string{v};
    return std::nullopt;
  };
}

bool parse_duration(const std::string& text, std::chrono::milliseconds& out) {
  auto t = trim(text);
  std::size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])))
    ++i;
  if (i == 0 || i > 9)
    return false;
  long long n = std::stoll(t.substr(0, i));
  auto unit = t.substr(i);
  if (unit == "ms")
    out = std::chrono::milliseconds{n};
  else if (unit == "s")
    out = std::chrono::seconds{n};
  else if (unit == "m")
    out = std::chrono::minutes{n};
  else if (unit == "h")
    out = std::chrono::hours{n};
  else if (unit == "d")
    out = std::chrono::hours{24 * n};
  else
    return false;
  return true;
}

bool parse_duration_list(const std::string& text,
                         std::vector<std::chrono::milliseconds>& out) {
  out.clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start);
    std::chrono::milliseconds d{0};
    if (!parse_duration(item, d))
      return false;
    out.push_back(d);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return true;
}

caf::expected<config> load_config(const std::string& path,
                                  const env_lookup& env) {
  caf::error err;
  config cfg;
  cfg.bind = defaults::bind;
  cfg.http_port = defaults::http_port;
  cfg.data_dir = defaults::data_dir;
  cfg.delivery_timeout = defaults::delivery_timeout;
  cfg.request_timeout = defaults::request_timeout;
  cfg.slack_url_prefix = defaults::slack_url_prefix;
  cfg.shutdown_timeout = defaults::shutdown_timeout;
  cfg.max_pending = defaults::max_pending;
  cfg.max_connections = defaults::max_connections;
  cfg.max_pending_per_org = defaults::max_pending_per_org;
  cfg.max_hooks_per_org = defaults::max_hooks_per_org;
  cfg.max_plugin_hooks_per_org = defaults::max_plugin_hooks_per_org;
  cfg.event_retention = defaults::event_retention;
  cfg.secret_rotation_overlap = defaults::secret_rotation_overlap;
  parse_duration_list(defaults::retry_schedule, cfg.retry_schedule);
  cfg.partitions = defaults::partitions;
  cfg.cluster.prefix = defaults::cluster_prefix;
  cfg.cluster.lease_ttl = defaults::lease_ttl;
  cfg.cluster.replicas = defaults::replicas;
  cfg.cluster.backlog = defaults::replication_backlog;
  {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0')
      cfg.node_name = host;
    else
      cfg.node_name = "hookd";
  }

  if (!path.empty()) {
    std::ifstream in{path};
    if (!in) {
      return make_error(ec::bad_request,
                        "cannot read config file '" + path + "'");
    }
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      auto t = trim(line);
      if (t.empty() || t[0] == '#')
        continue;
      auto eq = t.find('=');
      auto where = path + ":" + std::to_string(lineno);
      if (eq == std::string::npos) {
        return make_error(ec::bad_request,
                          where + ": expected 'key = value', got '" + t + "'");
      }
      auto key = trim(t.substr(0, eq));
      if (!apply(cfg, key, trim(t.substr(eq + 1)), key + " (" + where + ")",
                 err))
        return err;
    }
  }
  for (const char* key : setting_keys) {
    auto name = env_name(key);
    if (auto v = env(name); v && !apply(cfg, key, trim(*v), name, err))
      return err;
  }
  if (cfg.cluster.bind.empty())
    cfg.cluster.bind = cfg.bind;
  if (auto why = check_cluster(cfg); !why.empty())
    return make_error(ec::bad_request, why);
  // HTTPS needs both files; one alone must not start plain HTTP.
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    auto [set, unset] = cfg.tls_cert.empty()
                            ? std::pair{"HOOKD_TLS_KEY (tls_key)",
                                        "HOOKD_TLS_CERT (tls_cert)"}
                            : std::pair{"HOOKD_TLS_CERT (tls_cert)",
                                        "HOOKD_TLS_KEY (tls_key)"};
    return make_error(ec::bad_request,
                      std::string{"invalid setting "} + unset
                          + ": missing, but " + set
                          + " is set; HTTPS needs both, plain HTTP neither");
  }
  if (!cfg.tls_cert.empty()) {
    if (auto why = tls::check_server_files(cfg.tls_cert, cfg.tls_key);
        !why.empty())
      return make_error(ec::bad_request,
                        "invalid settings HOOKD_TLS_CERT (tls_cert) and "
                        "HOOKD_TLS_KEY (tls_key): "
                            + why);
  }
  return cfg;
}

} // namespace hookd
