#include <centaur/ingest/session_routes.hpp>

#include "session_writes.hpp"

#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <boost/json.hpp>

#include <memory>
#include <mutex>
#include <unordered_set>
#include <variant>

namespace centaur::ingest {
namespace json = boost::json;
using boost::asio::awaitable;
using http::error_response;
using http::json_response;
using http::Response;

namespace {

constexpr std::string_view default_interrupt_reason = "Interrupted from Slack";
constexpr std::string_view unavailable = "event log unavailable";
constexpr std::string_view store_down = "session store unavailable";

/// A parsed JSON object body, or the response to send instead (400 malformed, 422 not an object).
std::variant<json::object, Response> parse_object(const http::Request& req, bool empty_is_object = false) {
    if (req.body.empty() && empty_is_object) return json::object{};
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    if (ec) return error_response(400, "invalid JSON body: " + ec.message());
    if (!v.is_object()) return error_response(422, "request body must be a JSON object");
    return std::move(v.as_object());
}

std::variant<ThreadKey, Response> thread_key_of(const http::PathParams& params) {
    std::string why;
    auto key = ThreadKey::parse(params.at("thread_key"), &why);
    if (!key) return error_response(400, "invalid thread key: " + why);
    return *key;
}

/// What every write route starts from: the path's thread key and the JSON object body.
struct KeyedBody {
    ThreadKey key;
    json::object body;
};

/// The thread key and object body of a write, or the response to send instead: 400 for a bad key (checked
/// first), else what parse_object answers.
std::variant<KeyedBody, Response> keyed_body(const http::Request& req, const http::PathParams& params,
                                             bool empty_is_object = false) {
    auto key_or = thread_key_of(params);
    if (auto* r = std::get_if<Response>(&key_or)) return std::move(*r);
    auto body_or = parse_object(req, empty_is_object);
    if (auto* r = std::get_if<Response>(&body_or)) return std::move(*r);
    return KeyedBody{std::move(std::get<ThreadKey>(key_or)), std::move(std::get<json::object>(body_or))};
}

/// Optional field of a given JSON kind; a present field of another kind is a 422 message.
template <typename Pred>
std::optional<std::string> wrong_kind(const json::object& o, std::string_view key, Pred is_kind, const char* kind) {
    if (auto* f = o.if_contains(key); f && !f->is_null() && !is_kind(*f))
        return std::string(key) + " must be " + kind;
    return std::nullopt;
}

/// A non-negative integer field in milliseconds; nullopt when absent, a 422 message when of the wrong kind.
std::variant<std::optional<std::uint64_t>, std::string> duration_field(const json::object& o, std::string_view key) {
    const auto* f = o.if_contains(key);
    if (!f || f->is_null()) return std::optional<std::uint64_t>{};
    if (f->is_uint64()) return std::optional<std::uint64_t>{f->as_uint64()};
    if (f->is_int64() && f->as_int64() >= 0) return std::optional<std::uint64_t>{static_cast<std::uint64_t>(f->as_int64())};
    return std::string(key) + " must be a non-negative integer";
}

json::value context_of(const ThreadKey& key) {
    const std::string& k = key.str();
    std::vector<std::string> parts;
    for (std::size_t start = 0;;) {
        const auto colon = k.find(':', start);
        parts.push_back(k.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    json::object ctx{{"thread_key", k}, {"title", nullptr}};
    const std::string& ns = parts[0];
    if (ns == "slack" && (parts.size() == 3 || parts.size() == 4)) {
        ctx["platform"] = "slack";
        const std::size_t c = parts.size() == 4 ? 2 : 1;
        json::object slack{{"channel_id", parts[c]}, {"thread_ts", parts[c + 1]}};
        if (parts.size() == 4) slack["team_id"] = parts[1];
        ctx["slack"] = std::move(slack);
    } else if (ns == "discord" && parts.size() >= 3) {
        ctx["platform"] = "discord";
        json::object d{{"guild_id", parts[1]}, {"channel_id", parts[2]}};
        if (parts.size() >= 4) d["thread_id"] = parts[3];
        ctx["discord"] = std::move(d);
    } else if (ns == "linear") {
        ctx["platform"] = "linear";
        ctx["linear"] = json::object{{"issue_id", parts.size() > 1 ? parts[1] : ""}};
    } else if (ns.rfind("github", 0) == 0 && parts.size() >= 3) {
        ctx["platform"] = "github";
        ctx["github"] = json::object{{"repository", parts[1]}, {"number", parts.back()}};
    } else {
        ctx["platform"] = "unknown";
    }
    return ctx;
}

/// Thread keys known to have a session, so a write to one needs no session read. Sessions are never deleted and a
/// rebuilt projection holds the same sessions, so a key once seen stays true. Bounded: past `capacity` keys it
/// forgets them all (the next write of each reads the session again). Thread-safe.
class KnownSessions {
public:
    bool contains(const ThreadKey& key) const {
        std::lock_guard lock(mutex_);
        return keys_.count(key.str()) > 0;
    }
    void add(const ThreadKey& key) {
        std::lock_guard lock(mutex_);
        if (keys_.size() >= capacity) keys_.clear();
        keys_.insert(key.str());
    }

private:
    static constexpr std::size_t capacity = 65536;
    mutable std::mutex mutex_;
    std::unordered_set<std::string> keys_;
};

struct Routes {
    EventLog& log;
    SessionStore& store;
    SessionRoutesOptions options;
    std::shared_ptr<KnownSessions> known = std::make_shared<KnownSessions>();

    /// Appends and waits (bounded) for the projection to show the event. A 5xx response on failure.
    awaitable<std::optional<Response>> append_and_wait(EventEnvelope event, bool require_projection) {
        const auto key = event.thread_key;
        const auto uuid = event.event_uuid;
        auto appended = co_await append(log, std::move(event));
        if (!appended) co_return error_response(503, unavailable);
        auto projected = co_await store.wait_projected(key, uuid, appended->event_id, options.projection_wait);
        if (!projected) co_return error_response(503, store_down);
        if (!*projected && require_projection) co_return error_response(503, "projection is behind; retry");
        co_return std::nullopt;
    }

    awaitable<Response> create(const http::Request& req, const http::PathParams& params) {
        auto input = keyed_body(req, params);
        if (auto* r = std::get_if<Response>(&input)) co_return *r;
        const ThreadKey& key = std::get<KeyedBody>(input).key;
        json::object& body = std::get<KeyedBody>(input).body;

        const auto* harness = body.if_contains("harness_type");
        if (!harness || !harness->is_string()) co_return error_response(422, "harness_type is required and must be a string");
        const std::string harness_type(harness->as_string());
        if (!is_known_harness(harness_type)) co_return error_response(422, "unknown harness_type: " + harness_type);
        for (auto bad : {wrong_kind(body, "persona_id", [](auto& v) { return v.is_string(); }, "a string"),
                         wrong_kind(body, "metadata", [](auto& v) { return v.is_object(); }, "an object"),
                         wrong_kind(body, "on_harness_conflict", [](auto& v) { return v.is_string(); }, "a string")}) {
            if (bad) co_return error_response(422, *bad);
        }
        bool restart = false;
        if (auto* c = body.if_contains("on_harness_conflict"); c && c->is_string()) {
            if (c->as_string() == "restart") restart = true;
            else if (c->as_string() != "reject")
                co_return error_response(422, "on_harness_conflict must be \"reject\" or \"restart\"");
        }
        std::optional<std::string> persona;
        if (auto* p = body.if_contains("persona_id"); p && p->is_string()) persona = std::string(p->as_string());
        json::object metadata;
        if (auto* m = body.if_contains("metadata"); m && m->is_object()) metadata = m->as_object();

        auto existing = co_await store.get_session(key);
        if (!existing) co_return error_response(503, store_down);
        bool switched = false;
        if (*existing) {
            const auto& s = **existing;
            if (persona && s.persona_id && *persona != *s.persona_id)
                co_return error_response(409, "session persona conflict");
            if (s.harness_type != harness_type && !restart) co_return harness_conflict(s.harness_type, harness_type);
            if (s.harness_type != harness_type) {
                SessionCreated created{harness_type, persona, metadata, true};
                auto event = session_created_event(key, std::move(created), false);
                auto failed = co_await append_and_wait(std::move(event), true);
                if (failed) co_return *failed;
                switched = true;
            }
        } else {
            // Concurrent first creations with one harness are one event; with different harnesses the first
            // projected wins and the others get 409 below.
            SessionCreated created{harness_type, persona, metadata, false};
            auto event = session_created_event(key, std::move(created), true);
            auto failed = co_await append_and_wait(std::move(event), true);
            if (failed) co_return *failed;
        }
        auto session = co_await store.get_session(key);
        if (!session) co_return error_response(503, store_down);
        if (!*session) co_return error_response(503, "projection is behind; retry");
        if ((*session)->harness_type != harness_type) co_return harness_conflict((*session)->harness_type, harness_type);
        json::object out = (*session)->json;
        out["harness_switched"] = switched;
        co_return json_response(out);
    }

    static Response harness_conflict(const std::string& existing, const std::string& requested) {
        return json_response(json::object{{"ok", false},
                                          {"error", "session harness conflict: session uses " + existing},
                                          {"code", "harness_conflict"},
                                          {"existing_harness", existing},
                                          {"requested_harness", requested}},
                             409);
    }

    awaitable<Response> context(const http::Request&, const http::PathParams& params) {
        auto key_or = thread_key_of(params);
        if (auto* r = std::get_if<Response>(&key_or)) co_return *r;
        co_return json_response(context_of(std::get<ThreadKey>(key_or)));
    }

    /// 404 unless the thread has a session; 503 when the store is down.
    awaitable<std::optional<Response>> require_session(const ThreadKey& key) {
        if (known->contains(key)) co_return std::nullopt;
        auto session = co_await store.get_session(key);
        if (!session) co_return error_response(503, store_down);
        if (!*session) co_return error_response(404, "session not found");
        known->add(key);
        co_return std::nullopt;
    }

    awaitable<Response> messages(const http::Request& req, const http::PathParams& params) {
        auto input = keyed_body(req, params);
        if (auto* r = std::get_if<Response>(&input)) co_return *r;
        const ThreadKey& key = std::get<KeyedBody>(input).key;
        json::object& body = std::get<KeyedBody>(input).body;
        const auto* list = body.if_contains("messages");
        if (!list || !list->is_array()) co_return error_response(422, "messages is required and must be an array");
        if (list->as_array().empty()) co_return error_response(400, "messages must not be empty");

        std::vector<EventEnvelope> events;
        json::array ids;
        for (std::size_t i = 0; i < list->as_array().size(); ++i) {
            const auto& m = list->as_array()[i];
            const std::string at = "messages[" + std::to_string(i) + "]";
            if (!m.is_object()) co_return error_response(422, at + " must be an object");
            const auto& o = m.as_object();
            const auto* role = o.if_contains("role");
            if (!role || !role->is_string()) co_return error_response(422, at + ".role is required");
            const std::string r(role->as_string());
            if (r != "user" && r != "assistant" && r != "system" && r != "tool")
                co_return error_response(422, at + ".role must be user, assistant, system or tool");
            const auto* parts = o.if_contains("parts");
            if (!parts || !parts->is_array()) co_return error_response(422, at + ".parts is required and must be an array");
            for (auto bad : {wrong_kind(o, "client_message_id", [](auto& v) { return v.is_string(); }, "a string"),
                             wrong_kind(o, "metadata", [](auto& v) { return v.is_object(); }, "an object")}) {
                if (bad) co_return error_response(422, at + "." + *bad);
            }
            std::optional<std::string> client_id;
            if (auto* c = o.if_contains("client_message_id"); c && c->is_string() && !c->as_string().empty())
                client_id = std::string(c->as_string());
            json::object metadata;
            if (auto* md = o.if_contains("metadata"); md && md->is_object()) metadata = md->as_object();
            auto event = message_appended_event(key, client_id, r, parts->as_array(), std::move(metadata));
            ids.emplace_back(message_id_from(event.event_uuid));
            events.push_back(std::move(event));
        }
        if (auto missing = co_await require_session(key)) co_return *missing;
        for (std::size_t i = 0; i < events.size(); ++i) {
            const bool last = i + 1 == events.size();
            if (!last) {
                if (!co_await append(log, std::move(events[i]))) co_return error_response(503, unavailable);
            } else if (auto failed = co_await append_and_wait(std::move(events[i]), false)) {
                co_return *failed;
            }
        }
        co_return json_response(json::object{{"ok", true}, {"message_ids", std::move(ids)}});
    }

    awaitable<Response> execute(const http::Request& req, const http::PathParams& params) {
        auto input = keyed_body(req, params);
        if (auto* r = std::get_if<Response>(&input)) co_return *r;
        const ThreadKey& key = std::get<KeyedBody>(input).key;
        json::object& body = std::get<KeyedBody>(input).body;

        const auto* lines = body.if_contains("input_lines");
        if (!lines || !lines->is_array()) co_return error_response(422, "input_lines is required and must be an array");
        for (auto bad : {wrong_kind(body, "idempotency_key", [](auto& v) { return v.is_string(); }, "a string"),
                         wrong_kind(body, "metadata", [](auto& v) { return v.is_object(); }, "an object")}) {
            if (bad) co_return error_response(422, *bad);
        }
        std::vector<std::string> input_lines;
        for (std::size_t i = 0; i < lines->as_array().size(); ++i) {
            const auto& l = lines->as_array()[i];
            if (!l.is_string()) co_return error_response(422, "input_lines[" + std::to_string(i) + "] must be a string");
            const std::string s(l.as_string());
            if (s.find_first_of("\r\n") != std::string::npos)
                co_return error_response(400, "input_lines[" + std::to_string(i) + "] must not contain a newline");
            input_lines.push_back(s);
        }
        if (input_lines.empty()) co_return error_response(400, "input_lines must not be empty");
        auto idle_or = duration_field(body, "idle_timeout_ms");
        if (auto* e = std::get_if<std::string>(&idle_or)) co_return error_response(422, *e);
        auto max_or = duration_field(body, "max_duration_ms");
        if (auto* e = std::get_if<std::string>(&max_or)) co_return error_response(422, *e);
        const auto idle = std::get<std::optional<std::uint64_t>>(idle_or);
        auto max = std::get<std::optional<std::uint64_t>>(max_or);
        if (idle && *idle == 0) co_return error_response(400, "idle_timeout_ms must be greater than zero");
        if (max && *max == 0) co_return error_response(400, "max_duration_ms must be greater than zero");
        if (!max && options.default_max_duration_ms > 0) max = options.default_max_duration_ms;
        if (idle && max && *idle > *max)
            co_return error_response(400, "idle_timeout_ms must not exceed max_duration_ms");

        std::optional<std::string> idempotency_key;
        if (auto* k = body.if_contains("idempotency_key"); k && k->is_string() && !k->as_string().empty())
            idempotency_key = std::string(k->as_string());
        json::object metadata;
        if (auto* m = body.if_contains("metadata"); m && m->is_object()) metadata = m->as_object();
        metadata.erase("requester_principal_foreign_id");

        if (auto missing = co_await require_session(key)) co_return *missing;
        auto event = execution_requested_event(key, idempotency_key, std::move(input_lines), idle.value_or(0),
                                               max.value_or(0), std::move(metadata));
        const auto execution_id = *event.execution_id;
        if (auto failed = co_await append_and_wait(std::move(event), false)) co_return *failed;
        std::string status = "queued";
        if (auto current = co_await store.get_execution(key, execution_id); current && *current)
            status = (*current)->status;
        co_return json_response(json::object{
            {"ok", true}, {"execution_id", execution_id}, {"thread_key", key.str()}, {"status", status}});
    }

    awaitable<Response> interrupt(const http::Request& req, const http::PathParams& params) {
        auto input = keyed_body(req, params, true);
        if (auto* r = std::get_if<Response>(&input)) co_return *r;
        const ThreadKey& key = std::get<KeyedBody>(input).key;
        json::object& body = std::get<KeyedBody>(input).body;
        if (auto bad = wrong_kind(body, "reason", [](auto& v) { return v.is_string(); }, "a string"))
            co_return error_response(422, *bad);
        std::string reason(default_interrupt_reason);
        if (auto* r = body.if_contains("reason"); r && r->is_string() && !r->as_string().empty())
            reason = std::string(r->as_string());

        if (auto missing = co_await require_session(key)) co_return *missing;
        auto active = co_await store.active_execution(key);
        if (!active) co_return error_response(503, store_down);
        if (!*active) {
            co_return json_response(json::object{
                {"ok", true}, {"interrupted", false}, {"execution_id", nullptr}, {"thread_key", key.str()}});
        }
        const auto execution_id = (*active)->execution_id;
        auto event = interrupt_requested_event(key, execution_id, reason);
        if (auto failed = co_await append_and_wait(std::move(event), false)) co_return *failed;
        co_return json_response(json::object{
            {"ok", true}, {"interrupted", true}, {"execution_id", execution_id}, {"thread_key", key.str()}});
    }
};

template <auto Method>
http::Handler bind(std::shared_ptr<Routes> routes) {
    return [routes](const http::Request& req, const http::PathParams& params) -> awaitable<Response> {
        co_return co_await ((*routes).*Method)(req, params);
    };
}

}  // namespace

std::vector<http::Route> session_routes(EventLog& log, SessionStore& store, SessionRoutesOptions options) {
    auto r = std::make_shared<Routes>(Routes{log, store, options});
    using C = http::Capability;
    return {
        {"POST", "/api/session/{thread_key}", C::sessions_write, bind<&Routes::create>(r)},
        {"GET", "/api/session/{thread_key}", C::sessions_read, bind<&Routes::context>(r)},
        {"POST", "/api/session/{thread_key}/messages", C::sessions_write, bind<&Routes::messages>(r)},
        {"POST", "/api/session/{thread_key}/execute", C::sessions_write, bind<&Routes::execute>(r)},
        {"POST", "/api/session/{thread_key}/interrupt", C::sessions_write, bind<&Routes::interrupt>(r)},
    };
}

namespace {

/// /readyz: 200 {"ok":true,"ready":true,"components":{…}} or 503 {"ok":false,"ready":false,"error":"not ready: …",
/// "components":{…}}; each component maps to "ready" or the reason it is not.
Response readiness_response(const Readiness& readiness) {
    json::object components;
    for (const auto& [name, state] : readiness.report()) components[name] = state;
    const auto problems = readiness.problems();
    if (problems.empty())
        return json_response(json::object{{"ok", true}, {"ready", true}, {"components", std::move(components)}});
    return json_response(json::object{{"ok", false},
                                      {"ready", false},
                                      {"error", "not ready: " + problems},
                                      {"components", std::move(components)}},
                         503);
}

}  // namespace

std::vector<http::Route> health_routes(const Readiness& readiness) {
    return {
        {"GET", "/healthz", http::Capability::none,
         [](const http::Request&, const http::PathParams&) -> awaitable<Response> {
             co_return json_response(json::object{{"ok", true}});
         }},
        {"GET", "/readyz", http::Capability::none,
         [&readiness](const http::Request&, const http::PathParams&) -> awaitable<Response> {
             co_return readiness_response(readiness);
         }},
    };
}

http::Guard make_guard(const Authenticator& auth, const Readiness& readiness, RateLimiter* limiter) {
    return [&auth, &readiness, limiter](const http::Request& req, const http::Route& route,
                                        const http::PathParams& params) -> std::optional<Response> {
        if (auto denied = auth.check(req, route, params)) return denied;
        const bool is_public = route.capability == http::Capability::none || route.capability == http::Capability::metrics;
        if (!is_public && !readiness.serving()) return error_response(503, "server is still starting");
        if (limiter && route.capability == http::Capability::sessions_write) {
            if (auto retry_after = limiter->acquire(auth.caller_id(req, params)))
                return too_many_requests("rate limit exceeded for this caller", *retry_after);
        }
        return std::nullopt;
    };
}

}  // namespace centaur::ingest
