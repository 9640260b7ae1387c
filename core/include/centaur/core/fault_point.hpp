#pragma once
// Named fault points for fault tests: a process dies (SIGKILL, as kill -9 would) at the n-th pass through the
// point named by CENTAUR_TEST_FAULT_POINT=<name>[@<n>] (n defaults to 1). Without that variable every point is a
// no-op costing one relaxed atomic load. Thread-safe. The points, where they sit and what a death there proves:
//   mid_projection_txn                   projector: rows inserted, checkpoint not written, transaction open
//   after_projection_commit_before_store projector: rows and checkpoint committed, log offsets not yet stored
//   after_append_before_checkpoint       processor: an event it decided is durable on the log, not yet read back
//                                        (its position is the log: a restart refolds; nothing lost or repeated)
//   mid_log_append_txn                   embedded log, any appending role: a group commit's rows inserted, the
//                                        transaction open, no caller answered (the retry is the only copy)
//   after_log_commit_before_ack          embedded log: the group commit is durable, no caller answered yet (the
//                                        retry must find the same events: one copy each)
//   kafka_before_offset_store            Kafka reader of a consumer group: the consumer's work is durable, the
//                                        offsets not yet stored (the next owner re-reads; the consumer dedups)
//   slack_after_post_before_started      Slack reply streamer: Slack created the reply's message, its ts is not
//                                        recorded (the restart finds the message by its recorded intent)
//   runner_after_create_before_reply     sandbox runner: a sandbox started, its creator not answered (the runner's
//                                        sandboxes die with it; the client places the create again once a runner
//                                        answers, and the execution still ends exactly once)

#include <string_view>

namespace centaur {

/// Passes the point `name`; kills the process when it is the configured point's n-th pass.
void fault_point(std::string_view name);

}  // namespace centaur
