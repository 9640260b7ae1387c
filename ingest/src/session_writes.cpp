#include "session_writes.hpp"

#include <centaur/schemas/event_types.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <mutex>

namespace centaur::ingest {
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

EventEnvelope input_event(const ThreadKey& key, EventUuid uuid, std::string_view type, json::value payload,
                          std::optional<std::string> execution_id = std::nullopt) {
    return EventEnvelope{uuid, key, std::move(execution_id), std::string(type), std::move(payload), now_micros(),
                         EventSource::ingest};
}

}  // namespace

EventEnvelope session_created_event(const ThreadKey& key, SessionCreated payload, bool first_creation) {
    const auto uuid = first_creation ? EventUuid::derived(key.str() + "/session/" + payload.harness_type)
                                     : EventUuid::random();
    return input_event(key, uuid, event_type::session_created, to_json(payload));
}

EventEnvelope message_appended_event(const ThreadKey& key, std::optional<std::string> client_message_id,
                                     std::string role, json::array parts, json::object metadata) {
    const auto uuid = client_message_id ? EventUuid::derived(key.str() + "/message/" + *client_message_id)
                                        : EventUuid::random();
    MessageAppended payload{message_id_from(uuid), std::move(client_message_id), std::move(role), std::move(parts),
                            std::move(metadata)};
    return input_event(key, uuid, event_type::message_appended, to_json(payload));
}

EventEnvelope execution_requested_event(const ThreadKey& key, std::optional<std::string> idempotency_key,
                                        std::vector<std::string> input_lines, std::uint64_t idle_timeout_ms,
                                        std::uint64_t max_duration_ms, json::object metadata) {
    const auto uuid = idempotency_key ? EventUuid::derived(key.str() + "/execute/" + *idempotency_key)
                                      : EventUuid::random();
    ExecutionRequested payload{execution_id_from(uuid), std::move(idempotency_key), std::move(input_lines),
                               idle_timeout_ms, max_duration_ms, std::move(metadata)};
    auto execution_id = payload.execution_id;
    return input_event(key, uuid, event_type::execution_requested, to_json(payload), std::move(execution_id));
}

EventEnvelope interrupt_requested_event(const ThreadKey& key, std::string execution_id, std::string reason,
                                        std::optional<EventUuid> uuid) {
    InterruptRequested payload{execution_id, std::move(reason)};
    return input_event(key, uuid.value_or(EventUuid::random()), event_type::interrupt_requested, to_json(payload),
                       std::move(execution_id));
}

asio::awaitable<result<std::vector<Appended>>> append_all(EventLog& log, std::vector<EventEnvelope> events) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(result<std::vector<Appended>>)>(
        [&log](auto handler, std::vector<EventEnvelope> batch) {
            auto ex = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
            struct State {
                std::mutex mutex;
                std::vector<std::optional<result<Appended>>> results;
                std::size_t left = 0;
                decltype(handler) done;
                explicit State(decltype(handler)&& h) : done(std::move(h)) {}
            };
            auto state = std::make_shared<State>(std::move(handler));
            state->results.resize(batch.size());
            state->left = batch.size();
            if (batch.empty()) {
                asio::dispatch(ex, [state] { std::move(state->done)(std::vector<Appended>{}); });
                return;
            }
            for (std::size_t i = 0; i < batch.size(); ++i) {
                log.async_append(std::move(batch[i]), [state, ex, i](result<Appended> r) {
                    {
                        std::lock_guard lock(state->mutex);
                        state->results[i] = std::move(r);
                        if (--state->left > 0) return;
                    }
                    asio::dispatch(ex, [state] {
                        std::vector<Appended> out;
                        for (auto& r : state->results) {
                            if (!*r) {
                                std::move(state->done)(result<std::vector<Appended>>(r->error()));
                                return;
                            }
                            out.push_back(**r);
                        }
                        std::move(state->done)(result<std::vector<Appended>>(std::move(out)));
                    });
                });
            }
        },
        asio::use_awaitable, std::move(events));
}

}  // namespace centaur::ingest
