-- Projection epoch: bumped when a rebuilt projection is swapped in. Projectors read it (for share) in every
-- transaction; a changed epoch makes them re-seek to the (new) checkpoints, so nothing projected into the
-- retired tables during the swap is missing from the new ones.
create table projection_epoch (
    id    boolean primary key default true check (id),
    epoch bigint not null
);
insert into projection_epoch (id, epoch) values (true, 1);
