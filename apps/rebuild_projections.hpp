#pragma once
// `centaur-api-server rebuild-projections`: the projections rebuilt from the event log, swapped in live.

#include "log_selection.hpp"

#include <string>

namespace centaur::apps {

/// Replays the whole log (every partition from its start) into fresh copies of the projection tables in
/// schema `centaur_rebuild`, waits until every partition is caught up, then in one transaction bumps
/// `projection_epoch`, moves the current tables to schema `centaur_retired_<epoch>` (kept for comparison or
/// rollback) and the rebuilt ones into `public`. A server running meanwhile keeps serving: its projector sees
/// the new epoch and continues from the rebuilt checkpoints, so events it projected during the rebuild are
/// projected again into the new tables. Prints one summary line; returns the exit code (0, or 1 with one
/// line on stderr).
int rebuild_projections(const LogSelection& selection, const std::string& database_url, std::int32_t partitions);

}  // namespace centaur::apps
