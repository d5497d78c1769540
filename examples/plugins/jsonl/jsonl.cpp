// The `jsonl` destination: deliveries appended to a file, one JSON object a
// line, instead of an HTTP POST.
//
// Config: {"file": "NAME.jsonl"}. The file lives in the directory the
// operator gives the plugin in HOOKD_JSONL_DIR: a webhook names a file,
// never a path, so a name with '/', '..' or a control character is refused
// when the webhook is created or changed.
//
// Each line is {"id", "kind", "timestamp", "payload"}: the event id, its
// kind, the Unix seconds of the attempt and the delivered body as a JSON
// value. A line is written with one append and flushed to disk before the
// attempt counts as delivered, so a crash loses no line hookd thinks
// written (at least once: a line may repeat after a crash, with its id).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <hookd/plugin.hpp>
#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::ordered_json;
namespace plugin = hookd::plugin;

constexpr std::size_t name_max = 255;

/// The directory from HOOKD_JSONL_DIR, or "" when unset.
std::string directory() {
  const char* dir = std::getenv("HOOKD_JSONL_DIR");
  return dir != nullptr ? dir : "";
}

/// Why `name` is not a plain file name, or "" when it is one.
std::string bad_name(const std::string& name) {
  if (name.empty())
    return "must not be empty";
  if (name.size() > name_max)
    return "must be at most " + std::to_string(name_max) + " bytes";
  if (name.find('/') != std::string::npos)
    return "must be a file name, without '/'";
  if (name.find("..") != std::string::npos)
    return "must not contain '..'";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      return "must not contain control characters";
  return {};
}

class jsonl_destination final : public plugin::destination {
public:
  explicit jsonl_destination(std::string path) : path_(std::move(path)) {}

  plugin::outcome deliver(const plugin::delivery& d) override {
    json line;
    line["id"] = d.id;
    line["kind"] = d.kind;
    line["timestamp"] = d.timestamp;
    auto payload = json::parse(d.body, nullptr, false);
    line["payload"] = payload.is_discarded() ? json(d.body) : payload;
    auto text = line.dump(-1, ' ', false, json::error_handler_t::replace);
    text += '\n';
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                    0644);
    if (fd < 0)
      return plugin::outcome::failure("cannot open " + path_ + ": "
                                      + std::strerror(errno));
    // One write per line: lines of several webhooks sharing a file do not
    // interleave.
    auto written = ::write(fd, text.data(), text.size());
    auto saved = errno;
    bool synced
        = written == static_cast<ssize_t>(text.size()) && ::fdatasync(fd) == 0;
    if (!synced && written >= 0)
      saved = errno;
    ::close(fd);
    if (!synced)
      return plugin::outcome::failure("cannot write " + path_ + ": "
                                      + std::strerror(saved));
    return plugin::outcome::success(
        json{{"file", path_}, {"bytes", text.size()}}.dump());
  }

private:
  std::string path_;
};

class jsonl_kind final : public plugin::destination_kind {
public:
  std::optional<plugin::problem>
  validate(const plugin::config& cfg) const override {
    auto j = json::parse(cfg, nullptr, false);
    auto file = j.is_object() ? j.find("file") : j.end();
    if (!j.is_object() || file == j.end() || !file->is_string())
      return plugin::problem{"file", "is required: a file name (a string)"};
    if (auto why = bad_name(file->get<std::string>()); !why.empty())
      return plugin::problem{"file", why};
    if (directory().empty())
      return plugin::problem{"file", "cannot be written: the operator has "
                                     "not set HOOKD_JSONL_DIR"};
    return std::nullopt;
  }

  std::unique_ptr<plugin::destination>
  make(const plugin::config& cfg, const plugin::webhook_info&) const override {
    auto j = json::parse(cfg);
    return std::make_unique<jsonl_destination>(
        directory() + '/' + j.at("file").get<std::string>());
  }
};

} // namespace

HOOKD_PLUGIN("jsonl", "1.0.0") {
  registrar.add_destination("jsonl", std::make_shared<jsonl_kind>());
}
