// centaur-api-server: the only place that picks adapters and wires the roles (ingest, api, processor, projector) of
// one process. Start-up: serve /healthz at once; connect Postgres, migrate, start the log, projector and
// processor on a start-up thread; /readyz turns 200 when all are ready. SIGTERM/SIGINT drain and exit 0.

#include <centaur/core/config.hpp>
#include <centaur/core/logging.hpp>
#include <centaur/core/readiness.hpp>
#include <centaur/http/probe.hpp>
#include <centaur/http/server.hpp>
#include <centaur/ingest/auth.hpp>
#include <centaur/ingest/drain_route.hpp>
#include <centaur/ingest/session_routes.hpp>
#include <centaur/ingest/slack_webhook.hpp>
#include <centaur/ingest/stream_tokens.hpp>
#include "log_selection.hpp"
#include "readiness_checks.hpp"
#include "rebuild_projections.hpp"
#include <centaur/log/metered_event_log.hpp>
#include <centaur/log/postgres_event_log.hpp>
#include <centaur/pg/drain_board.hpp>
#include <centaur/pg/migrate.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/pg/pool_probe.hpp>
#include <centaur/processors/drain_watcher.hpp>
#include <centaur/processors/session_processor.hpp>
#include <centaur/projections/events_route.hpp>
#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/stream_probe.hpp>
#include <centaur/projections/projector.hpp>
#include <centaur/projections/projector_probe.hpp>
#include <centaur/projections/session_queries.hpp>
#include <centaur/sandbox/local_backend.hpp>
#include <centaur/sandbox/remote_backend.hpp>
#include <centaur/schemas/payloads.hpp>
#include <centaur/slack/reply_streamer.hpp>
#include <centaur/slack/metered_slack_client.hpp>
#include <centaur/slack/web_api_client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace asio = boost::asio;
using namespace centaur;
using namespace std::chrono_literals;

namespace {

constexpr auto shutdown_bound = 10s;
constexpr auto drain_member_liveness = 10s;  // a processor member missing heartbeats this long is not waited for
constexpr auto summary = "centaur-api-server: session API, event log, processor and projections of Centaur.";
constexpr auto endpoints_help =
    "\nEndpoints of every role (CENTAUR_ROLES), on BIND_ADDR:\n"
    "  GET /healthz   liveness: 200 while the process serves\n"
    "  GET /readyz    readiness: 200 once every part of this process is ready, else 503 naming what is not\n"
    "  GET /metrics   Prometheus text format: http_server_*, centaur_http_*, centaur_api_*, centaur_ingest_*,\n"
    "                 centaur_log_*, centaur_kafka_*, centaur_projector_*, centaur_session_*, centaur_processor_*,\n"
    "                 centaur_sandbox_*, centaur_sse_*, centaur_slack_*, centaur_pg_pool_* (the README's Metrics\n"
    "                 table lists every series, its type, labels and meaning)\n";

/// Slack (upstream Slackbot v2's names, plus SLACK_API_BASE_URL as an alias of SLACK_API_URL).
std::vector<OptionSpec> slack_option_specs() {
    return {
        {"slack-signing-secret", "SLACK_SIGNING_SECRET", "",
         "Slack app signing secret; enables POST /api/webhooks/slack (ingest role)", false, true},
        {"slack-bot-token", "SLACK_BOT_TOKEN", "",
         "Slack bot token (xoxb-...); enables replies in Slack threads (processor role)", false, true},
        {"slack-api-url", "SLACK_API_URL", "https://slack.com/api/",
         "Slack Web API base URL (http:// allowed, for a fake Slack; SLACK_API_BASE_URL is an alias)"},
        {"slack-bot-user-id", "SLACK_BOT_USER_ID", "",
         "the bot's Slack user id (default: from each event's authorizations)"},
        {"slack-default-harness", "SLACKBOTV2_DEFAULT_HARNESS", "codex", "harness of sessions Slack creates"},
        {"session-idle-timeout-ms", "SESSION_IDLE_TIMEOUT_MS", "10800000", "idle_timeout_ms of executions Slack starts"},
    };
}

std::vector<OptionSpec> option_specs() {
    std::vector<OptionSpec> specs = {
        {"database-url", "DATABASE_URL", "", "Postgres URL (projections, and the embedded event log)", false, true},
        {"bind-addr", "BIND_ADDR", "127.0.0.1:8080", "HTTP listen address host:port"},
        {"run-migrations", "RUN_MIGRATIONS", "false", "apply SQL migrations at start", true},
        {"session-sandbox-backend", "SESSION_SANDBOX_BACKEND", "local",
         "sandbox backend: local, or remote (centaur-sandbox-runner serve processes)"},
        {"session-sandbox-runner-urls", "SESSION_SANDBOX_RUNNER_URLS", "",
         "remote backend: comma-separated runner URLs http://host:port (placement by load)"},
        {"session-sandbox-runner-token", "SESSION_SANDBOX_RUNNER_TOKEN", "", "remote backend: the runners' bearer token",
         false, true},
        {"session-sandbox-runner-wait-ms", "SESSION_SANDBOX_RUNNER_WAIT_MS", "15000",
         "remote backend: how long a sandbox create waits for a runner that can take it (a runner restarting)"},
        {"session-sandbox-workload", "SESSION_SANDBOX_WORKLOAD", "mock",
         "workload run in sandboxes: mock, codex-app-server"},
        {"codex-dir", "CENTAUR_CODEX_DIR", "",
         "codex-app-server: the codex vendor dir (…/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl; "
         "default: the one scripts/install-codex puts beside the binaries)"},
        {"model-upstream-url", "CENTAUR_MODEL_UPSTREAM_URL", "https://api.openai.com",
         "codex-app-server: where the egress gateway sends model requests"},
        {"model-upstream-ca-file", "CENTAUR_MODEL_UPSTREAM_CA_FILE", "",
         "CA bundle for an https model upstream (default: the system trust store)"},
        {"codex-auth-mode", "CODEX_AUTH_MODE", "api_key", "codex-app-server: api_key (the key is OPENAI_API_KEY)"},
        {"openai-api-key", "OPENAI_API_KEY", "", "codex-app-server: model API key, added by the egress gateway only",
         false, true},
        {"sandbox-allow-hosts", "CENTAUR_SANDBOX_ALLOW_HOSTS", "",
         "comma-separated host[:port] list sandboxes may reach over plain HTTP through the egress proxy"},
        {"sandbox-workspace-root", "CENTAUR_SANDBOX_WORKSPACE_ROOT", "",
         "directory for per-sandbox workspaces (default $TMPDIR/centaur-sandboxes)"},
        {"unsafe-no-isolation", "CENTAUR_SANDBOX_UNSAFE_NO_ISOLATION", "false",
         "DEV ONLY: run workloads as plain processes without bubblewrap namespaces", true},
        {"sandbox-user", "CENTAUR_SANDBOX_USER", "centaur-sandbox", "host account sandboxes run as when root"},
        {"sandbox-memory-limit-bytes", "CENTAUR_SANDBOX_MEMORY_LIMIT_BYTES", "1073741824",
         "memory per sandbox (cgroup; 0 = unbounded)"},
        {"sandbox-pids-limit", "CENTAUR_SANDBOX_PIDS_LIMIT", "512", "tasks per sandbox (cgroup; 0 = unbounded)"},
        {"sandbox-cpu-millis", "CENTAUR_SANDBOX_CPU_MILLIS", "1000", "CPU per sandbox, 1000 = one core (0 = unbounded)"},
        {"session-sandbox-max-lifetime-secs", "SESSION_SANDBOX_MAX_LIFETIME_SECS", "86400",
         "wall clock after which a sandbox is killed (0 = unbounded)"},
        {"session-sandbox-running-limit", "SESSION_SANDBOX_RUNNING_LIMIT", "64",
         "live sandboxes per host; further creates queue (0 = unbounded)"},
        {"session-sandbox-hot-idle-grace-secs", "SESSION_SANDBOX_HOT_IDLE_GRACE_SECS", "900",
         "a sandbox paused for idleness is stopped and destroyed this long after the pause (0 = never)"},
        {"session-sandbox-warm-pool-size", "SESSION_SANDBOX_WARM_POOL_SIZE", "0",
         "sandboxes started ahead of demand for the codex harness"},
        {"session-sandbox-reap-interval-secs", "SESSION_SANDBOX_REAP_INTERVAL_SECS", "60",
         "how often orphaned sandboxes of dead runners are looked for (0 = at start only)"},
        {"sandbox-drain-wait-ms", "CENTAUR_SANDBOX_DRAIN_WAIT_MS", "30000",
         "POST /api/sandboxes/drain waits this long for every live processor's report (then 202)"},
        {"max-body-bytes", "CENTAUR_MAX_BODY_BYTES", "16777216", "largest accepted request body; larger gets 413"},
        {"sse-keepalive-secs", "CENTAUR_SSE_KEEPALIVE_SECS", "15", "SSE heartbeat comment interval"},
        {"sse-client-buffer-events", "CENTAUR_SSE_CLIENT_BUFFER_EVENTS", "4096",
         "events an attached SSE client may fall behind its thread before it is cut off (it resumes)"},
        {"log-partitions", "CENTAUR_LOG_PARTITIONS", "8", "partitions of the embedded event log"},
        {"projection-wait-ms", "CENTAUR_PROJECTION_WAIT_MS", "10000", "read-your-writes wait bound for API writes"},
        {"session-execution-max-duration-ms", "SESSION_EXECUTION_MAX_DURATION_MS", "0",
         "max_duration_ms for executions that give none (0 = unbounded)"},
        {"admin-api-key", "CENTAUR_APIRS_ADMIN_API_KEY", "", "admin bearer key (all capabilities)", false, true},
        {"cors-allowed-origins", "CENTAUR_CORS_ALLOWED_ORIGINS", "",
         "comma-separated browser origins allowed to call the API (* = any); empty = no CORS"},
        {"stream-token-secret", "CENTAUR_STREAM_TOKEN_SECRET", "",
         "HMAC secret of ?token= stream tokens, shared by API processes (default: random per process)", false, true},
        {"stream-token-ttl-secs", "CENTAUR_STREAM_TOKEN_TTL_SECS", "600", "lifetime of minted ?token= stream tokens"},
        {"jwt-signing-secret", "CENTAUR_JWT_SIGNING_SECRET", "",
         "HS256 secret of bearer JWTs (Console and Principal callers); empty = JWTs are not accepted", false, true},
        {"api-jwt-audience", "CENTAUR_API_JWT_AUDIENCE", "centaur-api", "required aud of bearer JWTs"},
        {"api-jwt-issuer", "CENTAUR_API_JWT_ISSUER", "centaur-console", "required iss of bearer JWTs"},
        {"rate-limit-events-per-sec", "CENTAUR_RATE_LIMIT_EVENTS_PER_SEC", "0",
         "write requests per second per caller (token bucket; 0 = unlimited)"},
        {"rate-limit-burst", "CENTAUR_RATE_LIMIT_BURST", "0",
         "bucket size of the write limit (0 = max(1, events per second))"},
        {"max-streams-per-key", "CENTAUR_MAX_STREAMS_PER_KEY", "0", "attached SSE clients per caller (0 = unlimited)"},
        {"log-level", "LOG_LEVEL", "info",
         "trace, debug, info, warn, error, off (unset: RUST_LOG's level for centaur targets, else info)"},
        {"log-format", "LOG_FORMAT", "text", "text, or json: one JSON object per line (upstream api-rs's shape)"},
        {"service-name", "OTEL_SERVICE_NAME", "centaur-api-server", "the \"service\" field of JSON log lines"},
    };
    for (auto& spec : apps::log_option_specs()) specs.push_back(std::move(spec));
    for (auto& spec : slack_option_specs()) specs.push_back(std::move(spec));
    for (const auto& spec : ingest::ingress_key_specs()) {
        std::string flag = spec.env_name;
        for (auto& ch : flag) ch = ch == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        specs.push_back({flag, spec.env_name, "", "ingress bearer key for thread keys " + spec.prefixes.front() + "…",
                         false, true});
    }
    return specs;
}

[[noreturn]] void die(const std::string& line) {
    if (logging::json_enabled()) {
        spdlog::critical("centaur-api-server: {}", line);
        spdlog::shutdown();
    } else {
        std::cerr << "centaur-api-server: " << logging::redact(line) << std::endl;
    }
    std::exit(2);
}

/// LOG_FORMAT, LOG_LEVEL (else RUST_LOG, else info) and OTEL_SERVICE_NAME; every secret option's value, the
/// DATABASE_URL password and credential-like CENTAUR_KAFKA_CONFIG_* values are redacted from every line.
void setup_logging(const Config& config, const std::vector<OptionSpec>& specs) {
    for (const auto& spec : specs)
        if (spec.secret && spec.flag != "database-url") logging::add_secret(config.get(spec.flag));
    logging::add_database_url_secrets(config.get("database-url"));
    for (char** env = environ; *env; ++env) {
        const std::string_view entry(*env);
        const auto eq = entry.find('=');
        const auto name = entry.substr(0, eq);
        if (eq == std::string_view::npos || name.rfind("CENTAUR_KAFKA_CONFIG_", 0) != 0) continue;
        for (const char* word : {"PASSWORD", "SECRET", "KEY", "TOKEN"})
            if (name.find(word) != std::string_view::npos) logging::add_secret(std::string(entry.substr(eq + 1)));
    }
    logging::Settings settings;
    const auto format = logging::parse_format(config.get("log-format"));
    if (!format) die(config.source_name("log-format") + " must be text or json, got '" + config.get("log-format") + "'");
    settings.format = *format;
    settings.service = config.get("service-name");
    std::string error;
    if (config.provided("log-level")) {
        const auto level = logging::parse_level(config.get("log-level"));
        if (!level) die(config.source_name("log-level") + ": unknown log level '" + config.get("log-level") + "'");
        settings.level = *level;
    } else if (const char* filter = std::getenv("RUST_LOG"); filter && *filter) {
        const auto level = logging::level_from_filter(filter, &error);
        if (!level && !error.empty()) die("RUST_LOG: " + error);
        if (level) settings.level = *level;
    }
    logging::configure(settings);
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

/// Environment passed into every sandbox, built from scratch: a system PATH and the mock workload's knobs.
std::map<std::string, std::string> sandbox_base_env() {
    std::map<std::string, std::string> env{{"PATH", "/usr/local/bin:/usr/bin:/bin"}};
    for (const char* name : {"CENTAUR_MOCK_TURNS", "CENTAUR_MOCK_DELAY_MS", "CENTAUR_MOCK_MODE", "CENTAUR_MOCK_FLOOD_LINES"})
        if (const char* v = std::getenv(name)) env[name] = v;
    return env;
}

/// SESSION_SANDBOX_* and CENTAUR_SANDBOX_* settings; exits with one line naming a bad variable.
sandbox::LocalBackendOptions sandbox_options(const Config& config, const std::filesystem::path& exe_dir,
                                             const std::filesystem::path& workspace_root) {
    std::string error;
    auto get = [&](const char* flag, std::int64_t max) {
        auto v = config.get_int(flag, 0, max, &error);
        if (!v) die(error);
        return *v;
    };
    const bool codex = config.get("session-sandbox-workload") == "codex-app-server";
    const auto workload = exe_dir / (codex ? "centaur-codex-harness" : "centaur-mock-agent");
    if (!std::filesystem::exists(workload)) die("workload binary not found at " + workload.string());
    sandbox::LocalBackendOptions o{{workload.string()}, sandbox_base_env(), workspace_root};
    auto unsafe = config.get_bool("unsafe-no-isolation", &error);
    if (!unsafe) die(error);
    // The mock workload is our own deterministic binary: run isolated when the host allows, else plainly
    // (loudly logged). Untrusted workloads get IsolationMode::required.
    o.isolation.mode = *unsafe ? sandbox::IsolationMode::disabled : sandbox::IsolationMode::preferred;
    o.isolation.sandbox_user = config.get("sandbox-user");
    o.isolation.limits.memory_bytes = static_cast<std::uint64_t>(get("sandbox-memory-limit-bytes", std::int64_t{1} << 50));
    o.isolation.limits.pids = static_cast<std::uint32_t>(get("sandbox-pids-limit", 1 << 22));
    o.isolation.limits.cpu_millis = static_cast<std::uint32_t>(get("sandbox-cpu-millis", 1 << 20));
    o.isolation.limits.max_lifetime = std::chrono::seconds(get("session-sandbox-max-lifetime-secs", 1LL << 32));
    o.running_limit = static_cast<std::uint32_t>(get("session-sandbox-running-limit", 1 << 20));
    if (o.running_limit > 0) o.isolation.max_sandboxes = o.running_limit;
    o.warm_pool_size = static_cast<std::uint32_t>(get("session-sandbox-warm-pool-size", 1024));
    o.reap_interval = std::chrono::seconds(get("session-sandbox-reap-interval-secs", 1LL << 32));
    if (*unsafe) spdlog::warn("!!! --unsafe-no-isolation: sandboxes are PLAIN PROCESSES (dev only) !!!");
    o.egress.allowed_hosts = config.get_list("sandbox-allow-hosts");
    o.egress.enabled = !o.egress.allowed_hosts.empty();
    o.forwarder = exe_dir / "centaur-egress-forwarder";
    if (codex) {
        // Untrusted: isolation required. The real key stays in this process (the egress gateway adds it).
        if (!*unsafe) o.isolation.mode = sandbox::IsolationMode::required;
        std::filesystem::path vendor = config.get("codex-dir");
        if (vendor.empty())
            vendor = exe_dir.parent_path() / "codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl";
        if (!std::filesystem::exists(vendor / "bin/codex"))
            die("CENTAUR_CODEX_DIR: no bin/codex in " + vendor.string() + " (scripts/install-codex installs it)");
        if (config.get("codex-auth-mode") != "api_key")
            die("CODEX_AUTH_MODE='" + config.get("codex-auth-mode") + "' is not supported (supported: api_key)");
        const auto& upstream = config.get("model-upstream-url");
        if (upstream.rfind("http://", 0) != 0 && upstream.rfind("https://", 0) != 0)
            die("CENTAUR_MODEL_UPSTREAM_URL='" + upstream + "' must be an http:// or https:// URL");
        o.egress.upstream_ca_file = config.get("model-upstream-ca-file");
        o.ro_binds.emplace_back(vendor, "/opt/codex");
        o.base_env["HOME"] = "/workspace";
        o.base_env["TMPDIR"] = "/tmp";
        o.base_env["CODEX_HOME"] = "/workspace/.codex";
        o.base_env["CENTAUR_CODEX_BIN"] = "/opt/codex/bin/codex";
        o.egress.enabled = true;
        o.egress.model_upstream = upstream;
        o.egress.model_key = config.get("openai-api-key");
        if (o.egress.model_key.empty()) spdlog::warn("OPENAI_API_KEY is empty: model requests go out without a key");
    }
    return o;
}

/// SESSION_SANDBOX_RUNNER_URLS and _TOKEN of the remote backend; exits with one line when unusable.
sandbox::RemoteBackendOptions remote_sandbox_options(const Config& config) {
    sandbox::RemoteBackendOptions o;
    o.runner_urls = config.get_list("session-sandbox-runner-urls");
    o.token = config.get("session-sandbox-runner-token");
    if (o.runner_urls.empty()) die("SESSION_SANDBOX_RUNNER_URLS is required with SESSION_SANDBOX_BACKEND=remote");
    std::string error;
    const auto wait = config.get_int("session-sandbox-runner-wait-ms", 0, 3'600'000, &error);
    if (!wait) die(error);
    o.placement_wait = std::chrono::milliseconds(*wait);
    return o;
}

processors::ProcessorOptions processor_options(const Config& config) {
    std::string error;
    auto grace = config.get_int("session-sandbox-hot-idle-grace-secs", 0, 1LL << 32, &error);
    if (!grace) die(error);
    processors::ProcessorOptions o;
    o.hot_idle_grace = std::chrono::seconds(*grace);
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    // `centaur-api-server rebuild-projections [flags]`: the same configuration, one command, then exit.
    const bool rebuild = argc > 1 && std::string_view(argv[1]) == "rebuild-projections";
    if (rebuild) {
        argv[1] = argv[0];
        ++argv;
        --argc;
    }
    std::string error;
    auto config = Config::parse(option_specs(), argc, argv, &error);
    if (!config) die(error);
    if (config->help_requested()) {
        std::cout << config->help_text("centaur-api-server", summary) << endpoints_help;
        return 0;
    }
    setup_logging(*config, option_specs());

    // ---- configuration, validated before anything starts --------------------------------------------------
    const std::string database_url = config->get("database-url");
    if (database_url.empty()) die("DATABASE_URL is required (make run sets one up)");
    const auto& bind = config->get("bind-addr");
    const auto colon = bind.rfind(':');
    if (colon == std::string::npos) die("BIND_ADDR must be host:port, got '" + bind + "'");
    http::ServerOptions http_options;
    http_options.bind_address = bind.substr(0, colon);
    {
        const auto port = std::atoi(bind.substr(colon + 1).c_str());
        if (port < 0 || port > 65535 || bind.substr(colon + 1).empty()) die("BIND_ADDR has a bad port: '" + bind + "'");
        http_options.port = static_cast<std::uint16_t>(port);
    }
    boost::system::error_code address_error;
    const auto address = asio::ip::make_address(http_options.bind_address == "localhost" ? "127.0.0.1"
                                                                                          : http_options.bind_address,
                                                address_error);
    if (address_error) die("BIND_ADDR has a bad host: '" + bind + "'");
    auto max_body = config->get_int("max-body-bytes", 1, std::int64_t{1} << 40, &error);
    auto keepalive = config->get_int("sse-keepalive-secs", 1, 3600, &error);
    auto sse_buffer = config->get_int("sse-client-buffer-events", 16, 1'000'000, &error);
    if (!sse_buffer) die(error);
    auto partitions = config->get_int("log-partitions", 1, 1024, &error);
    auto projection_wait = config->get_int("projection-wait-ms", 1, 600'000, &error);
    auto default_max = config->get_int("session-execution-max-duration-ms", 0, std::int64_t{1} << 40, &error);
    auto run_migrations = config->get_bool("run-migrations", &error);
    auto drain_wait = config->get_int("sandbox-drain-wait-ms", 0, 3'600'000, &error);
    if (!drain_wait) die(error);
    if (!max_body || !keepalive || !partitions || !projection_wait || !default_max || !run_migrations) die(error);
    auto selection = apps::select_log(*config, static_cast<std::int32_t>(*partitions), &error);
    if (!selection) die(error);
    const apps::Roles roles = selection->roles;
    if (rebuild) return apps::rebuild_projections(*selection, database_url, static_cast<std::int32_t>(*partitions));
    http_options.max_body_bytes = static_cast<std::size_t>(*max_body);
    http_options.sse_keepalive = std::chrono::seconds(*keepalive);

    const bool remote_runners = config->get("session-sandbox-backend") == "remote";
    if (config->get("session-sandbox-backend") != "local" && !remote_runners) {
        die("SESSION_SANDBOX_BACKEND='" + config->get("session-sandbox-backend") +
            "' is not available (supported: local, remote; agent-k8s is designed, not built)");
    }
    if (config->get("session-sandbox-workload") != "mock" && config->get("session-sandbox-workload") != "codex-app-server") {
        die("SESSION_SANDBOX_WORKLOAD='" + config->get("session-sandbox-workload") +
            "' is not available (supported: mock, codex-app-server)");
    }

    ingest::SlackWebhookOptions slack_options;
    slack_options.signing_secret = config->get("slack-signing-secret");
    slack_options.bot_user_id = config->get("slack-bot-user-id");
    slack_options.default_harness = config->get("slack-default-harness");
    if (!is_known_harness(slack_options.default_harness))
        die("SLACKBOTV2_DEFAULT_HARNESS='" + slack_options.default_harness + "' is not a known harness");
    auto slack_idle = config->get_int("session-idle-timeout-ms", 1, std::int64_t{1} << 40, &error);
    if (!slack_idle) die(error);
    slack_options.idle_timeout_ms = static_cast<std::uint64_t>(*slack_idle);
    slack_options.max_duration_ms = static_cast<std::uint64_t>(*default_max);
    slack::WebApiOptions slack_api;
    slack_api.base_url = config->provided("slack-api-url") ? config->get("slack-api-url")
                                                           : env_or("SLACK_API_BASE_URL", config->get("slack-api-url"));
    slack_api.bot_token = config->get("slack-bot-token");
    if (std::string why; !slack::BaseUrl::parse(slack_api.base_url, &why)) die("SLACK_API_URL " + why);

    std::map<std::string, std::string> keys{{"CENTAUR_APIRS_ADMIN_API_KEY", config->get("admin-api-key")}};
    for (const auto& spec : ingest::ingress_key_specs()) {
        std::string flag = spec.env_name;
        for (auto& ch : flag) ch = ch == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        keys[spec.env_name] = config->get(flag);
    }
    auto auth = ingest::Authenticator::from_keys(keys, &error);
    if (!auth) die("duplicate API keys: " + error);
    auto token_ttl = config->get_int("stream-token-ttl-secs", 1, 86'400, &error);
    if (!token_ttl) die(error);
    const ingest::StreamTokens stream_tokens(config->get("stream-token-secret"), std::chrono::seconds(*token_ttl));
    auth->accept_stream_tokens(&stream_tokens);
    if (const auto& jwt_secret = config->get("jwt-signing-secret"); !jwt_secret.empty()) {
        ingest::JwtOptions jwt;
        jwt.secret = jwt_secret;
        jwt.audience = config->get("api-jwt-audience");
        jwt.issuer = config->get("api-jwt-issuer");
        auth->accept_jwt(std::move(jwt));
    }
    http_options.cors_allowed_origins = config->get_list("cors-allowed-origins");
    if (auth->open()) {
        if (!address.is_loopback())
            die("no API key is configured and BIND_ADDR is not loopback: set CENTAUR_APIRS_ADMIN_API_KEY");
        spdlog::warn("no API key configured: the API is open to every local caller (loopback only)");
    }

    const auto exe_dir = std::filesystem::canonical("/proc/self/exe").parent_path();
    std::filesystem::path workspace_root = config->get("sandbox-workspace-root");
    if (workspace_root.empty()) workspace_root = std::filesystem::path(env_or("TMPDIR", "/tmp")) / "centaur-sandboxes";

    // ---- wiring -------------------------------------------------------------------------------------------
    asio::io_context io;
    Readiness readiness;
    constexpr auto readiness_interval = 1s, readiness_timeout = 3s;
    apps::ReadinessChecks readiness_checks(readiness, database_url, selection->kafka, readiness_interval,
                                           readiness_timeout);
    readiness.expect("startup", "connecting to postgres, checking migrations");  // gates requests until done
    auto registry = std::make_shared<prometheus::Registry>();
    http::HttpProbe http_probe(*registry);
    ingest::AuthProbe auth_probe(*registry);
    auth->set_probe(&auth_probe);
    ingest::RateLimitOptions limits;
    for (auto [flag, out] : {std::pair{"rate-limit-events-per-sec", &limits.events_per_sec},
                             std::pair{"rate-limit-burst", &limits.burst}}) {
        const auto& text = config->get(flag);
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
        if (ec != std::errc() || end != text.data() + text.size() || !(*out >= 0) || *out > 1e9)
            die(std::string(flag) + " must be a number from 0 to 1e9, got '" + text + "'");
    }
    auto max_streams = config->get_int("max-streams-per-key", 0, 1'000'000, &error);
    if (!max_streams) die(error);
    limits.max_streams_per_caller = static_cast<std::size_t>(*max_streams);
    ingest::RateLimitProbe rate_limit_probe(*registry);
    ingest::RateLimiter rate_limiter(limits, &rate_limit_probe);
    projections::StreamProbe stream_probe(*registry);

    pg::Pool pool(database_url, 4);
    projections::ProjectionHub hub(io.get_executor());
    projections::SessionQueries queries(pool, hub);
    apps::SelectedLog selected_log(*selection, database_url, static_cast<std::int32_t>(*partitions), io.get_executor());
    try {
        selected_log.start_kafka();  // bounded wait for the brokers; the topic is created when absent
    } catch (const std::exception& e) {
        die(std::string("event log: ") + e.what());
    }
    // Every role appends through the metered log: appends by type and source, latency, duplicates.
    log::LogProbe log_probe(*registry);
    log::MeteredEventLog metered_log(selected_log.get(), log_probe);
    EventLog& event_log = metered_log;
    processors::SessionProbe session_probe(*registry);
    processors::SandboxProbe sandbox_probe(*registry);
    projections::ProjectorProbe projector_probe(*registry);
    pg::PoolProbe pool_probe(*registry);
    spdlog::info("event log: {}; roles:{}{}{}{}", selected_log.kafka() ? "kafka " + selection->kafka->brokers : "embedded",
                 roles.ingest ? " ingest" : "", roles.api ? " api" : "", roles.processor ? " processor" : "",
                 roles.projector ? " projector" : "");
    std::optional<sandbox::LocalSandboxBackend> local_sandboxes;
    std::optional<sandbox::RemoteSandboxBackend> remote_sandboxes;
    if (remote_runners) {
        try {
            remote_sandboxes.emplace(io.get_executor(), remote_sandbox_options(*config));
        } catch (const std::invalid_argument& e) {
            die(std::string("SESSION_SANDBOX_RUNNER_URLS: ") + e.what());
        }
    } else {
        local_sandboxes.emplace(io.get_executor(), sandbox_options(*config, exe_dir, workspace_root));
        local_sandboxes->start_background();
    }
    SandboxBackend& sandboxes =
        remote_sandboxes ? static_cast<SandboxBackend&>(*remote_sandboxes) : static_cast<SandboxBackend&>(*local_sandboxes);
    std::optional<projections::Projector> projector;
    projections::ProjectorOptions projector_options{database_url};
    projector_options.probe = &projector_probe;
    if (roles.projector) projector.emplace(projector_options, event_log, &hub, &readiness);
    std::optional<processors::SessionProcessor> processor;
    auto session_processor_options = processor_options(*config);
    session_processor_options.session_probe = &session_probe;
    session_processor_options.sandbox_probe = &sandbox_probe;
    if (roles.processor) processor.emplace(io, event_log, sandboxes, session_processor_options, &readiness);
    // Drains travel through Postgres: every processor process watches the board, the API records on it.
    pg::Pool drain_pool(database_url, 1);
    pg::PostgresDrainBoard drain_board(drain_pool, drain_member_liveness);
    std::optional<processors::DrainWatcher> drain_watcher;
    if (processor) drain_watcher.emplace(io, drain_board, *processor);

    std::vector<http::Route> routes = ingest::health_routes(readiness);
    for (auto& r : ingest::session_routes(event_log, queries,
                                          ingest::SessionRoutesOptions{std::chrono::milliseconds(*projection_wait),
                                                                       static_cast<std::uint64_t>(*default_max)}))
        if (r.capability == http::Capability::sessions_read ? roles.api : roles.ingest)
            routes.push_back(r.capability == http::Capability::sessions_read ? auth->scope_principal_reads(std::move(r), queries)
                             : r.method == "POST" && r.path_template == "/api/session/{thread_key}"
                                 ? auth->console_asserts_requester_principal(std::move(r))  // binds the principal
                                 : std::move(r));
    projections::EventsRouteOptions events_options;
    events_options.buffer_events = static_cast<std::size_t>(*sse_buffer);
    events_options.probe = &stream_probe;
    if (roles.api)
        routes.push_back(ingest::limit_streams(
            auth->scope_principal_reads(projections::events_route(queries, hub, events_options), queries), *auth,
            rate_limiter));
    if (roles.api) routes.push_back(auth->scope_principal_reads(ingest::stream_token_route(stream_tokens), queries));
    if (roles.api)
        routes.push_back(ingest::drain_route(drain_board, ingest::DrainRouteOptions{std::chrono::milliseconds(*drain_wait)}));
    ingest::SlackWebhookProbe slack_webhook_probe(*registry);
    slack::SlackReplyProbe slack_reply_probe(*registry);
    std::unique_ptr<slack::WebApiSlackClient> slack_client;
    slack::SlackCallProbe slack_call_probe(*registry);
    std::unique_ptr<slack::MeteredSlackClient> metered_slack_client;
    std::unique_ptr<slack::ReplyStreamer> slack_replies;
    if (roles.ingest && !slack_options.signing_secret.empty())
        routes.push_back(ingest::slack_webhook_route(event_log, queries, readiness, slack_options, &slack_webhook_probe));
    if (roles.processor && !slack_api.bot_token.empty()) {
        slack_client = std::make_unique<slack::WebApiSlackClient>(io.get_executor(), slack_api);
        metered_slack_client = std::make_unique<slack::MeteredSlackClient>(*slack_client, slack_call_probe);
        slack_replies = std::make_unique<slack::ReplyStreamer>(io, event_log, *metered_slack_client,
                                                               slack::ReplyStreamerOptions{}, &slack_reply_probe);
    } else if (roles.processor && !slack_options.signing_secret.empty()) {
        spdlog::warn("SLACK_BOT_TOKEN is not set: Slack events are ingested but no reply is posted");
    }
    // Gauges sampled at scrape time, on the io_context thread (the sandbox backend lives there).
    const auto* embedded_log = dynamic_cast<const log::PostgresEventLog*>(&selected_log.get());
    auto refresh_metrics = [&] {
        log_probe.refresh_dead_letters();
        if (const auto* kafka = selected_log.kafka_log()) {
            log_probe.update_from_kafka_statistics(kafka->last_statistics());
            log_probe.update_consumer_lag(kafka->consumer_lag());
        }
        if (embedded_log) log_probe.update_consumer_lag(embedded_log->consumer_lag());  // no I/O: readers' last reads
        pool_probe.update("queries", pool.stats());
        if (roles.projector) projector_probe.refresh(now_micros());
        const auto warm = static_cast<double>(local_sandboxes ? local_sandboxes->warm_sandboxes() : 0);
        sandbox_probe.warm.Set(warm);
        sandbox_probe.busy.Set(static_cast<double>(local_sandboxes ? local_sandboxes->live_sandboxes() : 0) - warm);
    };
    routes.push_back(http::metrics_route(*registry, refresh_metrics));
    http::Server server(io, http_options, std::move(routes), ingest::make_guard(*auth, readiness, &rate_limiter),
                        &http_probe);

    auto bound = server.start();
    if (!bound) die("cannot listen on " + bind + ": " + bound.error().message());
    spdlog::info("listening on http://{}:{}", http_options.bind_address, *bound);

    // Postgres and migrations are blocking: a start-up thread does them, then the roles start.
    std::atomic<bool> started{false};
    std::thread startup([&] {
        for (int attempt = 0;; ++attempt) {
            try {
                auto conn = pg::connect(database_url);
                if (*run_migrations) {
                    const int ran = pg::run_migrations(*conn);
                    spdlog::info("migrations: {} applied", ran);
                }
                const int applied = pg::applied_migration_version(*conn);
                if (applied < pg::latest_migration_version()) {
                    readiness.set_not_ready("migrations", "schema at version " + std::to_string(applied) +
                                                              ", this binary needs " +
                                                              std::to_string(pg::latest_migration_version()) +
                                                              " (set RUN_MIGRATIONS=true)");
                    spdlog::error("database schema is at version {}, this binary needs {}: set RUN_MIGRATIONS=true",
                                  applied, pg::latest_migration_version());
                    return;
                }
                break;
            } catch (const std::exception& e) {
                std::string reason = e.what();
                reason = logging::redact(reason.substr(0, reason.find('\n')));
                readiness.set_not_ready("postgres", "unreachable: " + reason);
                if (attempt == 0) spdlog::warn("postgres not reachable yet: {}", reason);
                if (io.stopped()) return;
                std::this_thread::sleep_for(1s);
            }
        }
        readiness.set_ready("postgres");
        readiness.set_ready("migrations");
        readiness.set_ready("startup");
        readiness_checks.start();
        selected_log.start_embedded();
        if (projector) projector->start();
        if (processor) processor->start();
        if (drain_watcher) drain_watcher->start();
        if (slack_replies) slack_replies->start();
        started = true;
    });

    // Shutdown drains: the server closes every connection (streams end), the processor stops its sandboxes,
    // and io.run() returns when no work is left. A watchdog forces the exit if something lingers.
    std::mutex exit_mutex;
    std::condition_variable exit_cv;
    bool exited = false;
    std::atomic<bool> forced{false};
    std::thread watchdog;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (ec) return;
        spdlog::info("signal {}: draining", sig);
        watchdog = std::thread([&] {
            std::unique_lock lock(exit_mutex);
            if (!exit_cv.wait_for(lock, shutdown_bound, [&] { return exited; })) {
                forced = true;
                io.stop();
            }
        });
        server.stop();
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                if (started && slack_replies) co_await slack_replies->stop();
                if (started && drain_watcher) co_await drain_watcher->stop();
                if (started && processor) co_await processor->stop();
                if (local_sandboxes) co_await local_sandboxes->shutdown();
            },
            asio::detached);
    });

    io.run();
    {
        std::lock_guard lock(exit_mutex);
        exited = true;
    }
    exit_cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
    startup.join();
    readiness_checks.stop();
    if (projector) projector->stop();
    selected_log.stop();
    drain_pool.stop();
    pool.stop();
    if (forced) {
        // Handlers still queued reference the objects above: leave without running their destructors.
        spdlog::warn("shutdown did not drain within {} s; exiting", shutdown_bound.count());
        spdlog::shutdown();
        std::_Exit(0);
    }
    spdlog::info("stopped");
    return 0;
}
