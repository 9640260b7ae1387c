#pragma once
// DrainBoard on Postgres (tables of migration 0005_sandbox_drains): the durable path by which a drain requested
// at any API process reaches every processor process.

#include <centaur/core/drain_board.hpp>

#include <chrono>
#include <memory>

namespace centaur::pg {

class Pool;

/// Every call is one prepared statement (or one short transaction) on `pool`. A member counts as live for
/// `liveness` after its last heartbeat. `pool` outlives the board.
class PostgresDrainBoard final : public DrainBoard {
public:
    PostgresDrainBoard(Pool& pool, std::chrono::milliseconds liveness);

    boost::asio::awaitable<result<DrainTicket>> request() override;
    boost::asio::awaitable<result<std::map<std::string, DrainReport>>> reports(std::int64_t drain_id) override;
    boost::asio::awaitable<result<std::int64_t>> latest() override;
    boost::asio::awaitable<result<std::vector<std::int64_t>>> heartbeat(std::string member,
                                                                         std::int64_t baseline) override;
    boost::asio::awaitable<result<bool>> report(std::int64_t drain_id, std::string member,
                                                DrainReport report) override;
    boost::asio::awaitable<result<bool>> leave(std::string member) override;

private:
    Pool& pool_;
    std::chrono::milliseconds liveness_;
};

}  // namespace centaur::pg
