#include <centaur/schemas/envelope.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace centaur {
namespace json = boost::json;

namespace {
constexpr std::int64_t envelope_version = 1;

std::string_view source_name(EventSource s) { return s == EventSource::processor ? "processor" : "ingest"; }
}  // namespace

std::string format_timestamp(std::int64_t micros) {
    // RFC 3339 has four-digit years: clamp to 0000-01-01 .. 9999-12-31T23:59:59.999999 (any int64 comes in from
    // a decoded envelope; the arithmetic below must not overflow).
    constexpr std::int64_t min_micros = -62'167'219'200'000'000;
    constexpr std::int64_t max_micros = 253'402'300'799'999'999;
    micros = std::clamp(micros, min_micros, max_micros);
    std::int64_t whole = micros / 1'000'000;
    std::int64_t frac = micros % 1'000'000;
    if (frac < 0) {
        frac += 1'000'000;
        whole -= 1;
    }
    const std::time_t secs = static_cast<std::time_t>(whole);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    return buf;
}

std::int64_t now_micros() {
    using namespace std::chrono;
    return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

std::string encode_envelope(const EventEnvelope& e) {
    json::object o;
    o["v"] = envelope_version;
    o["event_uuid"] = e.event_uuid.hex();
    o["thread_key"] = e.thread_key.str();
    o["execution_id"] = e.execution_id ? json::value(*e.execution_id) : json::value(nullptr);
    o["event_type"] = e.event_type;
    o["payload"] = e.payload;
    o["occurred_at_us"] = e.occurred_at_us;
    o["source"] = source_name(e.source);
    return json::serialize(o);
}

std::optional<EventEnvelope> decode_envelope(std::string_view text, std::string* error) {
    auto fail = [&](std::string why) -> std::optional<EventEnvelope> {
        if (error) *error = std::move(why);
        return std::nullopt;
    };
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return fail("envelope is not JSON: " + ec.message());
    const json::object* o = v.if_object();
    if (!o) return fail("envelope is not a JSON object");
    const auto* version = o->if_contains("v");
    if (!version || !version->is_int64() || version->as_int64() != envelope_version)
        return fail("envelope has an unknown version");
    const auto* uuid = o->if_contains("event_uuid");
    EventUuid parsed_uuid;
    if (!uuid || !uuid->is_string() || !EventUuid::parse(uuid->as_string(), parsed_uuid))
        return fail("envelope event_uuid is missing or malformed");
    const auto* key = o->if_contains("thread_key");
    if (!key || !key->is_string()) return fail("envelope thread_key is missing");
    std::string key_error;
    auto thread_key = ThreadKey::parse(key->as_string(), &key_error);
    if (!thread_key) return fail("envelope thread_key is invalid: " + key_error);
    const auto* type = o->if_contains("event_type");
    if (!type || !type->is_string() || type->as_string().empty()) return fail("envelope event_type is missing");
    const auto* payload = o->if_contains("payload");
    if (!payload) return fail("envelope payload is missing");
    const auto* at = o->if_contains("occurred_at_us");
    if (!at || !at->is_int64()) return fail("envelope occurred_at_us is missing");

    EventEnvelope e{parsed_uuid, *thread_key, std::nullopt, std::string(type->as_string()), *payload,
                    at->as_int64(), EventSource::ingest};
    if (const auto* exe = o->if_contains("execution_id"); exe && exe->is_string())
        e.execution_id = std::string(exe->as_string());
    if (const auto* src = o->if_contains("source"); src && src->is_string() && src->as_string() == "processor")
        e.source = EventSource::processor;
    return e;
}

}  // namespace centaur
