-- Consumer-group offsets of the embedded event log: the last position a group's member stored as handled,
-- per partition. Membership itself lives in advisory locks (released when a member's connection ends).
create table centaur_log_group_offsets (
    group_name text not null,
    partition  integer not null,
    position   bigint not null,
    updated_at timestamptz not null default now(),
    primary key (group_name, partition)
);
