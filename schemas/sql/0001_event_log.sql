-- The embedded event log: the default log when no Kafka broker is configured.
-- Positions are assigned under the head row lock, which is held until commit, so positions commit in
-- increasing order and without holes: a reader polling `position > cursor` can never skip a late commit.

create table centaur_log (
    position    bigint primary key,
    partition   integer not null,
    event_uuid  uuid not null unique,
    thread_key  text not null,
    envelope    text not null,
    appended_at timestamptz not null default now()
);
create index centaur_log_partition_idx on centaur_log (partition, position);

create table centaur_log_head (
    id            boolean primary key default true check (id),
    last_position bigint not null
);
insert into centaur_log_head (id, last_position) values (true, 0);

-- Appends a batch: [{"event_uuid","partition","thread_key","envelope"}, ...] in order.
-- Returns one row per input element: its position and whether the uuid was already on the log
-- (an idempotent re-append returns the original position).
create function centaur_log_append(batch jsonb)
returns table (ord bigint, log_position bigint, duplicate boolean)
language plpgsql as $$
declare
    head bigint;
begin
    select h.last_position into head from centaur_log_head h where h.id for update;
    return query
    with input as (
        select x.ord, (x.e->>'event_uuid')::uuid as event_uuid, (x.e->>'partition')::integer as part,
               x.e->>'thread_key' as thread_key, x.e->>'envelope' as envelope
        from jsonb_array_elements(batch) with ordinality as x(e, ord)
    ),
    prior as (
        select l.event_uuid, l.position from centaur_log l
        where l.event_uuid in (select i.event_uuid from input i)
    ),
    firsts as (
        select distinct on (i.event_uuid) i.* from input i
        where not exists (select 1 from prior p where p.event_uuid = i.event_uuid)
        order by i.event_uuid, i.ord
    ),
    numbered as (
        select f.*, head + row_number() over (order by f.ord) as pos from firsts f
    ),
    ins as (
        insert into centaur_log (position, partition, event_uuid, thread_key, envelope)
        select n.pos, n.part, n.event_uuid, n.thread_key, n.envelope from numbered n
        returning 1
    )
    select i.ord, coalesce(n.pos, p.position), (n.ord is distinct from i.ord)
    from input i
    left join numbered n on n.event_uuid = i.event_uuid
    left join prior p on p.event_uuid = i.event_uuid
    order by i.ord;

    update centaur_log_head h
       set last_position = coalesce((select max(l.position) from centaur_log l), 0)
     where h.id;
    perform pg_notify('centaur_log', '');
end;
$$;
