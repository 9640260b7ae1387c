#include <centaur/pg/drain_board.hpp>
#include <centaur/pg/pool.hpp>

#include <boost/json.hpp>
#include <pqxx/pqxx>

namespace centaur::pg {
namespace json = boost::json;

namespace {

pqxx::result exec(pqxx::transaction_base& tx, const char* name, const char* sql, auto&&... args) {
    tx.conn().prepare(name, sql);
    return tx.exec_prepared(name, std::forward<decltype(args)>(args)...);
}

std::vector<std::string> string_list(const char* text) {
    std::vector<std::string> out;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_array()) return out;
    for (const auto& item : v.as_array())
        if (item.is_string()) out.emplace_back(item.as_string());
    return out;
}

std::vector<DrainFailure> failure_list(const char* text) {
    std::vector<DrainFailure> out;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_array()) return out;
    for (const auto& item : v.as_array()) {
        const auto* o = item.if_object();
        if (!o) continue;
        const auto* id = o->if_contains("sandbox_id");
        const auto* error = o->if_contains("error");
        out.push_back({id && id->is_string() ? std::string(id->as_string()) : std::string(),
                       error && error->is_string() ? std::string(error->as_string()) : std::string()});
    }
    return out;
}

}  // namespace

PostgresDrainBoard::PostgresDrainBoard(Pool& pool, std::chrono::milliseconds liveness)
    : pool_(pool), liveness_(liveness) {}

boost::asio::awaitable<result<DrainTicket>> PostgresDrainBoard::request() {
    return pool_.run<DrainTicket>([liveness_ms = liveness_.count()](pqxx::connection& c) {
        pqxx::work tx(c);
        DrainTicket ticket;
        ticket.drain_id = exec(tx, "drain_insert", "insert into sandbox_drains default values returning drain_id")[0][0]
                              .as<std::int64_t>();
        for (const auto& row : exec(tx, "drain_live_members",
                                    "select member from processor_members "
                                    "where seen_at > now() - make_interval(secs => $1::double precision / 1000) "
                                    "order by member",
                                    liveness_ms))
            ticket.members.emplace_back(row[0].c_str());
        tx.commit();
        return ticket;
    });
}

boost::asio::awaitable<result<std::map<std::string, DrainReport>>> PostgresDrainBoard::reports(std::int64_t drain_id) {
    return pool_.run<std::map<std::string, DrainReport>>([drain_id](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        std::map<std::string, DrainReport> out;
        for (const auto& row : exec(tx, "drain_reports",
                                    "select member, stopped::text, failed::text from sandbox_drain_reports "
                                    "where drain_id = $1",
                                    drain_id))
            out[row[0].c_str()] = DrainReport{string_list(row[1].c_str()), failure_list(row[2].c_str())};
        return out;
    });
}

boost::asio::awaitable<result<std::int64_t>> PostgresDrainBoard::latest() {
    return pool_.run<std::int64_t>([](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        return exec(tx, "drain_latest", "select coalesce(max(drain_id), 0) from sandbox_drains")[0][0]
            .as<std::int64_t>();
    });
}

boost::asio::awaitable<result<std::vector<std::int64_t>>> PostgresDrainBoard::heartbeat(std::string member,
                                                                                         std::int64_t baseline) {
    return pool_.run<std::vector<std::int64_t>>([member = std::move(member), baseline](pqxx::connection& c) {
        pqxx::work tx(c);
        exec(tx, "drain_heartbeat",
             "insert into processor_members (member, seen_at) values ($1, now()) "
             "on conflict (member) do update set seen_at = excluded.seen_at",
             member);
        // Not "id > last seen": a drain whose id was taken before another's may commit after it.
        std::vector<std::int64_t> pending;
        for (const auto& row : exec(tx, "drain_pending",
                                    "select d.drain_id from sandbox_drains d where d.drain_id > $2 and not exists "
                                    "(select 1 from sandbox_drain_reports r where r.drain_id = d.drain_id "
                                    "and r.member = $1) order by d.drain_id",
                                    member, baseline))
            pending.push_back(row[0].as<std::int64_t>());
        tx.commit();
        return pending;
    });
}

boost::asio::awaitable<result<bool>> PostgresDrainBoard::report(std::int64_t drain_id, std::string member,
                                                                DrainReport report) {
    json::array stopped;
    for (const auto& id : report.stopped) stopped.emplace_back(id);
    json::array failed;
    for (const auto& f : report.failed) failed.push_back(json::object{{"sandbox_id", f.sandbox_id}, {"error", f.error}});
    return pool_.run<bool>([drain_id, member = std::move(member), stopped = json::serialize(stopped),
                            failed = json::serialize(failed)](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        return exec(tx, "drain_report",
             "insert into sandbox_drain_reports (drain_id, member, stopped, failed) "
             "values ($1, $2, $3::jsonb, $4::jsonb) on conflict do nothing",
             drain_id, member, stopped, failed)
                   .affected_rows() == 1;
    });
}

boost::asio::awaitable<result<bool>> PostgresDrainBoard::leave(std::string member) {
    return pool_.run<bool>([member = std::move(member)](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        return exec(tx, "drain_leave", "delete from processor_members where member = $1", member).affected_rows() == 1;
    });
}

}  // namespace centaur::pg
