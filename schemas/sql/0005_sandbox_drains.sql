-- Sandbox drains (POST /api/sandboxes/drain): the API records a drain; every processor member polls for drains
-- it has not reported, stops its sandboxes and files one report per drain; the API answers from the reports of
-- the members that were live (heartbeat within the liveness window) when the drain was recorded.
create table processor_members (
    member  text primary key,
    seen_at timestamptz not null default now()
);
create table sandbox_drains (
    drain_id     bigserial primary key,
    requested_at timestamptz not null default now()
);
create table sandbox_drain_reports (
    drain_id    bigint not null references sandbox_drains (drain_id),
    member      text not null,
    stopped     jsonb not null,
    failed      jsonb not null,
    reported_at timestamptz not null default now(),
    primary key (drain_id, member)
);
