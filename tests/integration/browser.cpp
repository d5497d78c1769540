#include "browser.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hookd_test {

namespace {

using namespace std::chrono_literals;

/// How long the browser has to close by itself before it is killed.
constexpr auto close_deadline = 5s;
/// How often wait_for() looks again.
constexpr auto poll_interval = 50ms;

bool executable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

std::string base64_decode(const std::string& text) {
  std::string out(3 * (text.size() / 4) + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0)
    throw std::runtime_error("the screenshot is not base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  auto size = static_cast<std::size_t>(n);
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it)
    --size;
  out.resize(size);
  return out;
}

bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

} // namespace

std::string find_chromium() {
  if (const char* env = std::getenv("HOOKD_CHROMIUM"); env != nullptr && *env)
    return executable(env) ? env : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    for (const char* name : {"chromium", "chromium-browser"})
      if (auto candidate = dir + '/' + name; executable(candidate))
        return candidate;
  return {};
}

browser::browser(const std::string& binary, const std::string& profile_dir,
                 int width, int height) {
  // A browser that dies makes writes to its pipe fail, not the test die.
  ::signal(SIGPIPE, SIG_IGN);
  log_path_ = profile_dir + "/chromium.log";
  std::vector<std::string> args{binary,
                                "--headless=new",
                                "--no-sandbox",
                                "--remote-debugging-pipe",
                                "--user-data-dir=" + profile_dir,
                                "--disable-gpu",
                                "--disable-dev-shm-usage",
                                "--window-size=" + std::to_string(width) + ","
                                    + std::to_string(height),
                                "--force-device-scale-factor=1",
                                "--lang=en-US",
                                "--no-first-run",
                                "--no-default-browser-check",
                                "--disable-extensions",
                                "--disable-background-networking",
                                "--disable-component-update",
                                "--disable-sync",
                                "--disable-default-apps",
                                "--password-store=basic",
                                "--use-mock-keychain",
                                "--mute-audio",
                                "--hide-scrollbars",
                                "about:blank"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  int commands[2]; // we write [1], the browser reads [0] as fd 3
  int answers[2];  // the browser writes [1] as fd 4, we read [0]
  if (::pipe2(commands, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string{"pipe2: "} + std::strerror(errno));
  if (::pipe2(answers, O_CLOEXEC) != 0) {
    ::close(commands[0]);
    ::close(commands[1]);
    throw std::runtime_error(std::string{"pipe2: "} + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const char* log_path = log_path_.c_str();
  pid_ = ::fork();
  if (pid_ == 0) {
    // The child: async-signal-safe calls only. Its own process group, so
    // that the renderers it starts are ended with it.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::signal(SIGPIPE, SIG_DFL);
    int in = ::open("/dev/null", O_RDONLY);
    int log = ::open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // fds 3 and 4 may be the pipes themselves: move them out of the way
    // first (dup2 onto itself would keep O_CLOEXEC).
    int cmd = ::fcntl(commands[0], F_DUPFD, 10);
    int ans = ::fcntl(answers[1], F_DUPFD, 10);
    if (in < 0 || log < 0 || cmd < 0 || ans < 0 || ::dup2(in, 0) < 0
        || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0 || ::dup2(cmd, 3) < 0
        || ::dup2(ans, 4) < 0)
      ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(commands[0]);
  ::close(answers[1]);
  to_browser_ = commands[1];
  from_browser_ = answers[0];
  if (pid_ < 0) {
    ::close(to_browser_);
    ::close(from_browser_);
    throw std::runtime_error(std::string{"fork: "} + std::strerror(fork_errno));
  }
  ::setpgid(pid_, pid_); // also from here: no race with the kill below
  reader_ = std::thread{[this] { read_loop(); }};

  try {
    // The first answer also says the browser is up: it may take a while.
    call("Browser.getVersion", json::object(), 30s, true);
    auto target
        = call("Target.createTarget", {{"url", "about:blank"}}, 15s, true);
    auto attached = call(
        "Target.attachToTarget",
        {{"targetId", target.at("targetId")}, {"flatten", true}}, 15s, true);
    session_ = attached.at("sessionId").get<std::string>();
    call("Page.enable");
    call("Runtime.enable");
    call("Log.enable");
    // Screenshots of a page at rest, not half-way through a transition.
    call("Emulation.setEmulatedMedia",
         {{"features", json::array({{{"name", "prefers-reduced-motion"},
                                     {"value", "reduce"}}})}});
    call("Emulation.setDeviceMetricsOverride", {{"width", width},
                                                {"height", height},
                                                {"deviceScaleFactor", 1},
                                                {"mobile", false}});
  } catch (...) {
    stop();
    throw;
  }
}

browser::~browser() {
  stop();
}

void browser::stop() {
  if (pid_ > 0) {
    // Ask first, then insist: nothing of the browser outlives the test.
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!closed_) {
        json close{{"id", next_id_++}, {"method", "Browser.close"}};
        write_all(to_browser_, close.dump() + '\0');
      }
    }
    auto until = std::chrono::steady_clock::now() + close_deadline;
    int status = 0;
    bool reaped = false;
    while (std::chrono::steady_clock::now() < until) {
      auto r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        reaped = true;
        break;
      }
      std::this_thread::sleep_for(poll_interval);
    }
    ::kill(-pid_, SIGKILL);
    if (!reaped)
      ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (to_browser_ >= 0) {
    ::close(to_browser_);
    to_browser_ = -1;
  }
  if (reader_.joinable())
    reader_.join();
  if (from_browser_ >= 0) {
    ::close(from_browser_);
    from_browser_ = -1;
  }
}

void browser::read_loop() {
  std::string buffer;
  char chunk[65536];
  for (;;) {
    auto n = ::read(from_browser_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t end;
    while ((end = buffer.find('\0')) != std::string::npos) {
      auto message = json::parse(buffer.substr(0, end), nullptr, false);
      buffer.erase(0, end + 1);
      if (!message.is_object())
        continue;
      std::lock_guard<std::mutex> guard{mtx_};
      if (message.contains("id")) {
        if (message["id"].is_number_integer()) {
          auto id = message["id"].get<std::int64_t>();
          answers_[id] = std::move(message);
        } else // a message the browser could not read at all
          problems_.push_back("the browser refused a command: "
                              + message.dump());
        cv_.notify_all();
        continue;
      }
      auto method = message.value("method", "");
      auto& params = message["params"];
      if (method == "Runtime.exceptionThrown") {
        auto& details = params["exceptionDetails"];
        auto text = details.value("text", std::string{"?"});
        if (details.contains("exception") && details["exception"].is_object())
          text = details["exception"].value("description", text);
        problems_.push_back("uncaught exception: " + text);
      } else if (method == "Runtime.consoleAPICalled"
                 && params.value("type", "") == "error") {
        problems_.push_back("console.error: " + params["args"].dump());
      } else if (method == "Log.entryAdded") {
        auto text = params["entry"].value("text", "");
        if (text.find("Content Security Policy") != std::string::npos)
          problems_.push_back("CSP: " + text);
      }
    }
  }
  std::lock_guard<std::mutex> guard{mtx_};
  closed_ = true;
  cv_.notify_all();
}

browser::json browser::call(const std::string& method, json params,
                            std::chrono::milliseconds deadline,
                            bool to_browser) {
  std::int64_t id;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      throw std::runtime_error("the browser is gone; its log:\n" + log());
    id = next_id_++;
    json message{{"id", id}, {"method", method}, {"params", std::move(params)}};
    if (!to_browser)
      message["sessionId"] = session_;
    if (!write_all(to_browser_, message.dump() + '\0'))
      throw std::runtime_error("cannot write to the browser: "
                               + std::string{std::strerror(errno)});
  }
  std::unique_lock<std::mutex> lock{mtx_};
  if (!cv_.wait_for(lock, deadline,
                    [&] { return closed_ || answers_.count(id) > 0; }))
    throw std::runtime_error(method + ": no answer within "
                             + std::to_string(deadline.count()) + " ms");
  auto it = answers_.find(id);
  if (it == answers_.end())
    throw std::runtime_error(method + ": the browser closed before answering");
  auto answer = std::move(it->second);
  answers_.erase(it);
  if (answer.contains("error"))
    throw std::runtime_error(method + " failed: " + answer["error"].dump());
  return answer.value("result", json::object());
}

browser::json browser::eval(const std::string& expression) {
  auto r = call("Runtime.evaluate", {{"expression", expression},
                                     {"returnByValue", true},
                                     {"awaitPromise", true}});
  if (r.contains("exceptionDetails"))
    throw std::runtime_error("the page threw evaluating " + expression + ": "
                             + r["exceptionDetails"].dump());
  return r["result"].value("value", json{});
}

bool browser::wait_for(const std::string& expression,
                       std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto v = eval("Boolean(" + expression + ")");
    if (v.is_boolean() && v.get<bool>())
      return true;
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(poll_interval);
  }
}

void browser::navigate(const std::string& url) {
  auto r = call("Page.navigate", {{"url", url}});
  if (r.contains("errorText"))
    throw std::runtime_error("cannot load " + url + ": "
                             + r["errorText"].get<std::string>());
  if (!wait_for("document.readyState === 'complete' && location.href === "
                    + json(url).dump(),
                std::chrono::seconds{15}))
    throw std::runtime_error("the page " + url + " did not finish loading");
}

void browser::type(const std::string& text) {
  call("Input.insertText", {{"text", text}});
}

void browser::press(const std::string& key) {
  static const std::map<std::string, int> codes{
      {"Enter", 13}, {"Escape", 27}, {"Tab", 9}};
  auto code = codes.count(key) > 0 ? codes.at(key) : 0;
  json down{{"type", "keyDown"},
            {"key", key},
            {"code", key},
            {"windowsVirtualKeyCode", code}};
  if (key == "Enter")
    down["text"] = "\r";
  call("Input.dispatchKeyEvent", down);
  call("Input.dispatchKeyEvent", {{"type", "keyUp"},
                                  {"key", key},
                                  {"code", key},
                                  {"windowsVirtualKeyCode", code}});
}

void browser::screenshot(const std::string& path) {
  auto r = call("Page.captureScreenshot", {{"format", "png"}});
  auto bytes = base64_decode(r.at("data").get<std::string>());
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::vector<std::string> browser::page_problems() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return problems_;
}

std::string browser::log() const {
  std::ifstream in{log_path_};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace hookd_test
