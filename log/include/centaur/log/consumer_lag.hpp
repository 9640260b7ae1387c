#pragma once
// Consumer lag of a log's consumer-group members, as both event logs report it (KafkaEventLog::consumer_lag,
// PostgresEventLog::consumer_lag) and LogProbe exports it (centaur_log_consumer_lag_records).

#include <cstdint>
#include <string>

namespace centaur::log {

/// Records of one partition a consumer-group member of this process has not read yet.
struct ConsumerLag {
    std::string group;
    std::int32_t partition = 0;
    std::int64_t records = 0;  ///< the partition's head (as of the member's last read) minus its position
};

}  // namespace centaur::log
