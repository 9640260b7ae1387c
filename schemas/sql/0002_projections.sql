-- Projections of the event log: written by the projector only, exactly once, checkpoint in the same transaction.

create table session_threads (
    thread_key    text primary key,
    last_seq      bigint not null,
    last_event_id bigint not null
);

create table session_events (
    event_id     bigint primary key,
    thread_key   text not null,
    seq          bigint not null,
    event_uuid   uuid not null unique,
    execution_id text,
    event_type   text not null,
    data         text not null,  -- the SSE data: the raw harness line for session.output.line, compact JSON otherwise
    created_at   timestamptz not null
);
create index session_events_thread_idx on session_events (thread_key, event_id);

create table sessions (
    thread_key             text primary key,
    title                  text,
    sandbox_id             text,
    harness_type           text not null,
    harness_thread_id      text,
    persona_id             text,
    status                 text not null,
    metadata               jsonb not null default '{}',
    iron_control_principal text,
    proxy_labels           jsonb not null default '{}',
    sandbox_last_active_at timestamptz,
    created_at             timestamptz not null,
    updated_at             timestamptz not null
);

create table session_messages (
    message_id        text primary key,
    thread_key        text not null,
    client_message_id text,
    role              text not null,
    parts             jsonb not null,
    metadata          jsonb not null default '{}',
    event_id          bigint not null,
    created_at        timestamptz not null
);
create unique index session_messages_client_id_idx on session_messages (thread_key, client_message_id)
    where client_message_id is not null;

create table session_executions (
    execution_id      text primary key,
    thread_key        text not null,
    idempotency_key   text,
    status            text not null,
    input_lines       jsonb not null,
    metadata          jsonb not null default '{}',
    error             text,
    completion_reason text,
    result_text       text,
    event_id          bigint not null,
    created_at        timestamptz not null,
    updated_at        timestamptz not null,
    started_at        timestamptz,
    completed_at      timestamptz
);
create unique index session_executions_idempotency_idx on session_executions (thread_key, idempotency_key)
    where idempotency_key is not null;
create index session_executions_thread_idx on session_executions (thread_key, created_at);

create table projection_checkpoints (
    projection text not null,
    partition  integer not null,
    position   bigint not null,
    updated_at timestamptz not null default now(),
    primary key (projection, partition)
);
