// Access control. Tokens are "hookd_<id>_<secret>"; only the SHA-256 of a
// token is stored, the front end sends only the SHA-256 of what a client
// presented, and every comparison is constant-time.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/components.hpp"
#include "hookd/defaults.hpp"
#include "hookd/keys.hpp"
#include "hookd/webhook.hpp"
#include "json_error.hpp"
#include "reads.hpp"

namespace hookd {

namespace {

using json = nlohmann::json;

struct org_token {
  std::string id;
  std::string org;
  std::string name;
  std::string description;
  std::string hash; ///< hex SHA-256 of the whole token
  std::int64_t created_at = 0;
};

struct access_state {
  static inline const char* name = "hookd.access";
  store_reader_actor reader;
  store_writer_actor writer;
  std::vector<registry_actor> shards;
  ingest_actor ingest;
  deployments_actor deployments;
  std::string admin_hash;
  std::unordered_map<std::string, org_token> tokens; ///< by id
  /// Where the tokens are published for the front end (may be null),
  /// under this actor's claim.
  partition_reads_ptr reads;
  std::uint64_t reads_claim = 0;
  /// Tokens being written, by organization: counted against the bound.
  std::unordered_map<std::string, std::size_t> creating;

  std::size_t tokens_of(const std::string& org) const {
    auto n = static_cast<std::size_t>(
        std::count_if(tokens.begin(), tokens.end(),
                      [&](const auto& kv) { return kv.second.org == org; }));
    if (auto it = creating.find(org); it != creating.end())
      n += it->second;
    return n;
  }
};

using self_ptr = access_actor::stateful_pointer<access_state>;

/// Publishes the tokens for the front end: called after every change of
/// `tokens`, before the change is answered, so that a deleted token is
/// refused there as soon as here.
void publish_tokens(self_ptr self) {
  auto& st = self->state;
  if (!st.reads)
    return;
  auto table = std::make_shared<token_table>();
  table->by_id.reserve(st.tokens.size());
  for (const auto& [id, t] : st.tokens)
    table->by_id.emplace(id, token_table::token{t.org, t.hash});
  st.reads->publish_tokens(st.reads_claim, std::move(table));
}

/// Who presented a credential: the admin, an org token, or nobody.
struct principal {
  bool authenticated = false;
  bool admin = false;
  std::string org;
  std::string name; ///< the org token's name
};

json token_json(const org_token& t, bool with_hash) {
  json j{{"id", t.id},
         {"name", t.name},
         {"description", t.description},
         {"created", t.created_at}};
  if (with_hash) {
    j["org"] = t.org;
    j["hash"] = t.hash;
  }
  return j;
}

principal authenticate(self_ptr self, const credential& cred) {
  principal who;
  if (!cred.token_id.empty()) {
    auto it = self->state.tokens.find(cred.token_id);
    if (it != self->state.tokens.end()
        && crypto::equal_constant_time(cred.digest, it->second.hash)) {
      who.authenticated = true;
      who.org = it->second.org;
      who.name = it->second.name;
      return who;
    }
  }
  if (crypto::equal_constant_time(cred.digest, self->state.admin_hash)) {
    who.authenticated = true;
    who.admin = true;
  }
  return who;
}

caf::expected<org_token> parse_token(const api_call& call) {
  auto parsed = parse_outside_json(call.body);
  if (!parsed)
    return std::move(parsed.error());
  auto& body = *parsed;
  if (!body.is_object())
    return make_error(ec::bad_request,
                      "the request body must be a JSON object");
  org_token t;
  auto name = body.find("name");
  if (name == body.end() || !name->is_string()
      || name->get<std::string>().empty())
    return make_error(ec::bad_request,
                      "'name' is required and must be a string");
  t.name = name->get<std::string>();
  if (t.name.size() > defaults::token_name_max)
    return make_error(ec::bad_request,
                      "'name' is longer than "
                          + std::to_string(defaults::token_name_max)
                          + " characters");
  if (auto d = body.find("description"); d != body.end() && !d->is_null()) {
    if (!d->is_string())
      return make_error(ec::bad_request, "'description' must be a string");
    t.description = d->get<std::string>();
    if (t.description.size() > defaults::token_description_max)
      return make_error(ec::bad_request, "'description' is too long");
  }
  return t;
}

caf::result<api_response> create_token(self_ptr self, const api_call& call) {
  auto parsed = parse_token(call);
  if (!parsed)
    return std::move(parsed.error());
  auto t = std::move(*parsed);
  // The front end made the token; only its id and digest are here.
  t.id = call.issued.token_id;
  t.hash = call.issued.digest;
  if (t.id.empty() || t.hash.empty())
    return make_error(ec::internal, "no token was issued for this request");
  if (self->state.tokens.count(t.id) > 0)
    return make_error(ec::conflict, "token id taken; retry");
  t.org = call.where.org;
  if (self->state.tokens_of(t.org) >= defaults::max_tokens_per_org)
    return make_error(ec::conflict,
                      "organization '" + t.org + "' has "
                          + std::to_string(defaults::max_tokens_per_org)
                          + " tokens, the most it may have; delete one first");
  ++self->state.creating[t.org];
  auto created = [self, org = t.org] {
    auto& creating = self->state.creating;
    if (--creating[org] == 0)
      creating.erase(org);
  };
  t.created_at = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  write_batch b;
  b.puts.emplace_back(keys::token(t.id), token_json(t, true).dump());
  auto rp = self->make_response_promise<api_response>();
  self->request(self->state.writer, caf::infinite, atom::write::value,
                std::move(b))
      .then(
          [=](std::uint64_t) mutable {
            created();
            self->state.tokens.emplace(t.id, t);
            publish_tokens(self);
            // The front end adds "tokenValue".
            rp.deliver(
                api_response{success::created, json{{"id", t.id}}.dump(), {}});
          },
          [=](caf::error& err) mutable {
            created();
            rp.deliver(std::move(err));
          });
  return rp;
}

api_response list_tokens(self_ptr self, const api_call& call) {
  std::vector<const org_token*> found;
  for (const auto& [id, t] : self->state.tokens)
    if (t.org == call.where.org)
      found.push_back(&t);
  std::sort(found.begin(), found.end(), [](auto* a, auto* b) {
    return std::tie(a->created_at, a->id) < std::tie(b->created_at, b->id);
  });
  auto list = json::array();
  for (auto* t : found)
    list.push_back(token_json(*t, false));
  return {success::ok, list.dump(), {}};
}

caf::result<api_response> delete_token(self_ptr self, const api_call& call) {
  auto it = self->state.tokens.find(call.item);
  if (it == self->state.tokens.end() || it->second.org != call.where.org)
    return make_error(ec::not_found, "token not found");
  // Refused from now on, whatever the write's fate: a token its owner
  // deleted must not keep working while the disk is slow.
  self->state.tokens.erase(it);
  publish_tokens(self);
  write_batch b;
  b.deletes.push_back(keys::token(call.item));
  auto rp = self->make_response_promise<api_response>();
  self->request(self->state.writer, caf::infinite, atom::write::value,
                std::move(b))
      .then(
          [=](std::uint64_t) mutable {
            rp.deliver(api_response{success::no_content, {}, {}});
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// GET /api/user: what the presented token may do, so that a client (the
/// dashboard) knows which organizations to offer.
api_response whoami(const principal& who) {
  json body{{"role", who.admin ? "admin" : "org"},
            {"name", who.admin ? "admin" : who.name},
            {"organizations", json::array()}};
  if (!who.admin)
    body["organizations"].push_back(who.org);
  return {success::ok, body.dump(), {}};
}

/// A scopes listing's continuation token: "<s|e>/<project>/<name>" of the
/// last scope of the previous page, which is its scope key without the
/// organization.
std::string scope_token(const scope& where) {
  return std::string{where.kind == scope_kind::stack ? "s" : "e"} + '/'
         + where.project + '/' + where.name;
}

/// The scope key a continuation token names in `org`, or nothing when the
/// token is not one.
std::optional<std::string> scope_key_of_token(const std::string& org,
                                              std::string_view token) {
  if (token.size() < 5 || (token[0] != 's' && token[0] != 'e')
      || token[1] != '/')
    return std::nullopt;
  auto rest = token.substr(2);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || !valid_path_name(rest.substr(0, slash))
      || !valid_path_name(rest.substr(slash + 1)))
    return std::nullopt;
  return std::string{token.substr(0, 1)} + '/' + org + '/' + std::string{rest};
}

json scope_json(const scope_count& s) {
  if (s.where.kind == scope_kind::stack)
    return {{"kind", "stack"},
            {"organizationName", s.where.org},
            {"projectName", s.where.project},
            {"stackName", s.where.name},
            {"hooks", s.hooks}};
  return {{"kind", "environment"},
          {"organizationName", s.where.org},
          {"projectName", s.where.project},
          {"envName", s.where.name},
          {"hooks", s.hooks}};
}

/// GET /api/orgs/{org}/scopes: the organization's stacks and environments
/// that have webhooks, gathered from every registry shard (a scope lives in
/// the shard its key hashes to), by scope key, a page at a time.
caf::result<api_response> list_scopes(self_ptr self, const api_call& call) {
  std::size_t limit = 0;
  if (auto err = page_limit(call.limit, defaults::scopes_page_max,
                            defaults::scopes_page_max, limit))
    return err;
  std::string after;
  if (!call.continuation.empty()) {
    auto key = scope_key_of_token(call.where.org, call.continuation);
    if (!key)
      return make_error(ec::bad_request, "invalid 'continuationToken'");
    after = std::move(*key);
  }
  struct gathered {
    std::size_t remaining = 0;
    std::vector<scope_count> items;
    bool more = false;
    caf::error failed;
  };
  auto g = std::make_shared<gathered>();
  g->remaining = self->state.shards.size();
  auto rp = self->make_response_promise<api_response>();
  auto base_path = call.base_path;
  auto settle = [=]() mutable {
    if (--g->remaining > 0)
      return;
    if (g->failed)
      return rp.deliver(g->failed), void();
    auto& items = g->items;
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
      return a.where.key() < b.where.key();
    });
    // Each shard answered its first `limit` after the token: the first
    // `limit` of them all are the page.
    if (items.size() > limit) {
      items.resize(limit);
      g->more = true;
    }
    auto list = json::array();
    for (const auto& s : items)
      list.push_back(scope_json(s));
    header_list headers;
    if (g->more && !items.empty())
      headers.push_back(
          next_page_link(base_path, limit, scope_token(items.back().where)));
    rp.deliver(api_response{success::ok, list.dump(), std::move(headers)});
  };
  // Requests inside this process, as in reads.hpp: a shard that dies
  // answers at once with an error, and the front end's deadline bounds the
  // client's wait.
  for (const auto& shard : self->state.shards)
    self->request(shard, caf::infinite, atom::scopes::value, call.where.org,
                  after, static_cast<std::uint32_t>(limit))
        .then(
            [=](scope_page& page) mutable {
              g->more = g->more || page.more;
              for (auto& s : page.items)
                g->items.push_back(std::move(s));
              settle();
            },
            [=](caf::error& err) mutable {
              g->failed = std::move(err);
              settle();
            });
  return rp;
}

/// Reads the org tokens (their hashes) on the store readers; nothing is
/// authenticated before they are all in.
void load_tokens(self_ptr self) {
  scan_request req;
  req.prefix = keys::tokens_prefix();
  load_range(
      self, self->state.reader, std::move(req),
      [=](const std::string&, const std::string& value) {
        try {
          auto j = json::parse(value);
          org_token t;
          t.id = j.at("id").get<std::string>();
          t.org = j.at("org").get<std::string>();
          t.name = j.at("name").get<std::string>();
          t.description = j.value("description", "");
          t.hash = j.at("hash").get<std::string>();
          t.created_at = j.value("created", std::int64_t{0});
          self->state.tokens.emplace(t.id, std::move(t));
        } catch (const json::exception&) {
          // A damaged token record authenticates nobody.
        }
      },
      [=](const caf::error& err) {
        // Without its tokens it would refuse every org token: die, and let
        // the node revive it.
        if (err)
          self->quit(err);
        else
          publish_tokens(self);
      });
}

caf::result<api_response> serve(self_ptr self, api_call& call) {
  if (call.who.digest.empty())
    return make_error(ec::unauthenticated,
                      "missing token: send 'Authorization: token <token>'");
  auto who = authenticate(self, call.who);
  call.who = {};
  if (!who.authenticated)
    return make_error(ec::unauthenticated, "invalid token");
  if (call.op == operation::whoami)
    return whoami(who);
  if (!who.admin && who.org != call.where.org)
    return make_error(ec::forbidden, "this token has no access to "
                                     "organization '"
                                         + call.where.org + "'");
  switch (call.op) {
  case operation::create_token:
    return create_token(self, call);
  case operation::list_tokens:
    return list_tokens(self, call);
  case operation::delete_token:
    return delete_token(self, call);
  case operation::list_scopes:
    return list_scopes(self, call);
  case operation::ingest_events:
    return self->delegate(self->state.ingest, std::move(call));
  case operation::list_deployments:
    return self->delegate(self->state.deployments, std::move(call));
  default:
    break;
  }
  auto& shards = self->state.shards;
  return self->delegate(shards[shard_of(call.where, shards.size())],
                        std::move(call));
}

access_actor::behavior_type
access_behavior(self_ptr self, store_reader_actor reader,
                store_writer_actor writer, std::vector<registry_actor> shards,
                ingest_actor ingest, deployments_actor deployments,
                std::string admin_hash, partition_reads_ptr reads) {
  auto& st = self->state;
  st.reads = std::move(reads);
  if (st.reads)
    st.reads_claim = st.reads->claim_tokens();
  st.reader = std::move(reader);
  st.writer = std::move(writer);
  st.shards = std::move(shards);
  st.ingest = std::move(ingest);
  st.deployments = std::move(deployments);
  st.admin_hash = std::move(admin_hash);
  load_tokens(self);
  return {
      [=](api_call& call) -> caf::result<api_response> {
        return serve(self, call);
      },
      [=](atom::status) {
        return component_status{"access", true, {}};
      },
  };
}

} // namespace

access_actor spawn_access(caf::actor_system& sys, store_reader_actor reader,
                          store_writer_actor writer,
                          std::vector<registry_actor> shards,
                          ingest_actor ingest, deployments_actor deployments,
                          std::string admin_hash, partition_reads_ptr reads) {
  return sys.spawn(access_behavior, std::move(reader), std::move(writer),
                   std::move(shards), std::move(ingest), std::move(deployments),
                   std::move(admin_hash), std::move(reads));
}

} // namespace hookd
