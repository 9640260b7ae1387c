#pragma once
// Strong identifier types shared by every area. Mixing a log offset with a thread sequence must not compile.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace centaur {

/// A strongly typed integer: explicit construction, ordered, hashable, no arithmetic mixing with other tags.
template <typename Tag>
struct StrongInt {
    std::int64_t value = 0;
    constexpr StrongInt() = default;
    constexpr explicit StrongInt(std::int64_t v) : value(v) {}
    constexpr auto operator<=>(const StrongInt&) const = default;
};

/// Globally unique event id; strictly increasing within a thread; the SSE `id:`.
using EventId = StrongInt<struct EventIdTag>;
/// Per-thread sequence number assigned by the projector: 1, 2, 3 … with no hole.
using EventSeq = StrongInt<struct EventSeqTag>;
/// Position of a record inside one log partition.
using LogOffset = StrongInt<struct LogOffsetTag>;

/// 128-bit event identity used as the idempotency key of an event; printed as 32 lowercase hex digits.
struct EventUuid {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    auto operator<=>(const EventUuid&) const = default;

    /// Random (version 4) uuid.
    static EventUuid random();
    /// Deterministic (name-based, SHA-256 truncated, version 5 layout) uuid of `name`.
    static EventUuid derived(std::string_view name);
    /// Parses 32 hex digits, with or without the canonical dashes. False on anything else.
    static bool parse(std::string_view text, EventUuid& out);
    /// 32 lowercase hex digits, no dashes.
    std::string hex() const;
    /// Canonical 8-4-4-4-12 form (Postgres `uuid` text form).
    std::string canonical() const;
};

/// `msg_<32 hex>` / `exe_<32 hex>` ids as upstream shapes them.
std::string message_id_from(const EventUuid& uuid);
std::string execution_id_from(const EventUuid& uuid);

}  // namespace centaur

template <typename Tag>
struct std::hash<centaur::StrongInt<Tag>> {
    std::size_t operator()(const centaur::StrongInt<Tag>& v) const noexcept { return std::hash<std::int64_t>{}(v.value); }
};
template <>
struct std::hash<centaur::EventUuid> {
    std::size_t operator()(const centaur::EventUuid& u) const noexcept { return u.hi ^ (u.lo * 0x9e3779b97f4a7c15ULL); }
};
