#include <centaur/pg/migrate.hpp>
#include <centaur/schemas/migrations.hpp>

#include <pqxx/pqxx>
#include <pqxx/transaction>
#include <spdlog/spdlog.h>

namespace centaur::pg {
namespace {
constexpr long long migration_lock_key = 0x63656e7461757201LL;  // "centaur\x01"
}

int latest_migration_version() {
    int latest = 0;
    for (const auto& m : migrations()) latest = std::max(latest, m.version);
    return latest;
}

int applied_migration_version(pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    auto exists = tx.exec("select to_regclass('public.schema_migrations') is not null");
    if (!exists[0][0].as<bool>()) return 0;
    return tx.exec("select coalesce(max(version), 0) from schema_migrations")[0][0].as<int>();
}

int run_migrations(pqxx::connection& conn) {
    {
        pqxx::nontransaction tx(conn);
        tx.exec("create table if not exists schema_migrations (version integer primary key, name text not null, "
                "applied_at timestamptz not null default now())");
        tx.exec("select pg_advisory_lock(" + std::to_string(migration_lock_key) + ")");
    }
    int ran = 0;
    try {
        const int applied = applied_migration_version(conn);
        for (const auto& m : migrations()) {
            if (m.version <= applied) continue;
            pqxx::work tx(conn);
            tx.exec(std::string(m.sql));
            tx.exec("insert into schema_migrations (version, name) values (" + std::to_string(m.version) + ", " +
                    tx.quote(std::string(m.name)) + ")");
            tx.commit();
            spdlog::info("migration {} applied", m.name);
            ++ran;
        }
    } catch (...) {
        pqxx::nontransaction tx(conn);
        tx.exec("select pg_advisory_unlock(" + std::to_string(migration_lock_key) + ")");
        throw;
    }
    pqxx::nontransaction tx(conn);
    tx.exec("select pg_advisory_unlock(" + std::to_string(migration_lock_key) + ")");
    return ran;
}

}  // namespace centaur::pg
