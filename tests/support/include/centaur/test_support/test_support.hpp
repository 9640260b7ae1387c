#pragma once

// Test-support library for end-to-end and cross-process tests: real Postgres databases, child
// processes, a tiny HTTP client and the api-server under test. Link centaur::test_support.

#include <centaur/test_support/child_process.hpp>
#include <centaur/test_support/http_client.hpp>
#include <centaur/test_support/paths.hpp>
#include <centaur/test_support/server_process.hpp>
#include <centaur/test_support/test_database.hpp>
#include <centaur/test_support/tls_terminator.hpp>
