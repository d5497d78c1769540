// load_config: a config file and the HOOKD_* environment. Input: the
// file's text, a NUL byte, then the environment as NAME=VALUE lines.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

#include "fuzz.hpp"
#include "hookd/config.hpp"
#include "hookd/crypto.hpp"

namespace {

/// One file per fuzzing process, rewritten for every input: in memory
/// where there is a tmpfs, since a disk file system makes every input wait
/// for a write-back.
const std::string& config_path() {
  static const std::string path = [] {
    std::string name = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    name += "/hookd-fuzz-config-XXXXXX";
    int fd = ::mkstemp(name.data());
    if (fd < 0) {
      std::perror("mkstemp");
      std::abort();
    }
    ::close(fd);
    return name;
  }();
  return path;
}

void remove_config() {
  std::remove(config_path().c_str());
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

void check(const hookd::config& cfg) {
  HOOKD_FUZZ_CHECK(!cfg.bind.empty() && !cfg.data_dir.empty());
  HOOKD_FUZZ_CHECK(!cfg.retry_schedule.empty());
  for (auto wait : cfg.retry_schedule)
    HOOKD_FUZZ_CHECK(wait.count() >= 0);
  HOOKD_FUZZ_CHECK(cfg.delivery_timeout.count() > 0);
  HOOKD_FUZZ_CHECK(cfg.request_timeout.count() > 0);
  HOOKD_FUZZ_CHECK(cfg.shutdown_timeout.count() >= 0);
  HOOKD_FUZZ_CHECK(cfg.max_pending >= 1 && cfg.max_pending_per_org >= 1);
  HOOKD_FUZZ_CHECK(cfg.max_hooks_per_org >= 1);
  HOOKD_FUZZ_CHECK(cfg.event_retention >= std::chrono::seconds{1});
  HOOKD_FUZZ_CHECK(cfg.secret_rotation_overlap.count() >= 0);
  HOOKD_FUZZ_CHECK(cfg.max_connections >= 1 && cfg.max_connections <= 1000000);
  HOOKD_FUZZ_CHECK(cfg.admin_token.empty() || cfg.admin_token.size() >= 16);
  HOOKD_FUZZ_CHECK(cfg.master_key.empty()
                   || (cfg.master_key.size() == 64
                       && hookd::crypto::from_hex(cfg.master_key)));
  HOOKD_FUZZ_CHECK(starts_with(cfg.slack_url_prefix, "http://")
                   || starts_with(cfg.slack_url_prefix, "https://"));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The path first, so that it outlives the handler that removes the file.
  config_path();
  std::atexit(remove_config);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto input = hookd::fuzz::text(data, size);
  // Settings that name a file open it: a fuzzer could name a FIFO and hang
  // in open(). What they check is the file, not the setting's text.
  for (std::string_view opens_file : {"ca_file", "CA_FILE", "tls_", "TLS_"})
    if (input.find(opens_file) != std::string_view::npos)
      return 0;
  auto [file, env_text] = hookd::fuzz::split(input, '\0');
  std::map<std::string, std::string> env;
  while (!env_text.empty()) {
    auto [line, rest] = hookd::fuzz::split(env_text, '\n');
    auto [name, value] = hookd::fuzz::split(line, '=');
    env.emplace(std::string{name}, std::string{value});
    env_text = rest;
  }
  hookd::env_lookup lookup
      = [&](const std::string& name) -> std::optional<std::string> {
    if (auto it = env.find(name); it != env.end())
      return it->second;
    return std::nullopt;
  };
  {
    std::ofstream out{config_path(), std::ios::binary | std::ios::trunc};
    out.write(file.data(), static_cast<std::streamsize>(file.size()));
  }
  for (const std::string& path : {config_path(), std::string{}}) {
    auto cfg = hookd::load_config(path, lookup);
    if (cfg) {
      check(*cfg);
    } else {
      HOOKD_FUZZ_CHECK(hookd::code_of(cfg.error()) == hookd::ec::bad_request);
      HOOKD_FUZZ_CHECK(!hookd::message_of(cfg.error()).empty());
    }
  }
  return 0;
}
