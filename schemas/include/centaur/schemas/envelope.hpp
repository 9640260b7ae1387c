#pragma once
// The event envelope: one record on the log, one row in `session_events`. JSON on the wire and in Postgres.

#include <centaur/schemas/ids.hpp>
#include <centaur/schemas/thread_key.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace centaur {

/// Which role appended an event.
enum class EventSource { ingest, processor };

struct EventEnvelope {
    EventUuid event_uuid;                      ///< idempotency key: equal uuids are one event
    ThreadKey thread_key;                      ///< ordering key: one partition, one processor, one projector
    std::optional<std::string> execution_id;   ///< `exe_…` when the event belongs to an execution
    std::string event_type;                    ///< see event_types.hpp
    boost::json::value payload;                ///< object, or a JSON string for `session.output.line`
    std::int64_t occurred_at_us = 0;           ///< microseconds since the Unix epoch
    EventSource source = EventSource::ingest;
};

/// Encodes as compact JSON: {"v":1,"event_uuid","thread_key","execution_id","event_type","payload","occurred_at","source"}.
std::string encode_envelope(const EventEnvelope& e);
/// Decodes what `encode_envelope` wrote. nullopt (with `error`) on anything malformed; never throws.
std::optional<EventEnvelope> decode_envelope(std::string_view json, std::string* error = nullptr);

/// RFC 3339 UTC with microseconds: 2026-11-24T18:58:34.123456Z.
std::string format_timestamp(std::int64_t micros_since_epoch);
/// Microseconds since the Unix epoch, from the system clock.
std::int64_t now_micros();

}  // namespace centaur
