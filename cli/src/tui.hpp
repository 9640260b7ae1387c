#pragma once

#include "options.hpp"

#include <set>
#include <string>

namespace centaur::cli {

/// Runs `--tui` on the process's terminal (stdin and stdout must be a tty) until the user quits, a signal
/// (SIGTERM, SIGHUP, SIGINT) arrives, or an exit condition of `options` matches; returns the exit code.
/// The session exists already; `own_executions` are the executions this process started (for
/// --exit-on-terminal). The terminal is restored on every way out, including a crash (SIGSEGV, SIGABRT,
/// SIGBUS, SIGFPE, SIGILL and std::terminate restore it before the default action). Call from the main
/// thread, once.
int run_tui(const Options& options, const std::string& thread_key, std::set<std::string> own_executions);

}  // namespace centaur::cli
