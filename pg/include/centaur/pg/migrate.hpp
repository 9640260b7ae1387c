#pragma once
// Applies the compiled-in SQL migrations (schemas/sql) in version order, each in its own transaction, under an
// advisory lock so concurrent starters do not race.

#include <pqxx/connection>

#include <string>

namespace centaur::pg {

/// Applies every migration newer than the database's; returns how many ran. Throws on SQL failure.
int run_migrations(pqxx::connection& conn);
/// Highest applied version (0 when none), and the newest version this binary knows.
int applied_migration_version(pqxx::connection& conn);
int latest_migration_version();

}  // namespace centaur::pg
