#include <centaur/pg/array_literal.hpp>
#include <centaur/pg/pool.hpp>
#include <centaur/projections/projection_hub.hpp>
#include <centaur/projections/projector.hpp>
#include <centaur/projections/projector_probe.hpp>
#include <centaur/core/metric_labels.hpp>
#include <centaur/core/fault_point.hpp>
#include <centaur/schemas/event_types.hpp>
#include <centaur/schemas/payloads.hpp>

#include <boost/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include <map>
#include <ranges>
#include <unordered_map>
#include <unordered_set>

namespace centaur::projections {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto retry_pause = 500ms;
constexpr auto component = "projector";

// Timestamps travel as microseconds since the epoch and become timestamptz exactly.
#define CENTAUR_TS(n) "('epoch'::timestamptz + $" #n " * interval '1 microsecond')"

void prepare(pqxx::connection& c) {
    c.prepare("insert_events",
              "with b as (select * from jsonb_to_recordset($1::jsonb) as x(ord int, event_id bigint, thread_key text, "
              "    event_uuid uuid, execution_id text, event_type text, data text, created_us bigint)), "
              "fresh as (select distinct on (b.event_uuid) b.* from b where not exists "
              "    (select 1 from session_events e where e.event_uuid = b.event_uuid) order by b.event_uuid, b.ord), "
              "numbered as (select f.*, coalesce(t.last_seq, 0) + row_number() over "
              "    (partition by f.thread_key order by f.ord) as seq "
              "    from fresh f left join session_threads t on t.thread_key = f.thread_key), "
              "ins as (insert into session_events (event_id, thread_key, seq, event_uuid, execution_id, event_type, "
              "    data, created_at) select event_id, thread_key, seq, event_uuid, execution_id, event_type, data, "
              "    'epoch'::timestamptz + created_us * interval '1 microsecond' from numbered "
              "    returning thread_key, seq, event_id, event_uuid), "
              "heads as (insert into session_threads (thread_key, last_seq, last_event_id) "
              "    select thread_key, max(seq), max(event_id) from ins group by thread_key "
              "    on conflict (thread_key) do update set last_seq = excluded.last_seq, "
              "    last_event_id = excluded.last_event_id) "
              "select replace(event_uuid::text, '-', '') from ins");
    // The session's principal is bound at its first creation, from the requester principal its creator asserted
    // (only a Console caller can: ingest strips the field from every other caller); later creates never move it.
    c.prepare("session_created",
              "insert into sessions (thread_key, harness_type, persona_id, status, metadata, iron_control_principal, "
              "created_at, updated_at) "
              "values ($1, $2, nullif($3, ''), 'idle', $4::jsonb, "
              "case when jsonb_typeof($4::jsonb->'requester_principal_foreign_id') = 'string' "
              "then nullif(btrim($4::jsonb->>'requester_principal_foreign_id'), '') end, "
              CENTAUR_TS(5) ", " CENTAUR_TS(5) ") "
              "on conflict (thread_key) do update set harness_type = excluded.harness_type, "
              "updated_at = excluded.updated_at where $6 and sessions.harness_type <> excluded.harness_type");
    c.prepare("message_appended",
              "insert into session_messages (message_id, thread_key, client_message_id, role, parts, metadata, "
              "event_id, created_at) values ($1, $2, nullif($3, ''), $4, $5::jsonb, $6::jsonb, $7, " CENTAUR_TS(8) ") "
              "on conflict do nothing");
    c.prepare("execution_requested",
              "insert into session_executions (execution_id, thread_key, idempotency_key, status, input_lines, "
              "metadata, event_id, created_at, updated_at) values ($1, $2, nullif($3, ''), 'queued', $4::jsonb, "
              "$5::jsonb, $6, " CENTAUR_TS(7) ", " CENTAUR_TS(7) ") on conflict do nothing");
    c.prepare("execution_started",
              "with e as (update session_executions set status = 'running', started_at = " CENTAUR_TS(2) ", "
              "updated_at = " CENTAUR_TS(2) " where execution_id = $1 and status = 'queued') "
              "update sessions set status = 'executing', updated_at = " CENTAUR_TS(2) " where thread_key = $3");
    c.prepare("execution_terminal",
              "with e as (update session_executions set status = $2, error = nullif($3, ''), "
              "completion_reason = nullif($4, ''), result_text = nullif($5, ''), completed_at = " CENTAUR_TS(6) ", "
              "updated_at = " CENTAUR_TS(6) " where execution_id = $1 and status in ('queued', 'running')) "
              "update sessions set status = case when $2 = 'failed' then 'failed' else 'idle' end, "
              "updated_at = " CENTAUR_TS(6) " where thread_key = $7");
    c.prepare("sandbox_ready",
              "update sessions set sandbox_id = $2, sandbox_last_active_at = " CENTAUR_TS(3) ", "
              "updated_at = " CENTAUR_TS(3) " where thread_key = $1");
    c.prepare("checkpoint",
              "insert into projection_checkpoints (projection, partition, position, updated_at) "
              "select $1, u.p, u.o, now() from unnest($2::int[], $3::bigint[]) as u(p, o) "
              "on conflict (projection, partition) do update set "
              "position = greatest(projection_checkpoints.position, excluded.position), updated_at = now()");
    c.prepare("load_checkpoints", "select partition, position from projection_checkpoints where projection = $1");
    c.prepare("epoch", "select epoch from projection_epoch where id for share");
}

#undef CENTAUR_TS

std::string string_field(const json::value& v, std::string_view key) {
    return json_get::string(v, key).value_or("");
}

/// SSE data of an event: the raw harness line for output lines, compact JSON otherwise.
std::string sse_data(const EventEnvelope& e) {
    if (e.event_type == event_type::output_line && e.payload.is_string()) return std::string(e.payload.as_string());
    return json::serialize(e.payload);
}

/// Updates the derived tables for one newly inserted event. Unknown types only live in session_events.
void apply_derived(pqxx::work& tx, const LogRecord& r) {
    const auto& e = r.envelope;
    const auto& key = e.thread_key.str();
    const auto at = e.occurred_at_us;
    const std::string exe = e.execution_id.value_or("");
    if (e.event_type == event_type::session_created) {
        if (auto p = session_created_from(e.payload)) {
            tx.exec_prepared("session_created", key, p->harness_type, p->persona_id.value_or(""),
                             json::serialize(p->metadata), at, p->restart_on_conflict);
        }
    } else if (e.event_type == event_type::message_appended) {
        if (auto p = message_appended_from(e.payload)) {
            tx.exec_prepared("message_appended", p->message_id, key, p->client_message_id.value_or(""), p->role,
                             json::serialize(p->parts), json::serialize(p->metadata), r.event_id.value, at);
        }
    } else if (e.event_type == event_type::execution_requested) {
        if (auto p = execution_requested_from(e.payload)) {
            json::array lines;
            for (const auto& l : p->input_lines) lines.emplace_back(l);
            json::object metadata = p->metadata;
            metadata["idle_timeout_ms"] = p->idle_timeout_ms;
            metadata["max_duration_ms"] = p->max_duration_ms;
            tx.exec_prepared("execution_requested", p->execution_id, key, p->idempotency_key.value_or(""),
                             json::serialize(lines), json::serialize(metadata), r.event_id.value, at);
        }
    } else if (e.event_type == event_type::execution_started) {
        tx.exec_prepared("execution_started", exe, at, key);
    } else if (event_type::is_terminal(e.event_type)) {
        const std::string status = e.event_type == event_type::execution_completed ? "completed"
                                   : e.event_type == event_type::execution_failed  ? "failed"
                                                                                   : "cancelled";
        tx.exec_prepared("execution_terminal", exe, status, string_field(e.payload, "error"),
                         string_field(e.payload, "completion_reason"), string_field(e.payload, "result_text"), at,
                         key);
    } else if (e.event_type == event_type::sandbox_ready) {
        tx.exec_prepared("sandbox_ready", key, string_field(e.payload, "sandbox_id"), at);
    }
}

}  // namespace

struct Projector::Db {
    std::unique_ptr<pqxx::connection> conn;
};

Projector::Projector(ProjectorOptions options, EventLog& log, ProjectionHub* hub, Readiness* readiness)
    : db_(std::make_unique<Db>()), options_(std::move(options)), log_(log), hub_(hub), readiness_(readiness) {
    if (readiness_) readiness_->expect(component, "consumer not assigned yet");
}

Projector::~Projector() { stop(); }

void Projector::start() {
    if (thread_.joinable()) return;
    stopping_ = false;
    ReaderOptions reader_options;
    reader_options.group = options_.group;
    reader_options.on_assigned = [this](const PartitionList& partitions) {
        if (!seek_to_checkpoints(partitions)) reseek_ = true;
    };
    reader_options.on_caught_up = options_.on_caught_up;
    reader_ = log_.open_reader(std::move(reader_options));
    thread_ = std::thread([this] { run(); });
}

void Projector::stop() {
    stopping_ = true;
    if (reader_) reader_->wake();
    if (thread_.joinable()) thread_.join();
}

void Projector::observe_commit(const std::vector<LogRecord>& records, const std::unordered_set<std::string>& inserted) {
    const auto now = now_micros();
    auto* probe = options_.probe;
    probe->checkpoint_committed(now);
    std::size_t projected = 0;
    std::unordered_set<std::string> counted;  // a copy of an event in the same batch is a duplicate
    for (const auto& r : records) {
        const auto& e = r.envelope;
        auto uuid = e.event_uuid.hex();
        if (!inserted.count(uuid) || !counted.insert(std::move(uuid)).second) continue;
        ++projected;
        probe->projected(event_type_label(e.event_type), source_label(e.source), e.occurred_at_us, now);
    }
    probe->duplicates_dropped.Increment(static_cast<double>(records.size() - projected));
}

bool Projector::seek_to_checkpoints(const PartitionList& partitions) {
    if (partitions.empty()) return true;
    try {
        if (!db_->conn) {
            db_->conn = pg::connect(options_.url);
            prepare(*db_->conn);
        }
        std::map<std::int32_t, std::int64_t> checkpoints;
        pqxx::work tx(*db_->conn);
        epoch_ = tx.exec_prepared("epoch")[0][0].as<std::int64_t>();
        for (const auto& row : tx.exec_prepared("load_checkpoints", options_.projection))
            checkpoints[row[0].as<std::int32_t>()] = row[1].as<std::int64_t>();
        tx.commit();
        for (auto p : partitions) reader_->seek(p, LogOffset(checkpoints.count(p) ? checkpoints[p] : 0));
        return true;
    } catch (const std::exception& e) {
        // The partitions start from the group's stored offsets, which never pass the checkpoint (they are
        // stored after the commit): re-reading is absorbed by the uuid de-duplication.
        spdlog::warn("projector: loading checkpoints failed: {}", e.what());
        db_->conn.reset();
        return false;
    }
}

void Projector::run() {
    auto& conn = db_->conn;
    while (!stopping_) {
        try {
            if (!conn || reseek_) {
                reseek_ = false;
                if (!conn) {
                    conn = pg::connect(options_.url);
                    prepare(*conn);
                }
                if (!seek_to_checkpoints(reader_->assignment())) throw std::runtime_error("loading checkpoints failed");
                if (readiness_) readiness_->set_ready(component);
            }
            auto polled = reader_->poll(options_.poll_wait, options_.max_batch);
            // A partition assigned inside poll whose checkpoint could not be loaded dropped the connection and asked
            // for a re-seek: this batch may start before the checkpoint, and there is no connection to write it.
            if (reseek_ || !conn) continue;
            if (!polled || polled->empty()) continue;
            const auto& records = *polled;

            json::array rows;
            rows.reserve(records.size());
            std::map<std::int32_t, std::int64_t> checkpoints;
            std::unordered_map<std::string, EventId> advanced;
            for (std::size_t i = 0; i < records.size(); ++i) {
                const auto& r = records[i];
                const auto& e = r.envelope;
                rows.push_back(json::object{{"ord", i},
                                            {"event_id", r.event_id.value},
                                            {"thread_key", e.thread_key.str()},
                                            {"event_uuid", e.event_uuid.canonical()},
                                            {"execution_id", e.execution_id ? json::value(*e.execution_id) : nullptr},
                                            {"event_type", e.event_type},
                                            {"data", sse_data(e)},
                                            {"created_us", e.occurred_at_us}});
                auto& cp = checkpoints[r.position.partition];
                cp = std::max(cp, r.position.offset.value);
                auto& adv = advanced[e.thread_key.str()];
                adv = std::max(adv, r.event_id);
            }

            pqxx::work tx(*conn);
            if (tx.exec_prepared("epoch")[0][0].as<std::int64_t>() != epoch_) {
                // A rebuilt projection was swapped in: continue from its checkpoints.
                tx.abort();
                spdlog::info("projector: projection epoch changed; re-seeking to the new checkpoints");
                reseek_ = true;
                continue;
            }
            std::unordered_set<std::string> inserted;
            for (const auto& row : tx.exec_prepared("insert_events", json::serialize(rows)))
                inserted.insert(row[0].as<std::string>());
            for (const auto& r : records) {
                if (r.envelope.event_type != event_type::output_line && inserted.count(r.envelope.event_uuid.hex()))
                    apply_derived(tx, r);
            }
            fault_point("mid_projection_txn");
            const std::string checkpoint_partitions = pg::int_array_literal(std::views::keys(checkpoints));
            const std::string checkpoint_positions = pg::int_array_literal(std::views::values(checkpoints));
            tx.exec_prepared("checkpoint", options_.projection, checkpoint_partitions, checkpoint_positions);
            tx.commit();
            fault_point("after_projection_commit_before_store");
            applied_ += inserted.size();
            if (options_.probe) observe_commit(records, inserted);
            // Waiting writers (read-your-writes) and live feeds hear of the commit first; offsets are hints after it.
            if (hub_) {
                std::vector<std::pair<std::string, EventId>> progress(advanced.begin(), advanced.end());
                hub_->publish(std::move(progress));
            }
            for (const auto& [partition, position] : checkpoints)
                reader_->store(LogPosition{partition, LogOffset(position)});
        } catch (const std::exception& e) {
            spdlog::warn("projector: {}; re-reading from the committed checkpoint", e.what());
            if (readiness_) readiness_->set_not_ready(component, "postgres unavailable");
            conn.reset();
            reseek_ = true;
            std::this_thread::sleep_for(retry_pause);
        }
    }
}

}  // namespace centaur::projections
