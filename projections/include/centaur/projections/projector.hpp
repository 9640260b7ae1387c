#pragma once
// The projector: consumes the event log and writes `session_events`, `sessions`, `session_messages` and
// `session_executions` exactly once, in per-thread order, with its checkpoint in the same transaction.

#include <centaur/core/event_log.hpp>
#include <centaur/core/readiness.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace centaur::projections {

class ProjectionHub;
class ProjectorProbe;

struct ProjectorOptions {
    std::string url;                           ///< Postgres holding the projection tables
    std::string projection = "sessions";       ///< checkpoint name
    std::size_t max_batch = 1000;              ///< records per transaction at most
    std::chrono::milliseconds poll_wait{500};  ///< how long one poll of the log blocks
    std::string group = "centaur-projector";   ///< consumer group of the log (projectors split partitions)
    /// Called on the projector thread once every record of `partition` up to its end when assigned is committed.
    std::function<void(std::int32_t)> on_caught_up;
    ProjectorProbe* probe = nullptr;           ///< metrics (optional; outlives the projector)
};

/// Owns one thread that polls a LogReader and applies each batch in one Postgres transaction: events are
/// inserted with a per-thread `seq` (1, 2, 3 … no hole), duplicates by event uuid are skipped, the derived
/// tables are updated, and the checkpoint per partition commits with them. After each commit it publishes the
/// progress to the hub. On a failed transaction it reconnects, re-seeks to the committed checkpoint and retries.
/// It is one member of the log's consumer group `group`: on assignment it seeks each partition to its Postgres
/// checkpoint (the checkpoint of record); the group's stored offsets, written after each commit, are hints.
/// Every transaction reads `projection_epoch`; when a rebuild swapped new tables in (epoch bumped) it rolls
/// back and re-seeks to the new checkpoints.
/// Lifecycle: construct, `start()`, `stop()` (idempotent, joins the thread). Reports "projector" readiness.
class Projector {
public:
    Projector(ProjectorOptions options, EventLog& log, ProjectionHub* hub, Readiness* readiness);
    ~Projector();
    Projector(const Projector&) = delete;
    Projector& operator=(const Projector&) = delete;

    void start();
    void stop();
    /// Records applied (inserted, not counting duplicates) since start. Thread-safe.
    std::uint64_t applied() const { return applied_.load(); }

private:
    struct Db;
    std::unique_ptr<Db> db_;
    void run();
    /// Metrics of a committed batch: `inserted` holds the hex uuids the transaction inserted.
    void observe_commit(const std::vector<LogRecord>& records, const std::unordered_set<std::string>& inserted);
    /// Seeks `partitions` to their Postgres checkpoints (projector thread). False when Postgres failed.
    bool seek_to_checkpoints(const PartitionList& partitions);
    bool reseek_ = true;
    std::int64_t epoch_ = 0;  ///< projection epoch the current checkpoints were read in
    ProjectorOptions options_;
    EventLog& log_;
    ProjectionHub* hub_;
    Readiness* readiness_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> applied_{0};
    std::unique_ptr<LogReader> reader_;
    std::thread thread_;
};

}  // namespace centaur::projections
