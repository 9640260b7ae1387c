#pragma once
// The sandbox drain channel. `POST /api/sandboxes/drain` records a drain durably; every processor member, in
// whatever process or host, sees it on its next poll, stops every sandbox it holds and files a report, which
// the API reads back to answer. Implementations: pg::PostgresDrainBoard (tables sandbox_drains,
// sandbox_drain_reports, processor_members).

#include <centaur/core/result.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace centaur {

struct DrainFailure {
    std::string sandbox_id;
    std::string error;
};

/// What one processor member did for one drain.
struct DrainReport {
    std::vector<std::string> stopped;  ///< sandbox ids stopped and destroyed
    std::vector<DrainFailure> failed;
};

/// A recorded drain and the processor members that were live when it was recorded (the ones the API waits for).
struct DrainTicket {
    std::int64_t drain_id = 0;
    std::vector<std::string> members;
};

/// Thread-safe; calls complete on the caller's executor. Never throws: failures are errc::store_unavailable.
class DrainBoard {
public:
    virtual ~DrainBoard() = default;

    // ---- API side
    /// Records a drain. Members count as live when their last heartbeat is within the board's liveness window.
    virtual boost::asio::awaitable<result<DrainTicket>> request() = 0;
    /// Reports filed so far for `drain_id`, by member.
    virtual boost::asio::awaitable<result<std::map<std::string, DrainReport>>> reports(std::int64_t drain_id) = 0;

    // ---- processor side
    /// The highest drain id recorded so far (0 when none): a member that starts ignores drains up to it.
    virtual boost::asio::awaitable<result<std::int64_t>> latest() = 0;
    /// Marks `member` live now and returns the drains after `baseline` it has not reported yet, oldest first.
    virtual boost::asio::awaitable<result<std::vector<std::int64_t>>> heartbeat(std::string member,
                                                                                 std::int64_t baseline) = 0;
    /// Files `member`'s report of `drain_id`; false when that pair had a report already (it is kept).
    virtual boost::asio::awaitable<result<bool>> report(std::int64_t drain_id, std::string member,
                                                        DrainReport report) = 0;
    /// Removes `member` (clean stop): drains recorded afterwards do not wait for it. False when it was not there.
    virtual boost::asio::awaitable<result<bool>> leave(std::string member) = 0;
};

}  // namespace centaur
