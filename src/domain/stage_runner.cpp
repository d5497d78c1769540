#include <algorithm>
#include <exception>

#include "hookd/crypto.hpp"
#include "hookd/keys.hpp"
#include "hookd/log.hpp"
#include "hookd/metrics.hpp"
#include "hookd/stages.hpp"

namespace hookd {

namespace {

constexpr auto first_backoff = std::chrono::milliseconds{1000};
constexpr auto most_backoff = std::chrono::milliseconds{60000};

/// One stage's store: what is committed (as the disk has it once the
/// webhook's write lands) and what the call under way changed, with the
/// keys and bytes (of keys and values) each holds. A change that takes it
/// past a bound (and grows it) is not kept, and `over` says which bound.
class stage_store final : public plugin::store {
public:
  std::map<std::string, std::string, std::less<>> committed;
  std::size_t committed_bytes = 0;
  std::map<std::string, std::optional<std::string>, std::less<>> changed;
  /// With the call's changes.
  std::size_t keys = 0;
  std::size_t bytes = 0;
  const stage_limits* limits = nullptr;
  std::string over;

  /// A call begins: nothing changed yet.
  void begin() {
    changed.clear();
    keys = committed.size();
    bytes = committed_bytes;
    over.clear();
  }
  /// A call's changes are thrown away.
  void discard() {
    changed.clear();
    keys = committed.size();
    bytes = committed_bytes;
  }
  /// What is committed was read from the store: counted afresh.
  void recount() {
    committed_bytes = 0;
    for (const auto& [k, v] : committed)
      committed_bytes += k.size() + v.size();
    keys = committed.size();
    bytes = committed_bytes;
  }

  /// The value of `key` as the call sees it, or null.
  const std::string* find(std::string_view key) const {
    if (auto it = changed.find(key); it != changed.end())
      return it->second ? &*it->second : nullptr;
    if (auto it = committed.find(key); it != committed.end())
      return &it->second;
    return nullptr;
  }
  std::optional<std::string> get(std::string_view key) const override {
    if (const auto* v = find(key))
      return *v;
    return std::nullopt;
  }
  void put(std::string_view key, std::string_view value) override {
    const auto* old = find(key);
    auto next_keys = keys + (old ? 0 : 1);
    auto next_bytes = bytes - (old ? key.size() + old->size() : 0) + key.size()
                      + value.size();
    if (!over.empty())
      return;
    if (next_keys > limits->keys && next_keys > keys) {
      over = "would keep more than " + std::to_string(limits->keys)
             + " keys in its store, the most a stage may "
               "(stage_state_keys_max)";
      return;
    }
    if (next_bytes > limits->bytes && next_bytes > bytes) {
      over = "would keep more than " + std::to_string(limits->bytes)
             + " bytes of keys and values in its store, the most a stage "
               "may (stage_state_bytes_max)";
      return;
    }
    keys = next_keys;
    bytes = next_bytes;
    changed[std::string{key}] = std::string{value};
  }
  void erase(std::string_view key) override {
    if (!over.empty())
      return;
    if (const auto* old = find(key)) {
      --keys;
      bytes -= key.size() + old->size();
    }
    changed[std::string{key}] = std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>>
  list(std::string_view prefix) const override {
    std::map<std::string, std::string, std::less<>> merged;
    auto in_prefix = [&](const std::string& key) {
      return key.compare(0, prefix.size(), prefix) == 0;
    };
    for (auto it = committed.lower_bound(prefix);
         it != committed.end() && in_prefix(it->first); ++it)
      merged.insert(*it);
    for (auto it = changed.lower_bound(prefix);
         it != changed.end() && in_prefix(it->first); ++it) {
      if (it->second)
        merged[it->first] = *it->second;
      else
        merged.erase(it->first);
    }
    return {merged.begin(), merged.end()};
  }
};

std::string what_of(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown exception";
  }
}

} // namespace

/// One position of the pipeline: its instance, store, timers, and the
/// context the stage acts through.
class stage_runner::slot final : public plugin::stage_context {
public:
  slot(stage_runner& runner, std::uint32_t position, behaviour_use use)
      : use(std::move(use)), runner_(runner), position_(position) {
    store.limits = &runner.svc_.limits;
    prefix = stage_state_prefix(runner.hook_.id, position, this->use.name);
    label = "stage '" + this->use.name + "' (pipeline["
            + std::to_string(position) + "])";
  }

  std::int64_t now_ms() const override {
    return runner_.svc_.now_ms();
  }
  void set_timer(std::string key, std::chrono::milliseconds delay) override {
    if (delay.count() < 0)
      delay = std::chrono::milliseconds{0};
    if (!store.over.empty())
      return;
    if (timers.count(key) == 0 && timers.size() >= runner_.svc_.limits.timers) {
      store.over = "would have more than "
                   + std::to_string(runner_.svc_.limits.timers)
                   + " timers armed, the most a stage may (stage_timers_max)";
      return;
    }
    auto generation = ++runner_.generation_;
    timers[key] = generation;
    runner_.svc_.arm(position_, key, delay, generation);
  }
  void cancel_timer(const std::string& key) override {
    timers.erase(key);
  }
  void emit(plugin::event ev) override {
    emitted.push_back(std::move(ev));
  }
  plugin::store& state() override {
    return store;
  }
  const plugin::webhook_info& webhook() const override {
    return runner_.hook_;
  }

  /// Runs one call of the stage: its store changes and what it emitted
  /// stand only if it returns within the bounds of its state.
  template <class F> bool call(F f, std::string& error) {
    emitted.clear();
    store.begin();
    try {
      f();
    } catch (...) {
      error = what_of(std::current_exception());
      store.discard();
      emitted.clear();
      return false;
    }
    if (!store.over.empty()) {
      error = store.over;
      store.discard();
      emitted.clear();
      return false;
    }
    store.committed_bytes = store.bytes;
    for (auto& [key, value] : store.changed) {
      runner_.changes_[prefix + key] = value;
      if (value)
        store.committed[key] = *value;
      else
        store.committed.erase(key);
    }
    store.changed.clear();
    return true;
  }

  std::vector<plugin::event> take_emitted() {
    auto out = std::move(emitted);
    emitted.clear();
    return out;
  }

  behaviour_use use;
  std::string prefix; ///< full key prefix of its state
  std::string label;  ///< "stage 'name' (pipeline[i])"
  std::unique_ptr<plugin::stage> instance;
  stage_store store;
  std::map<std::string, std::uint64_t> timers;
  std::vector<plugin::event> emitted;
  std::uint32_t failures = 0;

private:
  stage_runner& runner_;
  std::uint32_t position_;
};

std::string stage_state_prefix(const std::string& hook_id,
                               std::uint32_t position,
                               const std::string& name) {
  return keys::stages_prefix(hook_id) + std::to_string(position) + '.' + name
         + '/';
}

bool core_event_of(const plugin::event& in, event& out, std::string& error) {
  out = event{};
  out.id = in.id.empty() ? crypto::uuid4() : in.id;
  out.index = event_index(in.name);
  out.org = in.org;
  out.project = in.project;
  out.subject = in.subject;
  out.body = in.body;
  out.created_at = in.created_at;
  if (out.index < 0) {
    error = "emitted an event named '" + in.name
            + "', which is not one of Pulumi's events";
    return false;
  }
  return true;
}

stage_runner::stage_runner(behaviours_ptr behaviours,
                           std::vector<behaviour_use> pipeline,
                           plugin::webhook_info hook, services svc)
    : behaviours_(std::move(behaviours)), pipeline_(std::move(pipeline)),
      hook_(std::move(hook)), svc_(std::move(svc)) {
  for (std::uint32_t i = 0; i < pipeline_.size(); ++i)
    slots_.push_back(std::make_unique<slot>(*this, i, pipeline_[i]));
}

stage_runner::~stage_runner() = default;

void stage_runner::load(
    const std::vector<std::pair<std::string, std::string>>& items) {
  for (const auto& item : items) {
    const auto& key = item.first;
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const auto& s) {
      return key.compare(0, s->prefix.size(), s->prefix) == 0;
    });
    if (it == slots_.end())
      changes_[key] = std::nullopt; // a stage the pipeline no longer has
    else
      (*it)->store.committed[key.substr((*it)->prefix.size())] = item.second;
  }
  for (auto& s : slots_)
    s->store.recount();
}

void stage_runner::broke(std::uint32_t position, const std::string& what) {
  auto& s = *slots_[position];
  s.instance.reset();
  s.timers.clear();
  ++s.failures;
  auto delay
      = first_backoff * (1 << std::min<std::uint32_t>(s.failures - 1, 6));
  if (delay > most_backoff)
    delay = most_backoff;
  revivals_.emplace_back(position, delay);
  metrics::plugin_failure("stage");
  log::warn("a pipeline stage failed; it is made again from its config",
            {{"stage", s.use.name},
             {"position", position},
             {"hook", hook_.name},
             {"scope", hook_.scope},
             {"error", what}});
}

/// Makes the stage at `position` if it has no instance, and starts it.
/// Leaves it without one when that fails (`error` says why).
bool ensure_slot(stage_runner::slot& s, const behaviours_ptr& behaviours,
                 const plugin::webhook_info& hook, std::string& error) {
  if (s.instance)
    return true;
  const auto* kind = behaviours->stage(s.use.name);
  if (kind == nullptr) {
    error = "is not registered (was its plugin removed from 'plugins'?)";
    return false;
  }
  std::unique_ptr<plugin::stage> made;
  if (!s.call([&] { made = kind->make(s.use.config, hook); }, error))
    return false;
  if (!made) {
    error = "made no stage from its config";
    return false;
  }
  s.instance = std::move(made);
  if (!s.call([&] { s.instance->on_start(s); }, error)) {
    s.instance.reset();
    s.timers.clear();
    return false;
  }
  return true;
}

void stage_runner::pass(std::uint32_t position,
                        std::vector<plugin::event> emitted, stage_output& out) {
  // `position` is the stage that emitted them.
  for (auto& ev : emitted) {
    event core;
    std::string error;
    if (!core_event_of(ev, core, error)) {
      out.failed.push_back(std::move(core));
      out.errors.push_back(slots_[position]->label + " " + error);
      continue;
    }
    run(position + 1, core, out);
  }
}

void stage_runner::ensure(std::uint32_t position, stage_output& out) {
  auto& s = *slots_[position];
  if (s.instance)
    return;
  std::string error;
  if (!ensure_slot(s, behaviours_, hook_, error)) {
    if (behaviours_->stage(s.use.name) != nullptr)
      broke(position, error);
    return;
  }
  pass(position, s.take_emitted(), out);
}

void stage_runner::run(std::uint32_t position, const event& ev,
                       stage_output& out) {
  if (position >= slots_.size()) {
    out.events.push_back(ev);
    return;
  }
  auto& s = *slots_[position];
  std::string error;
  if (!s.instance) {
    if (!ensure_slot(s, behaviours_, hook_, error)) {
      if (behaviours_->stage(s.use.name) != nullptr)
        broke(position, error);
      out.failed.push_back(ev);
      out.errors.push_back(s.label + " " + error);
      return;
    }
    pass(position, s.take_emitted(), out);
  }
  auto input = plugin_event(ev);
  if (!s.call([&] { s.instance->on_event(input, s); }, error)) {
    broke(position, error);
    out.failed.push_back(ev);
    out.errors.push_back(s.label + " failed: " + error);
    return;
  }
  pass(position, s.take_emitted(), out);
}

void stage_runner::finish(stage_output& out) {
  for (auto& [key, value] : changes_) {
    if (value)
      out.state.puts.emplace_back(key, std::move(*value));
    else
      out.state.deletes.push_back(key);
  }
  changes_.clear();
  out.timers = timers();
}

stage_output stage_runner::start() {
  stage_output out;
  for (std::uint32_t i = 0; i < slots_.size(); ++i)
    ensure(i, out);
  finish(out);
  return out;
}

stage_output stage_runner::offer(const std::vector<event_ptr>& events) {
  stage_output out;
  for (const auto& ev : events)
    run(0, *ev, out);
  finish(out);
  return out;
}

stage_output stage_runner::fire(std::uint32_t position, const std::string& key,
                                std::uint64_t generation) {
  stage_output out;
  if (position < slots_.size()) {
    auto& s = *slots_[position];
    auto it = s.timers.find(key);
    if (it != s.timers.end() && it->second == generation && s.instance) {
      s.timers.erase(it);
      std::string error;
      if (s.call([&] { s.instance->on_timer(key, s); }, error)) {
        s.failures = 0;
        pass(position, s.take_emitted(), out);
      } else {
        broke(position, error);
      }
    }
  }
  finish(out);
  return out;
}

stage_output stage_runner::revive(std::uint32_t position) {
  stage_output out;
  if (position < slots_.size())
    ensure(position, out);
  finish(out);
  return out;
}

std::uint32_t stage_runner::timers() const {
  std::size_t n = 0;
  for (const auto& s : slots_)
    n += s->timers.size();
  return static_cast<std::uint32_t>(n);
}

std::vector<std::pair<std::uint32_t, std::chrono::milliseconds>>
stage_runner::take_revivals() {
  auto out = std::move(revivals_);
  revivals_.clear();
  return out;
}

} // namespace hookd
