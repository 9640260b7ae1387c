// centaur-bench-pg: the Postgres baselines of `make bench` (bench/run-bench drives it; see bench/README.md).
// Plain libpq, no project code: what a user would otherwise do with the same database.
//
//   insert     --rows N --connections C: one INSERT per row (autocommit, prepared) of 512-byte rows shaped
//              like the embedded log's, C connections closed-loop; rows/s and per-insert latency
//   copy-in    --rows N --batch B: the same rows by COPY FROM STDIN, one COPY and commit per batch; rows/s
//   copy-file  --table T --file F: COPY T FROM STDIN of a file written by COPY ... TO (text format); rows/s
//   copy-out   --query Q [--reps K]: COPY (Q) TO STDOUT; rows/s and MB/s of one full read, then the time to
//              the first row of K further reads (each cancelled after its first row)
//   notify     --rate R --duration S --listeners L [--connections C]: pg_notify at a fixed rate from C
//              connections (payload stamped with its intended send time), L LISTEN connections; latency from
//              the intended send time to each receipt
//
// Every mode prints one `RESULT {json}` line on stdout; errors exit 1 with one line on stderr.

#include "samples.hpp"

#include <libpq-fe.h>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

constexpr std::size_t payload_bytes = 512;
constexpr double ns_per_ms = 1e6;
constexpr double ns_per_s = 1e9;
constexpr int copy_buffer_bytes = 1 << 16;
constexpr int poll_ms = 100;
constexpr int log_partitions = 8;
constexpr char bench_table[] = "bench_raw_log";

struct Options {
    std::string mode;
    std::string url;
    long long rows = 100000;
    int connections = 8;
    int batch = 10000;
    std::string table;
    std::string file;
    std::string query;
    int reps = 0;
    double rate = 1000;
    double duration_s = 5;
    int listeners = 10;
};

[[noreturn]] void die(const std::string& why) {
    std::cerr << "centaur-bench-pg: " << why << std::endl;
    std::exit(1);
}

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "centaur-bench-pg: " << why << "\n"
              << "usage: centaur-bench-pg insert|copy-in|copy-file|copy-out|notify --url URL [--rows N] [--connections C]\n"
                 "  [--batch B] [--table T --file F] [--query Q] [--reps K] [--rate R] [--duration S] [--listeners L]\n";
    std::exit(2);
}

Options parse(int argc, char** argv) {
    if (argc < 2) usage("missing mode");
    Options o;
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) usage("flag " + flag + " needs a value");
        const std::string v = argv[++i];
        if (flag == "--url") o.url = v;
        else if (flag == "--rows") o.rows = std::stoll(v);
        else if (flag == "--connections") o.connections = std::stoi(v);
        else if (flag == "--batch") o.batch = std::stoi(v);
        else if (flag == "--table") o.table = v;
        else if (flag == "--file") o.file = v;
        else if (flag == "--query") o.query = v;
        else if (flag == "--reps") o.reps = std::stoi(v);
        else if (flag == "--rate") o.rate = std::stod(v);
        else if (flag == "--duration") o.duration_s = std::stod(v);
        else if (flag == "--listeners") o.listeners = std::stoi(v);
        else usage("unknown flag " + flag);
    }
    if (o.url.empty()) usage("--url is required");
    if (o.rows <= 0 || o.connections <= 0 || o.batch <= 0 || o.rate <= 0 || o.listeners <= 0) usage("counts must be positive");
    return o;
}

PGconn* connect(const std::string& url) {
    PGconn* c = PQconnectdb(url.c_str());
    if (PQstatus(c) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(c));
    return c;
}

void exec_ok(PGconn* c, const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) die(sql.substr(0, 60) + ": " + PQerrorMessage(c));
    PQclear(r);
}

using centaur::bench::Samples;

double seconds_since(Clock::time_point t) {
    return static_cast<double>(duration_cast<nanoseconds>(Clock::now() - t).count()) / ns_per_s;
}

std::string payload() {
    std::string s;
    while (s.size() < payload_bytes) s += "lorem ipsum dolor sit amet ";
    s.resize(payload_bytes);
    return s;
}

/// A uuid-shaped text unique per row number.
std::string row_uuid(long long n) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012llx", n);
    return buf;
}

/// The raw table: centaur_log's shape (position, partition, uuid unique, thread key, envelope, time).
void fresh_table(PGconn* c) {
    exec_ok(c, std::string("drop table if exists ") + bench_table);
    exec_ok(c, std::string("create table ") + bench_table +
                   " (position bigserial primary key, partition integer not null, event_uuid uuid not null unique,"
                   " thread_key text not null, envelope text not null, appended_at timestamptz not null default now())");
}

std::string thread_key_of(long long n) { return "cli:raw" + std::to_string(n % 1000); }

int run_insert(const Options& o) {
    PGconn* admin = connect(o.url);
    fresh_table(admin);
    const std::string body = payload();
    std::atomic<long long> next{0};
    std::mutex merge;
    Samples all;
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    for (int w = 0; w < o.connections; ++w) {
        workers.emplace_back([&] {
            PGconn* c = connect(o.url);
            PGresult* p = PQprepare(c, "ins",
                                    (std::string("insert into ") + bench_table +
                                     " (partition, event_uuid, thread_key, envelope) values ($1, $2::uuid, $3, $4)")
                                        .c_str(),
                                    4, nullptr);
            if (PQresultStatus(p) != PGRES_COMMAND_OK) die(std::string("prepare: ") + PQerrorMessage(c));
            PQclear(p);
            Samples mine;
            for (long long n = next++; n < o.rows; n = next++) {
                const std::string part = std::to_string(n % log_partitions), uuid = row_uuid(n), key = thread_key_of(n);
                const char* values[] = {part.c_str(), uuid.c_str(), key.c_str(), body.c_str()};
                const auto t0 = Clock::now();
                PGresult* r = PQexecPrepared(c, "ins", 4, values, nullptr, nullptr, 0);
                if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("insert: ") + PQerrorMessage(c));
                PQclear(r);
                mine.ns.push_back(duration_cast<nanoseconds>(Clock::now() - t0).count());
            }
            PQfinish(c);
            std::lock_guard lock(merge);
            all.ns.insert(all.ns.end(), mine.ns.begin(), mine.ns.end());
        });
    }
    for (auto& t : workers) t.join();
    const double s = seconds_since(start);
    PQfinish(admin);
    std::cout << "RESULT {\"mode\":\"insert\",\"rows\":" << o.rows << ",\"connections\":" << o.connections
              << ",\"rows_per_s\":" << static_cast<double>(o.rows) / s << "," << all.json_fields("") << "}" << std::endl;
    return 0;
}

void put_copy(PGconn* c, const std::string& data) {
    if (PQputCopyData(c, data.data(), static_cast<int>(data.size())) != 1) die(std::string("copy data: ") + PQerrorMessage(c));
}

void end_copy(PGconn* c) {
    if (PQputCopyEnd(c, nullptr) != 1) die(std::string("copy end: ") + PQerrorMessage(c));
    PGresult* r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("copy: ") + PQerrorMessage(c));
    PQclear(r);
    while ((r = PQgetResult(c)) != nullptr) PQclear(r);
}

void begin_copy(PGconn* c, const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) != PGRES_COPY_IN) die(sql.substr(0, 60) + ": " + PQerrorMessage(c));
    PQclear(r);
}

int run_copy_in(const Options& o) {
    PGconn* c = connect(o.url);
    fresh_table(c);
    const std::string body = payload();
    const auto start = Clock::now();
    for (long long n = 0; n < o.rows;) {
        begin_copy(c, std::string("copy ") + bench_table + " (partition, event_uuid, thread_key, envelope) from stdin");
        std::string chunk;
        for (long long end = std::min(o.rows, n + o.batch); n < end; ++n) {
            chunk += std::to_string(n % log_partitions) + "\t" + row_uuid(n) + "\t" + thread_key_of(n) + "\t" + body + "\n";
            if (chunk.size() >= copy_buffer_bytes) {
                put_copy(c, chunk);
                chunk.clear();
            }
        }
        if (!chunk.empty()) put_copy(c, chunk);
        end_copy(c);
    }
    const double s = seconds_since(start);
    PQfinish(c);
    std::cout << "RESULT {\"mode\":\"copy-in\",\"rows\":" << o.rows << ",\"batch\":" << o.batch
              << ",\"rows_per_s\":" << static_cast<double>(o.rows) / s << "}" << std::endl;
    return 0;
}

int run_copy_file(const Options& o) {
    if (o.table.empty() || o.file.empty()) usage("copy-file needs --table and --file");
    std::ifstream in(o.file, std::ios::binary);
    if (!in) die("cannot read " + o.file);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const long long rows = std::count(data.begin(), data.end(), '\n');
    PGconn* c = connect(o.url);
    const auto start = Clock::now();
    exec_ok(c, "begin");
    begin_copy(c, "copy " + o.table + " from stdin");
    for (std::size_t at = 0; at < data.size(); at += copy_buffer_bytes)
        put_copy(c, data.substr(at, copy_buffer_bytes));
    end_copy(c);
    exec_ok(c, "commit");
    const double s = seconds_since(start);
    PQfinish(c);
    std::cout << "RESULT {\"mode\":\"copy-file\",\"table\":\"" << o.table << "\",\"rows\":" << rows
              << ",\"rows_per_s\":" << static_cast<double>(rows) / s << "}" << std::endl;
    return 0;
}

int run_copy_out(const Options& o) {
    if (o.query.empty()) usage("copy-out needs --query");
    PGconn* c = connect(o.url);
    const std::string sql = "copy (" + o.query + ") to stdout";
    long long rows = 0, bytes = 0;
    double first_ms = 0;
    const auto start = Clock::now();
    {
        PGresult* r = PQexec(c, sql.c_str());
        if (PQresultStatus(r) != PGRES_COPY_OUT) die(std::string("copy out: ") + PQerrorMessage(c));
        PQclear(r);
        char* line = nullptr;
        int n = 0;
        while ((n = PQgetCopyData(c, &line, 0)) > 0) {
            if (rows == 0) first_ms = static_cast<double>(duration_cast<nanoseconds>(Clock::now() - start).count()) / ns_per_ms;
            ++rows;
            bytes += n;
            PQfreemem(line);
        }
        while ((r = PQgetResult(c)) != nullptr) PQclear(r);
    }
    const double s = seconds_since(start);
    Samples first_row;
    for (int rep = 0; rep < o.reps; ++rep) {
        // A fresh connection per read, like a client that connects to replay.
        PGconn* fc = connect(o.url);
        const auto t0 = Clock::now();
        PGresult* r = PQexec(fc, sql.c_str());
        if (PQresultStatus(r) != PGRES_COPY_OUT) die(std::string("copy out: ") + PQerrorMessage(fc));
        PQclear(r);
        char* line = nullptr;
        if (PQgetCopyData(fc, &line, 0) > 0) {
            first_row.ns.push_back(duration_cast<nanoseconds>(Clock::now() - t0).count());
            PQfreemem(line);
        }
        PQfinish(fc);  // abandons the rest of the copy
    }
    PQfinish(c);
    std::cout << "RESULT {\"mode\":\"copy-out\",\"rows\":" << rows << ",\"rows_per_s\":" << static_cast<double>(rows) / s
              << ",\"mb_per_s\":" << static_cast<double>(bytes) / s / 1e6 << ",\"stream_first_byte_ms\":" << first_ms
              << ",\"first_byte_reps\":" << o.reps << "," << first_row.json_fields("first_byte_") << "}" << std::endl;
    return 0;
}

std::int64_t now_ns() { return duration_cast<nanoseconds>(Clock::now().time_since_epoch()).count(); }

int run_notify(const Options& o) {
    std::vector<PGconn*> listeners;
    for (int i = 0; i < o.listeners; ++i) {
        PGconn* l = connect(o.url);
        exec_ok(l, "listen bench_tail");
        listeners.push_back(l);
    }
    const long long total = static_cast<long long>(o.rate * o.duration_s);
    std::atomic<bool> done{false};
    Samples latency;
    long long received = 0;
    std::thread receiver([&] {
        std::vector<pollfd> fds(listeners.size());
        for (std::size_t i = 0; i < listeners.size(); ++i) fds[i] = {PQsocket(listeners[i]), POLLIN, 0};
        while (!done.load() || received < total * o.listeners) {
            if (poll(fds.data(), fds.size(), poll_ms) == 0 && done.load()) break;
            for (std::size_t i = 0; i < listeners.size(); ++i) {
                if (!(fds[i].revents & POLLIN)) continue;
                PQconsumeInput(listeners[i]);
                while (PGnotify* n = PQnotifies(listeners[i])) {
                    latency.ns.push_back(now_ns() - std::strtoll(n->extra, nullptr, 10));
                    ++received;
                    PQfreemem(n);
                }
            }
        }
    });
    // Senders share one fixed-rate schedule (like the load generator's connections): notification i is due
    // at start + i / rate and stamped with that time, whichever sender sends it.
    const std::string pad = payload().substr(0, payload_bytes - 32);
    std::atomic<long long> next{0};
    const auto start = Clock::now() + std::chrono::milliseconds(50);
    std::vector<std::thread> senders;
    for (int w = 0; w < o.connections; ++w) {
        senders.emplace_back([&] {
            PGconn* sender = connect(o.url);
            PGresult* p = PQprepare(sender, "notify", "select pg_notify('bench_tail', $1)", 1, nullptr);
            if (PQresultStatus(p) != PGRES_COMMAND_OK) die(std::string("prepare: ") + PQerrorMessage(sender));
            PQclear(p);
            for (long long i = next++; i < total; i = next++) {
                const auto intended =
                    start + nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) * ns_per_s / o.rate));
                std::this_thread::sleep_until(intended);
                const std::string stamp =
                    std::to_string(duration_cast<nanoseconds>(intended.time_since_epoch()).count()) + " " + pad;
                const char* values[] = {stamp.c_str()};
                PGresult* r = PQexecPrepared(sender, "notify", 1, values, nullptr, nullptr, 0);
                if (PQresultStatus(r) != PGRES_TUPLES_OK) die(std::string("notify: ") + PQerrorMessage(sender));
                PQclear(r);
            }
            PQfinish(sender);
        });
    }
    for (auto& t : senders) t.join();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    done = true;
    receiver.join();
    for (auto* l : listeners) PQfinish(l);
    std::cout << "RESULT {\"mode\":\"notify\",\"listeners\":" << o.listeners << ",\"target_rate\":" << o.rate
              << ",\"sent\":" << total << ",\"received\":" << received << "," << latency.json_fields("") << "}" << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    constexpr unsigned hang_limit_s = 900;  // every wait is bounded: a hung query ends the run (SIGALRM)
    alarm(hang_limit_s);
    if (o.mode == "insert") return run_insert(o);
    if (o.mode == "copy-in") return run_copy_in(o);
    if (o.mode == "copy-file") return run_copy_file(o);
    if (o.mode == "copy-out") return run_copy_out(o);
    if (o.mode == "notify") return run_notify(o);
    usage("unknown mode " + o.mode);
}
