-- Rollback of 20261201170000_create_tollgate_schema.sql. Not cascade: the later rollbacks have emptied the schema,
-- and anything still in it is a leftover that should fail loudly here instead of vanishing.

drop function if exists tollgate._unschedule(text);
drop function if exists tollgate._schedule(text, text, text);
drop schema if exists tollgate;
