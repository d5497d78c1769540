#pragma once

// hookd's one CAF type ID block: every type that travels in a message
// between actors. A node registers them all (system_config), so any message
// may cross to another node through CAF's middleman.

#include <caf/actor_system_config.hpp>
#include <caf/type_id.hpp>

#include "hookd/actors.hpp"
#include "hookd/cluster.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(hookd, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(hookd, (hookd::scope))
CAF_ADD_TYPE_ID(hookd, (hookd::api_call))
CAF_ADD_TYPE_ID(hookd, (hookd::api_response))
CAF_ADD_TYPE_ID(hookd, (hookd::event))
CAF_ADD_TYPE_ID(hookd, (hookd::event_batch))
CAF_ADD_TYPE_ID(hookd, (hookd::http_request))
CAF_ADD_TYPE_ID(hookd, (hookd::http_result))
CAF_ADD_TYPE_ID(hookd, (hookd::deployment_request))
CAF_ADD_TYPE_ID(hookd, (hookd::write_batch))
CAF_ADD_TYPE_ID(hookd, (hookd::read_request))
CAF_ADD_TYPE_ID(hookd, (hookd::read_results))
CAF_ADD_TYPE_ID(hookd, (hookd::scan_request))
CAF_ADD_TYPE_ID(hookd, (hookd::scan_result))
CAF_ADD_TYPE_ID(hookd, (hookd::component_status))
CAF_ADD_TYPE_ID(hookd, (hookd::shard_report))
CAF_ADD_TYPE_ID(hookd, (hookd::scope_count))
CAF_ADD_TYPE_ID(hookd, (hookd::scope_page))
CAF_ADD_TYPE_ID(hookd, (hookd::fanout_actor))
CAF_ADD_TYPE_ID(hookd, (hookd::webhook_actor))
CAF_ADD_TYPE_ID(hookd, (hookd::registry_actor))
CAF_ADD_TYPE_ID(hookd, (hookd::access_actor))
CAF_ADD_TYPE_ID(hookd, (hookd::store_reader_actor))
CAF_ADD_TYPE_ID(hookd, (hookd::store_writer_actor))
CAF_ADD_TYPE_ID(hookd, (hookd::stage_output))
CAF_ADD_TYPE_ID(hookd, (hookd::pull_request))
CAF_ADD_TYPE_ID(hookd, (hookd::pull_reply))
CAF_ADD_TYPE_ID(hookd, (hookd::seed_request))
CAF_ADD_TYPE_ID(hookd, (hookd::seed_reply))
CAF_ADD_TYPE_ID(hookd, (hookd::lag_report))
CAF_ADD_TYPE_ID(hookd, (hookd::ingest_turn))

CAF_END_TYPE_ID_BLOCK(hookd)

namespace hookd {

/// An actor system configuration that knows hookd's messages and errors.
class system_config : public caf::actor_system_config {
public:
  system_config();
};

} // namespace hookd
