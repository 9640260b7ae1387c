#include "rebuild_projections.hpp"

#include <centaur/pg/migrate.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/projections/projector.hpp>

#include <boost/asio/io_context.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <set>

namespace centaur::apps {
using namespace std::chrono_literals;

namespace {

constexpr const char* rebuild_schema = "centaur_rebuild";
constexpr const char* projection_tables[] = {"session_threads",  "session_events",     "sessions",
                                             "session_messages", "session_executions", "projection_checkpoints"};
constexpr auto catch_up_bound = std::chrono::hours(1);

/// `url` with `search_path` set for every session (libpq URL or key=value conninfo).
std::string with_search_path(const std::string& url, const std::string& path) {
    if (url.find("://") == std::string::npos) return url + " options='-c search_path=" + path + "'";
    std::string encoded;
    for (char c : path) encoded += c == ',' ? std::string("%2C") : std::string(1, c);
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-c%20search_path%3D" + encoded;
}

}  // namespace

int rebuild_projections(const LogSelection& selection, const std::string& database_url, std::int32_t partitions) {
    try {
        auto conn = pg::connect(database_url);
        if (pg::applied_migration_version(*conn) < pg::latest_migration_version())
            throw std::runtime_error("the database schema is not migrated (start the server once with RUN_MIGRATIONS=true)");
        {
            pqxx::work tx(*conn);
            tx.exec(std::string("drop schema if exists ") + rebuild_schema + " cascade");
            tx.exec(std::string("create schema ") + rebuild_schema);
            for (const char* t : projection_tables)
                tx.exec(std::string("create table ") + rebuild_schema + "." + t + " (like public." + t + " including all)");
            tx.commit();
        }

        boost::asio::io_context io;
        SelectedLog log(selection, database_url, partitions, io.get_executor());
        log.start_kafka();
        log.start_embedded();
        const auto total = log.get().partitions();

        std::mutex mutex;
        std::condition_variable cv;
        std::set<std::int32_t> caught_up;
        projections::ProjectorOptions options;
        options.url = with_search_path(database_url, std::string(rebuild_schema) + ",public");
        options.group = "";  // a standalone reader: every partition from its start
        options.on_caught_up = [&](std::int32_t p) {
            std::lock_guard lock(mutex);
            caught_up.insert(p);
            cv.notify_all();
        };
        {
            projections::Projector projector(options, log.get(), nullptr, nullptr);
            projector.start();
            std::unique_lock lock(mutex);
            if (!cv.wait_for(lock, catch_up_bound, [&] { return static_cast<std::int32_t>(caught_up.size()) >= total; }))
                throw std::runtime_error("the rebuild did not catch up with the log within an hour");
            lock.unlock();
            projector.stop();
        }

        std::int64_t epoch = 0;
        long long events = 0;
        {
            pqxx::work tx(*conn);
            epoch = tx.exec("update projection_epoch set epoch = epoch + 1 where id returning epoch")[0][0].as<std::int64_t>();
            const std::string retired = "centaur_retired_" + std::to_string(epoch);
            tx.exec("create schema " + retired);
            for (const char* t : projection_tables) tx.exec(std::string("alter table public.") + t + " set schema " + retired);
            for (const char* t : projection_tables)
                tx.exec(std::string("alter table ") + rebuild_schema + "." + t + " set schema public");
            tx.exec(std::string("drop schema ") + rebuild_schema);
            events = tx.exec("select count(*) from public.session_events")[0][0].as<long long>();
            tx.commit();
        }
        log.stop();
        std::cout << "rebuilt projections from the log: " << events << " events, projection epoch " << epoch
                  << "; previous tables kept in schema centaur_retired_" << epoch << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "centaur-api-server: rebuild-projections: " << e.what() << std::endl;
        return 1;
    }
}

}  // namespace centaur::apps
