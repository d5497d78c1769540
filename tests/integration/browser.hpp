// A headless Chromium for the dashboard tests, driven over the DevTools
// protocol through a pipe (--remote-debugging-pipe: commands go in on the
// browser's fd 3, answers and events come out of its fd 4, each a JSON
// message ended by a NUL byte). No websocket, no driver binary.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include <nlohmann/json.hpp>

namespace hookd_test {

/// The Chromium binary: HOOKD_CHROMIUM when set, else `chromium` or
/// `chromium-browser` on the PATH; empty when there is none.
std::string find_chromium();

/// One headless Chromium with one page. Every wait has a deadline; the
/// destructor closes the browser and kills what is left of its process
/// group, also when a test fails half-way.
class browser {
public:
  using json = nlohmann::json;

  /// Starts `binary` with a fresh profile under `profile_dir` and a
  /// window of `width` x `height`, and opens a blank page. Throws
  /// std::runtime_error, saying why, when it cannot.
  browser(const std::string& binary, const std::string& profile_dir, int width,
          int height);
  ~browser();
  browser(const browser&) = delete;
  browser& operator=(const browser&) = delete;

  /// Sends a command to the page (or, with `to_browser`, to the browser
  /// itself) and waits for its result. Throws on an error answer, on the
  /// deadline, and when the browser is gone.
  json call(const std::string& method, json params = json::object(),
            std::chrono::milliseconds deadline = std::chrono::seconds{15},
            bool to_browser = false);

  /// Evaluates a JavaScript expression in the page (promises awaited) and
  /// answers its value; throws when it throws.
  json eval(const std::string& expression);

  /// Evaluates `expression` until it is truthy or the deadline passes.
  bool wait_for(const std::string& expression,
                std::chrono::milliseconds deadline = std::chrono::seconds{10});

  /// Loads `url` in the page and waits until the document has loaded.
  void navigate(const std::string& url);

  /// Types `text` into the focused element, as an input method would.
  void type(const std::string& text);

  /// Presses and releases a key such as "Enter" in the focused element.
  void press(const std::string& key);

  /// Saves a PNG of the page as it is shown now.
  void screenshot(const std::string& path);

  /// What went wrong inside the page so far: uncaught exceptions,
  /// console.error calls and Content-Security-Policy refusals.
  std::vector<std::string> page_problems() const;

  /// The browser's stderr so far (for failure messages).
  std::string log() const;

private:
  void read_loop();
  void send(const json& message);
  void stop();

  pid_t pid_ = -1;
  int to_browser_ = -1;
  int from_browser_ = -1;
  std::string log_path_;
  std::string session_;
  std::thread reader_;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, json> answers_;
  std::vector<std::string> problems_;
  bool closed_ = false;
};

} // namespace hookd_test
