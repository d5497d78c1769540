// Access control. Tokens are "hookd_<id>_<secret>"; only the SHA-256 of a
// token is stored, and every comparison is constant-time.
#include <chrono>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "hookd/actors.hpp"
#include "hookd/defaults.hpp"

namespace hookd {

namespace {

using json = nlohmann::json;

constexpr const char* token_prefix = "hookd_";
constexpr std::size_t token_id_bytes = 8;
constexpr std::size_t token_secret_bytes = 24;

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
  store_ptr db;
  std::vector<registry_actor> shards;
  ingest_actor ingest;
  std::string admin_hash;
  std::unordered_map<std::string, org_token> tokens; ///< by id
};

using self_ptr = access_actor::stateful_pointer<access_state>;

/// Who presented a credential: the admin, an org token, or nobody.
struct principal {
  bool authenticated = false;
  bool admin = false;
  std::string org;
};

std::string token_key(const std::string& id) {
  return "t/" + id;
}

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

principal authenticate(self_ptr self, const std::string& credential) {
  principal who;
  auto digest = crypto::sha256_hex(credential);
  // The id part selects the candidate; the hash comparison decides.
  std::string_view c = credential;
  if (c.rfind(token_prefix, 0) == 0) {
    auto rest = c.substr(std::string_view{token_prefix}.size());
    auto sep = rest.find('_');
    if (sep != std::string_view::npos) {
      auto it = self->state.tokens.find(std::string{rest.substr(0, sep)});
      if (it != self->state.tokens.end()
          && crypto::equal_constant_time(digest, it->second.hash)) {
        who.authenticated = true;
        who.org = it->second.org;
        return who;
      }
    }
  }
  if (crypto::equal_constant_time(digest, self->state.admin_hash)) {
    who.authenticated = true;
    who.admin = true;
  }
  return who;
}

void create_token(self_ptr self, const api_call& call,
                  const responder_ptr& rp) {
  json body;
  try {
    body = json::parse(call.body);
  } catch (const json::parse_error&) {
    return rp->fail(ec::bad_request, "malformed JSON");
  }
  if (!body.is_object())
    return rp->fail(ec::bad_request, "the request body must be a JSON object");
  org_token t;
  auto name = body.find("name");
  if (name == body.end() || !name->is_string() || name->get<std::string>().empty())
    return rp->fail(ec::bad_request, "'name' is required and must be a string");
  t.name = name->get<std::string>();
  if (t.name.size() > defaults::token_name_max)
    return rp->fail(ec::bad_request, "'name' is longer than "
                                       + std::to_string(defaults::token_name_max)
                                       + " characters");
  if (auto d = body.find("description"); d != body.end() && !d->is_null()) {
    if (!d->is_string())
      return rp->fail(ec::bad_request, "'description' must be a string");
    t.description = d->get<std::string>();
    if (t.description.size() > defaults::token_description_max)
      return rp->fail(ec::bad_request, "'description' is too long");
  }
  do
    t.id = crypto::random_hex(token_id_bytes);
  while (self->state.tokens.count(t.id) > 0);
  auto value = token_prefix + t.id + '_'
               + crypto::random_hex(token_secret_bytes);
  t.org = call.where.org;
  t.hash = crypto::sha256_hex(value);
  t.created_at = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  self->state.db->put(token_key(t.id), token_json(t, true).dump());
  self->state.tokens.emplace(t.id, t);
  rp->respond(success::created,
              json{{"id", t.id}, {"tokenValue", value}}.dump());
}

void list_tokens(self_ptr self, const api_call& call,
                 const responder_ptr& rp) {
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
  rp->respond(success::ok, list.dump());
}

void delete_token(self_ptr self, const api_call& call,
                  const responder_ptr& rp) {
  auto it = self->state.tokens.find(call.item);
  if (it == self->state.tokens.end() || it->second.org != call.where.org)
    return rp->fail(ec::not_found, "token not found");
  self->state.db->write({{}, {token_key(call.item)}, {}});
  self->state.tokens.erase(it);
  rp->respond(success::no_content, {});
}

void load_tokens(self_ptr self) {
  self->state.db->scan("t/", {}, false,
                       [&](std::string_view, std::string_view value) {
                         try {
                           auto j = json::parse(value.begin(), value.end());
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
                         return true;
                       });
}

access_actor::behavior_type access_behavior(self_ptr self, store_ptr db,
                                            std::vector<registry_actor> shards,
                                            ingest_actor ingest,
                                            std::string admin_hash) {
  self->state.db = std::move(db);
  self->state.shards = std::move(shards);
  self->state.ingest = std::move(ingest);
  self->state.admin_hash = std::move(admin_hash);
  load_tokens(self);
  self->set_exit_handler([=](caf::exit_msg& msg) { self->quit(msg.reason); });
  return {
    [=](api_call& call, responder_ptr& rp) {
      if (call.credential.empty())
        return rp->fail(ec::unauthenticated,
                        "missing token: send 'Authorization: token <token>'");
      auto who = authenticate(self, call.credential);
      call.credential.clear();
      if (!who.authenticated)
        return rp->fail(ec::unauthenticated, "invalid token");
      if (!who.admin && who.org != call.where.org)
        return rp->fail(ec::forbidden, "this token has no access to "
                                       "organization '"
                                         + call.where.org + "'");
      try {
        switch (call.op) {
          case operation::create_token: return create_token(self, call, rp);
          case operation::list_tokens: return list_tokens(self, call, rp);
          case operation::delete_token: return delete_token(self, call, rp);
          case operation::ingest_events:
          case operation::list_deployments:
            return self->send(self->state.ingest, std::move(call), rp);
          default: break;
        }
      } catch (const store_error&) {
        return rp->fail(ec::unavailable, "the store failed; retry later");
      } catch (const std::exception& e) {
        return rp->fail(ec::internal,
                        std::string{"internal error: "} + e.what());
      }
      auto& shards = self->state.shards;
      self->send(shards[shard_of(call.where, shards.size())], std::move(call),
                 rp);
    },
  };
}

} // namespace

access_actor spawn_access(caf::actor_system& sys, store_ptr db,
                          std::vector<registry_actor> shards,
                          ingest_actor ingest, std::string admin_hash) {
  return sys.spawn(access_behavior, std::move(db), std::move(shards),
                   std::move(ingest), std::move(admin_hash));
}

} // namespace hookd
