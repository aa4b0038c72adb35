-- Rules over the whole catalogue, so every future table and function is held to them without being listed here.
-- Each assertion lists its offenders.
begin;
select plan(6);

select is_empty($$
  select c.oid::regclass::text from pg_class c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
$$, 'every table in public has row level security on');

select is_empty($$
  select c.oid::regclass::text from pg_class c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
     and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
     and coalesce(obj_description(c.oid, 'pg_class'), '') not like 'Tollgate: service-only%'
$$, 'every table in public has policies or is commented ''Tollgate: service-only''');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
   where p.pronamespace = 'public'::regnamespace and p.prosecdef
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) s where s like 'search_path=%')
$$, 'every security definer function in public sets search_path');

select is_empty($$
  select p.oid::regprocedure::text || ' executable by ' || g.who from pg_proc p
   cross join lateral (
     select 'anon' as who where has_function_privilege('anon', p.oid, 'execute')
     union all
     select 'public' from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
      where a.grantee = 0 and a.privilege_type = 'EXECUTE'
   ) g
   where p.pronamespace = 'public'::regnamespace and p.prosecdef
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
$$, 'no security definer function in public is executable by anon or public');

-- A foreign key is covered when some index starts with its columns (in any order).
select is_empty($$
  select con.conrelid::regclass::text || ' (' || con.conname || ')' from pg_constraint con
   where con.contype = 'f' and con.connamespace = 'public'::regnamespace
     and not exists (
       select 1 from pg_index i
        where i.indrelid = con.conrelid
          and (select array_agg(k order by k) from unnest((i.indkey::int2[])[0:cardinality(con.conkey) - 1]) k)
            = (select array_agg(k order by k) from unnest(con.conkey) k)
     )
$$, 'every foreign key in public has an index starting with its columns');

select is_empty($$
  select c.oid::regclass::text || ': ' || m.priv from pg_class c
   cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) m(priv)
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
     and has_table_privilege('authenticated', c.oid, m.priv)
$$, 'authenticated cannot insert, update, delete or truncate any table in public');

select * from finish();
rollback;
