#pragma once
// Kafka's murmur2 partitioner (Java client default, librdkafka `murmur2_random` for keyed records), so every
// producer, ours or kcat or a Java client, puts a thread's events into the same partition.

#include <cstdint>
#include <string_view>

namespace centaur {

/// Kafka's murmur2 hash of `key` (signed, as the Java client computes it).
std::int32_t kafka_murmur2(std::string_view key);
/// Partition of `key` among `partitions` (> 0): (murmur2(key) & 0x7fffffff) % partitions.
std::int32_t partition_for_key(std::string_view key, std::int32_t partitions);

}  // namespace centaur
