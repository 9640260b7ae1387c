#pragma once
// Named fault points for fault tests: a process dies (SIGKILL, as kill -9 would) at the n-th pass through the
// point named by CENTAUR_TEST_FAULT_POINT=<name>[@<n>] (n defaults to 1). Without that variable every point is a
// no-op costing one relaxed atomic load. Thread-safe. The points, where they sit and what a death there proves:
//   mid_projection_txn                   projector: rows inserted, checkpoint not written, transaction open
//   after_projection_commit_before_store projector: rows and checkpoint committed, log offsets not yet stored

#include <string_view>

namespace centaur {

/// Passes the point `name`; kills the process when it is the configured point's n-th pass.
void fault_point(std::string_view name);

}  // namespace centaur
