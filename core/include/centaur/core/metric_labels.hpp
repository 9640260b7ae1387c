#pragma once
// Label values shared by the probes of several areas. Every value comes from a fixed set, so label cardinality
// stays bounded whatever the input (thread keys and user ids are never labels).

#include <centaur/schemas/envelope.hpp>

#include <string_view>

namespace centaur {

/// `type` when it is one of event_types.hpp's persisted types, else "other".
std::string_view event_type_label(std::string_view type);
/// "ingest" or "processor".
std::string_view source_label(EventSource source);

}  // namespace centaur
