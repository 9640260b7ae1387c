#pragma once
// `POST /api/sandboxes/drain` (capability sandboxes_drain: admin keys and Console JWTs; open mode on loopback):
// records a drain on the DrainBoard, which every processor process polls, and answers from the members' reports.

#include <centaur/core/drain_board.hpp>
#include <centaur/http/types.hpp>

#include <chrono>

namespace centaur::ingest {

struct DrainRouteOptions {
    /// How long the request waits for the reports of the processor members that were live when the drain was
    /// recorded (CENTAUR_SANDBOX_DRAIN_WAIT_MS).
    std::chrono::milliseconds wait{30'000};
    std::chrono::milliseconds poll{100};  ///< how often the reports are read while waiting
};

/// The route. Every live member reported in time: 200 with upstream's body
/// `{"ok": no failure, "stopped_count", "stopped": [sandbox ids], "failed": [{"sandbox_id","error"}]}` plus
/// `"drain_id"` and `"processors"` (members that reported). Otherwise 202 with the same keys over the reports
/// filed so far, `"accepted": true` and `"pending_processors"`: the drain goes on and the stragglers apply it
/// when they next poll. 503 when the board cannot record the drain. `board` outlives the server.
http::Route drain_route(DrainBoard& board, DrainRouteOptions options = {});

}  // namespace centaur::ingest
