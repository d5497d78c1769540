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
  /// `dir` "" when HOOKD_JSONL_DIR was unset when it was made.
  jsonl_destination(std::string dir, std::string file)
      : file_(std::move(file)),
        path_(dir.empty() ? std::string{} : dir + '/' + file_) {}

  plugin::outcome deliver(const plugin::delivery& d) override {
    // Never a path of the operator's choosing by accident: without the
    // directory nothing is written (a restart without HOOKD_JSONL_DIR).
    if (path_.empty())
      return plugin::outcome::failure(
          "not written: the operator has not set HOOKD_JSONL_DIR");
    json line;
    line["id"] = d.id;
    line["kind"] = d.kind;
    line["timestamp"] = d.timestamp;
    auto payload = json::parse(d.body, nullptr, false);
    line["payload"] = payload.is_discarded() ? json(d.body) : payload;
    auto text = line.dump(-1, ' ', false, json::error_handler_t::replace);
    text += '\n';
    // A symbolic link put in the directory is not followed.
    int fd
        = ::open(path_.c_str(),
                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    // Messages name the file, not where the operator keeps it: they reach
    // the webhook's delivery history.
    if (fd < 0)
      return plugin::outcome::failure("cannot open " + file_ + ": "
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
      return plugin::outcome::failure("cannot write " + file_ + ": "
                                      + std::strerror(saved));
    return plugin::outcome::success(
        json{{"file", file_}, {"bytes", text.size()}}.dump());
  }

private:
  std::string file_;
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
    return std::make_unique<jsonl_destination>(directory(),
                                               j.at("file").get<std::string>());
  }
};

} // namespace

HOOKD_PLUGIN("jsonl", "1.0.0") {
  registrar.add_destination("jsonl", std::make_shared<jsonl_kind>());
}
