#include <centaur/pg/pool.hpp>
#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/session_queries.hpp>
#include <centaur/schemas/envelope.hpp>

#include <boost/json.hpp>
#include <pqxx/pqxx>

namespace centaur::projections {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto recheck_interval = 1s;  // cross-process projectors publish no in-process hint
constexpr auto hub_first_wait = 250ms;  // read-your-writes waits this long for an in-process publish before a read

/// Registers `sql` under `name` on this connection (a no-op when already registered with the same text).
pqxx::result exec(pqxx::connection& c, const char* name, const char* sql, auto&&... args) {
    c.prepare(name, sql);
    pqxx::nontransaction tx(c);
    return tx.exec_prepared(name, std::forward<decltype(args)>(args)...);
}

json::value nullable_text(const pqxx::field& f) { return f.is_null() ? json::value(nullptr) : json::value(f.c_str()); }
json::value nullable_time(const pqxx::field& f) {
    return f.is_null() ? json::value(nullptr) : json::value(format_timestamp(f.as<std::int64_t>()));
}
json::value parsed_or_empty(const pqxx::field& f) {
    boost::system::error_code ec;
    auto v = json::parse(f.c_str(), ec);
    return ec ? json::value(json::object{}) : v;
}


}  // namespace

SessionQueries::SessionQueries(pg::Pool& pool, ProjectionHub& hub) : pool_(pool), hub_(hub) {}

boost::asio::awaitable<result<std::optional<SessionView>>> SessionQueries::get_session(const ThreadKey& key) {
    return pool_.run<std::optional<SessionView>>([key = key.str()](pqxx::connection& c) {
        const auto rows = exec(
            c, "get_session",
            "select thread_key, title, sandbox_id, harness_type, harness_thread_id, persona_id, status, "
            "metadata::text, iron_control_principal, proxy_labels::text, "
            "(extract(epoch from sandbox_last_active_at) * 1000000)::bigint, "
            "(extract(epoch from created_at) * 1000000)::bigint, (extract(epoch from updated_at) * 1000000)::bigint "
            "from sessions where thread_key = $1",
            key);
        if (rows.empty()) return std::optional<SessionView>{};
        const auto& r = rows[0];
        SessionView view;
        view.harness_type = r[3].c_str();
        if (!r[5].is_null()) view.persona_id = r[5].c_str();
        view.json = json::object{{"thread_key", r[0].c_str()},
                                 {"title", nullable_text(r[1])},
                                 {"sandbox_id", nullable_text(r[2])},
                                 {"sandbox_capabilities", nullptr},
                                 {"harness_type", r[3].c_str()},
                                 {"harness_thread_id", nullable_text(r[4])},
                                 {"persona_id", nullable_text(r[5])},
                                 {"status", r[6].c_str()},
                                 {"metadata", parsed_or_empty(r[7])},
                                 {"iron_control_principal", nullable_text(r[8])},
                                 {"proxy_labels", parsed_or_empty(r[9])},
                                 {"sandbox_last_active_at", nullable_time(r[10])},
                                 {"created_at", nullable_time(r[11])},
                                 {"updated_at", nullable_time(r[12])}};
        return std::optional<SessionView>{std::move(view)};
    });
}

boost::asio::awaitable<result<std::optional<ExecutionView>>> SessionQueries::get_execution(
    const ThreadKey& key, const std::string& execution_id) {
    return pool_.run<std::optional<ExecutionView>>(
        [key = key.str(), execution_id](pqxx::connection& c) {
            const auto rows = exec(c, "get_execution",
                                   "select execution_id, status from session_executions where thread_key = $1 and "
                                   "execution_id = $2",
                                   key, execution_id);
            if (rows.empty()) return std::optional<ExecutionView>{};
            return std::optional<ExecutionView>{ExecutionView{rows[0][0].c_str(), rows[0][1].c_str()}};
        });
}

boost::asio::awaitable<result<std::optional<ExecutionView>>> SessionQueries::active_execution(const ThreadKey& key) {
    return pool_.run<std::optional<ExecutionView>>([key = key.str()](pqxx::connection& c) {
        const auto rows = exec(c, "active_execution",
                               "select execution_id, status from session_executions where thread_key = $1 and "
                               "status in ('queued', 'running') order by (status = 'running') desc, event_id limit 1",
                               key);
        if (rows.empty()) return std::optional<ExecutionView>{};
        return std::optional<ExecutionView>{ExecutionView{rows[0][0].c_str(), rows[0][1].c_str()}};
    });
}

boost::asio::awaitable<result<bool>> SessionQueries::wait_projected(const ThreadKey& key, const EventUuid& uuid,
                                                                    EventId id, std::chrono::milliseconds timeout) {
    const std::string key_text = key.str();
    auto watch = hub_.watch(key_text);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // A projector in this process publishes each commit to the hub: answer from it without asking Postgres, and
    // wait for its publish first. Postgres answers when the hub cannot (another process projects the thread,
    // or the publish takes longer than hub_first_wait).
    if (hub_.projected(key_text) >= id) co_return true;
    if (hub_.publishing()) {
        const auto until = std::min(deadline, std::chrono::steady_clock::now() + hub_first_wait);
        const EventId before(id.value - 1);
        co_await watch->wait_beyond(before, until);
        if (watch->latest() >= id || hub_.projected(key_text) >= id) co_return true;
    }
    for (;;) {
        std::function<bool(pqxx::connection&)> probe = [key = key.str(), uuid = uuid.canonical(), id](pqxx::connection& c) {
            const auto rows = exec(c, "event_projected",
                                   "select exists (select 1 from session_events where event_uuid = $1::uuid) or "
                                   "coalesce((select last_event_id from session_threads where thread_key = $2), 0) >= $3",
                                   uuid, key, id.value);
            return rows[0][0].as<bool>();
        };
        auto found = co_await pool_.run<bool>(std::move(probe));
        if (!found) co_return result<bool>(boost::system::in_place_error, found.error());
        if (*found || watch->latest() >= id) co_return true;
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) co_return false;
        co_await watch->wait_beyond(EventId(id.value - 1), std::min(deadline, now + recheck_interval));
        if (watch->latest() >= id) co_return true;
    }
}

boost::asio::awaitable<result<std::vector<StoredEvent>>> SessionQueries::read_after(
    const ThreadKey& key, EventId after, std::optional<std::string> execution_id, std::size_t limit) {
    return pool_.run<std::vector<StoredEvent>>(
        [key = key.str(), after, execution_id = std::move(execution_id), limit](pqxx::connection& c) {
            const auto rows =
                execution_id
                    ? exec(c, "read_after_execution",
                           "select event_id, seq, event_type, data, execution_id, "
                           "(extract(epoch from created_at) * 1000000)::bigint from session_events "
                           "where thread_key = $1 and event_id > $2 and execution_id = $3 order by event_id limit $4",
                           key, after.value, *execution_id, static_cast<long long>(limit))
                    : exec(c, "read_after",
                           "select event_id, seq, event_type, data, execution_id, "
                           "(extract(epoch from created_at) * 1000000)::bigint from session_events "
                           "where thread_key = $1 and event_id > $2 order by event_id limit $3",
                           key, after.value, static_cast<long long>(limit));
            std::vector<StoredEvent> out;
            out.reserve(rows.size());
            for (const auto& r : rows) {
                out.push_back(StoredEvent{EventId(r[0].as<std::int64_t>()), EventSeq(r[1].as<std::int64_t>()),
                                          r[2].c_str(), std::string(r[3].c_str(), r[3].size()),
                                          r[4].is_null() ? std::nullopt : std::optional<std::string>(r[4].c_str()),
                                          r[5].as<std::int64_t>()});
            }
            return out;
        });
}

boost::asio::awaitable<result<CursorPosition>> SessionQueries::cursor_position(const ThreadKey& key, EventId cursor) {
    return pool_.run<CursorPosition>([key = key.str(), cursor](pqxx::connection& c) {
        const auto rows = exec(c, "cursor_position",
                               "select (select thread_key from session_events where event_id = $2), p.seq, p.event_id "
                               "from (select 1) one left join lateral (select seq, event_id from session_events "
                               "where thread_key = $1 and event_id <= $2 order by event_id desc limit 1) p on true",
                               key, cursor.value);
        CursorPosition out;
        const auto& r = rows[0];
        if (!r[0].is_null()) out.owner = r[0].c_str();
        if (!r[1].is_null())
            out.at_or_before = ThreadPoint{EventSeq(r[1].as<std::int64_t>()), EventId(r[2].as<std::int64_t>())};
        return out;
    });
}

boost::asio::awaitable<result<ThreadPoint>> SessionQueries::thread_head(const ThreadKey& key) {
    return pool_.run<ThreadPoint>([key = key.str()](pqxx::connection& c) {
        const auto rows = exec(c, "thread_head",
                               "select last_seq, last_event_id from session_threads where thread_key = $1", key);
        if (rows.empty()) return ThreadPoint{};
        return ThreadPoint{EventSeq(rows[0][0].as<std::int64_t>()), EventId(rows[0][1].as<std::int64_t>())};
    });
}

boost::asio::awaitable<result<std::vector<std::pair<std::string, EventId>>>> SessionQueries::thread_heads(
    std::vector<std::string> keys) {
    using Heads = std::vector<std::pair<std::string, EventId>>;
    return pool_.run<Heads>([keys = std::move(keys)](pqxx::connection& c) {
        json::array list;
        for (const auto& k : keys) list.emplace_back(k);
        const auto rows = exec(c, "thread_heads",
                               "select thread_key, last_event_id from session_threads where thread_key in "
                               "(select jsonb_array_elements_text($1::jsonb))",
                               json::serialize(list));
        Heads out;
        out.reserve(rows.size());
        for (const auto& r : rows) out.emplace_back(r[0].c_str(), EventId(r[1].as<std::int64_t>()));
        return out;
    });
}

}  // namespace centaur::projections
