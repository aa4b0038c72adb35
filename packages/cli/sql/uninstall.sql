-- Removes Tollgate and nothing else (written by `npx tollgate uninstall`): its pg_cron jobs (tollgate-*), its
-- schema with everything in it, and its triggers on auth.users (tollgate_*). Publication entries for its tables
-- go with the tables. Refuses, changing nothing, when an object of the app's depends on Tollgate's, since
-- dropping the schema would drop that too. Re-runnable, and applies where pg_cron is absent.

do $$
declare
  v_dependents text;
begin
  if to_regnamespace('tollgate') is null then
    return;
  end if;
  with tollgate_objects (classid, objid) as (
    select 'pg_catalog.pg_class'::regclass, c.oid from pg_catalog.pg_class c
     where c.relnamespace = 'tollgate'::regnamespace
    union all
    select 'pg_catalog.pg_proc'::regclass, p.oid from pg_catalog.pg_proc p
     where p.pronamespace = 'tollgate'::regnamespace
    union all
    select 'pg_catalog.pg_type'::regclass, t.oid from pg_catalog.pg_type t
     where t.typnamespace = 'tollgate'::regnamespace
  )
  select string_agg(distinct o.type || ' ' || o.identity, ', ')
    into v_dependents
    from pg_catalog.pg_depend d
    join tollgate_objects t on t.classid = d.refclassid and t.objid = d.refobjid
   cross join lateral pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) o
   -- Column defaults, policies, triggers and rules have no schema of their own: theirs is their table's.
   cross join lateral (
     select coalesce(o.schema, (
       select c.relnamespace::regnamespace::text from pg_catalog.pg_class c
        where c.oid = case d.classid
          when 'pg_catalog.pg_attrdef'::regclass then (select a.adrelid from pg_catalog.pg_attrdef a where a.oid = d.objid)
          when 'pg_catalog.pg_policy'::regclass then (select p.polrelid from pg_catalog.pg_policy p where p.oid = d.objid)
          when 'pg_catalog.pg_trigger'::regclass then (select g.tgrelid from pg_catalog.pg_trigger g where g.oid = d.objid)
          when 'pg_catalog.pg_rewrite'::regclass then (select r.ev_class from pg_catalog.pg_rewrite r where r.oid = d.objid)
        end)) as schema
   ) dependent
   where d.deptype in ('n', 'a')
     and dependent.schema is distinct from 'tollgate'
     and d.classid <> 'pg_catalog.pg_publication_rel'::regclass
     and not exists (
       select from pg_catalog.pg_trigger tg
        where d.classid = 'pg_catalog.pg_trigger'::regclass and tg.oid = d.objid
          and tg.tgrelid = to_regclass('auth.users') and tg.tgname like 'tollgate\_%'
     );
  if v_dependents is not null then
    raise exception 'Cannot uninstall Tollgate: objects outside schema tollgate depend on it: %', v_dependents
      using hint = 'Drop them or their dependency on Tollgate first, then apply this migration again.';
  end if;
end
$$;

do $$
declare
  v_job record;
begin
  if to_regclass('cron.job') is not null then
    for v_job in execute $q$select jobid from cron.job where jobname like 'tollgate-%'$q$ loop
      perform cron.unschedule(v_job.jobid);
    end loop;
  end if;
end
$$;

drop schema if exists tollgate cascade;

-- A trigger named tollgate_* whose function lived outside the schema is still there.
do $$
declare
  v_trigger record;
begin
  if to_regclass('auth.users') is not null then
    for v_trigger in
      select tgname from pg_catalog.pg_trigger
       where tgrelid = 'auth.users'::regclass and not tgisinternal and tgname like 'tollgate\_%'
    loop
      execute format('drop trigger %I on auth.users', v_trigger.tgname);
    end loop;
  end if;
end
$$;
