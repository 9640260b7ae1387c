#pragma once

#include <string>

namespace centaur::test_support {

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, released).
/// Another process may take it before the caller binds it: use it at once.
int free_tcp_port();

/// Absolute path of an executable we build, e.g. bin_path("centaur-api-server").
/// Directory: env CENTAUR_BIN_DIR (set by centaur_test), else `<dir of this test binary>/../bin`.
/// Throws std::runtime_error when the file does not exist, naming the path and `make build`.
std::string bin_path(const std::string& name);

/// `<source root>/rel`: env CENTAUR_SOURCE_DIR, else the source root this library was built from.
std::string source_path(const std::string& rel);

/// Value of env `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, const std::string& fallback);

}  // namespace centaur::test_support
