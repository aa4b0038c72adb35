-- Rules over the whole catalogue, so every future table and function is held to them without being listed here.
-- Each assertion lists its offenders.
begin;
select plan(18);

-- Tollgate lives in schema tollgate and enters projects that have their own tables in public: it creates nothing
-- there, not even by creating an extension into it. (This suite's database has nothing else in public, so anything
-- found is Tollgate's; pg_cron's objects are in schema cron, whatever its extension's nominal schema.)
select is_empty($$
  select o.type || ' ' || o.identity || ': in public; create it in schema tollgate'
    from (
      select 'pg_class'::regclass as classid, c.oid as objid from pg_class c where c.relnamespace = 'public'::regnamespace
      union all
      select 'pg_proc'::regclass, p.oid from pg_proc p where p.pronamespace = 'public'::regnamespace
      union all
      select 'pg_type'::regclass, t.oid from pg_type t where t.typnamespace = 'public'::regnamespace
      union all
      select 'pg_constraint'::regclass, con.oid from pg_constraint con where con.connamespace = 'public'::regnamespace
      union all
      select 'pg_policy'::regclass, pol.oid from pg_policy pol
        join pg_class c on c.oid = pol.polrelid where c.relnamespace = 'public'::regnamespace
      union all
      select 'pg_trigger'::regclass, tg.oid from pg_trigger tg
        join pg_class c on c.oid = tg.tgrelid where c.relnamespace = 'public'::regnamespace
      union all
      select 'pg_operator'::regclass, op.oid from pg_operator op where op.oprnamespace = 'public'::regnamespace
      union all
      select 'pg_collation'::regclass, col.oid from pg_collation col where col.collnamespace = 'public'::regnamespace
      union all
      select 'pg_ts_config'::regclass, cfg.oid from pg_ts_config cfg where cfg.cfgnamespace = 'public'::regnamespace
    ) x
   cross join lateral pg_identify_object(x.classid, x.objid, 0) o
$$, 'Tollgate creates nothing in public: no table, view, sequence, function, type, constraint, policy, trigger, '
    'nor an extension whose objects land there');

-- Outside its schema Tollgate owns only triggers named tollgate_* (on auth.users) and pg_cron jobs named tollgate-*.
select is_empty($$
  select tg.tgname || ' on ' || tg.tgrelid::regclass::text || ': calls ' || tg.tgfoid::regprocedure::text
         || ' from outside schema tollgate; name it tollgate_' || tg.tgname
    from pg_trigger tg
    join pg_class c on c.oid = tg.tgrelid
    join pg_proc p on p.oid = tg.tgfoid
   where not tg.tgisinternal and c.relnamespace <> 'tollgate'::regnamespace
     and p.pronamespace = 'tollgate'::regnamespace and tg.tgname not like 'tollgate\_%'
$$, 'every trigger outside schema tollgate that calls a Tollgate function is named tollgate_*');
select is_empty($$
  select 'pg_cron job ' || jobname || ' runs ' || command || '; name it tollgate-...'
    from cron.job
   where command ~ '\mtollgate\.' and jobname not like 'tollgate-%'
$$, 'every pg_cron job that runs Tollgate SQL is named tollgate-*');

select is_empty($$
  select c.oid::regclass::text from pg_class c
   where c.relnamespace = 'tollgate'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
$$, 'every table in tollgate has row level security on');

select is_empty($$
  select c.oid::regclass::text from pg_class c
   where c.relnamespace = 'tollgate'::regnamespace and c.relkind in ('r', 'p')
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
     and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
     and coalesce(obj_description(c.oid, 'pg_class'), '') not like 'Tollgate: service-only%'
$$, 'every table in tollgate has policies or is commented ''Tollgate: service-only''');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
   where p.pronamespace = 'tollgate'::regnamespace and p.prosecdef
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) s where s like 'search_path=%')
$$, 'every security definer function in tollgate sets search_path');

select is_empty($$
  select p.oid::regprocedure::text || ' executable by ' || g.who from pg_proc p
   cross join lateral (
     select 'anon' as who where has_function_privilege('anon', p.oid, 'execute')
     union all
     select 'public' from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
      where a.grantee = 0 and a.privilege_type = 'EXECUTE'
   ) g
   where p.pronamespace = 'tollgate'::regnamespace and p.prosecdef
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
$$, 'no security definer function in tollgate is executable by anon or public');

-- A foreign key is covered when some index starts with its columns (in any order).
select is_empty($$
  select con.conrelid::regclass::text || ' (' || con.conname || ')' from pg_constraint con
   where con.contype = 'f' and con.connamespace = 'tollgate'::regnamespace
     and not exists (
       select 1 from pg_index i
        where i.indrelid = con.conrelid
          and (select array_agg(k order by k) from unnest((i.indkey::int2[])[0:cardinality(con.conkey) - 1]) k)
            = (select array_agg(k order by k) from unnest(con.conkey) k)
     )
$$, 'every foreign key in tollgate has an index starting with its columns');

select is_empty($$
  select c.oid::regclass::text || ': ' || m.priv from pg_class c
   cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) m(priv)
   where c.relnamespace = 'tollgate'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
     and has_table_privilege('authenticated', c.oid, m.priv)
$$, 'authenticated cannot insert, update, delete or truncate any table in tollgate');

-- Who may call what. User-facing functions act for the caller only: a security definer function that
-- authenticated may execute must resolve its caller from the request, or any user could act for any other.
select is_empty($$
  select p.oid::regprocedure::text || ': authenticated may execute this security definer function, but it never '
         || 'resolves its caller with tollgate._acting_member(...), tollgate._member_manager(...) or auth.uid(); '
         || 'resolve the caller in its body, or revoke execute from authenticated'
    from pg_proc p
   cross join lateral (select lower(coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)) as body) b
   where p.pronamespace = 'tollgate'::regnamespace and p.prosecdef
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     and has_function_privilege('authenticated', p.oid, 'execute')
     and strpos(b.body, 'tollgate._acting_member(') = 0
     and strpos(b.body, 'tollgate._member_manager(') = 0
     and strpos(b.body, 'auth.uid()') = 0
$$, 'authenticated may execute a security definer function only when it resolves its caller from the request');

-- Trigger functions cannot be called directly, so service_role holding execute on one is harmless.
select is_empty($$
  select p.oid::regprocedure::text || ': internal function executable by '
         || case a.grantee when 0 then 'public' else a.grantee::regrole::text end
         || '; revoke execute on function ' || p.oid::regprocedure::text
         || ' from public, anon, authenticated, service_role'
    from pg_proc p
   cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
   where p.pronamespace = 'tollgate'::regnamespace and p.proname like '\_%'
     and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     and a.privilege_type = 'EXECUTE' and a.grantee <> p.proowner
     and not (p.prorettype = 'trigger'::regtype and a.grantee = 'service_role'::regrole)
$$, 'internal _functions in tollgate are executable by nobody but their owner');

-- Billing data is every table or view in tollgate keyed by account (an account_id column, or the table that
-- account_id columns reference) or naming a user (a user_id column); key is the column policies check membership
-- on (null: a user_id-only table, checked by ownership).
create temp view billing_tables as
select c.oid, c.oid::regclass::text as name,
       case when exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'account_id'
                           and a.attnum > 0 and not a.attisdropped) then 'account_id'
            else (select min(ra.attname) from pg_constraint con
                    join pg_attribute fa on fa.attrelid = con.conrelid and fa.attnum = con.conkey[1]
                    join pg_attribute ra on ra.attrelid = con.confrelid and ra.attnum = con.confkey[1]
                   where con.contype = 'f' and con.confrelid = c.oid and fa.attname = 'account_id') end as key
  from pg_class c
 where c.relnamespace = 'tollgate'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
   and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
   and (exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname in ('account_id', 'user_id')
                  and a.attnum > 0 and not a.attisdropped)
        or exists (select 1 from pg_constraint con
                     join pg_attribute fa on fa.attrelid = con.conrelid and fa.attnum = con.conkey[1]
                    where con.contype = 'f' and con.confrelid = c.oid and fa.attname = 'account_id'));

select isnt_empty($$ select 1 from billing_tables where name = 'tollgate.accounts' and key = 'id' $$,
  'the accounts table counts as billing data, keyed by id (the sanity check of the view the next rules read)');

select is_empty($$
  select pol.polname || ' on ' || b.name || ': applies to ' || case r when 0 then 'public' else r::regrole::text end
         || ', but the table holds billing data; restrict the policy to authenticated'
    from pg_policy pol
    join billing_tables b on b.oid = pol.polrelid
   cross join unnest(pol.polroles) r
   where r = 0 or r = 'anon'::regrole
$$, 'no policy on billing data applies to anon or public');

select is_empty($$
  select b.name || ': anon holds ' || m.priv || '; revoke all on table ' || b.name || ' from anon'
    from billing_tables b
   cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) m(priv)
   where has_table_privilege('anon', b.oid, m.priv)
      or (m.priv in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES') and has_any_column_privilege('anon', b.oid, m.priv))
$$, 'anon holds no privilege, on the table or any column, on billing data');

-- Membership, not presence: every permissive policy authenticated gets on billing data must, in each expression
-- it has, test its account key against the caller's accounts (key in (select tollgate.member_accounts(...)),
-- the one membership helper) with no OR or NOT around it (so `user_hash is not null`, `using (true)` and
-- `... or true` are all refused); a table with no account key compares user_id with (select auth.uid()).
select is_empty($$
  select pol.polname || ' on ' || b.name || ': ' || e.clause || ' ' || coalesce(e.expr, '(none)')
         || ' does not check membership; use ' || e.clause || ' ('
         || coalesce(b.key || ' in (select tollgate.member_accounts())', 'user_id = (select auth.uid())') || ')'
    from pg_policy pol
    join billing_tables b on b.oid = pol.polrelid
   cross join lateral (
     select 'using' as clause, pg_get_expr(pol.polqual, pol.polrelid) as expr where pol.polcmd <> 'a'
     union all
     select 'with check', pg_get_expr(pol.polwithcheck, pol.polrelid)
      where pol.polcmd in ('a', 'w') or (pol.polcmd = '*' and pol.polwithcheck is not null)
   ) e
   where pol.polpermissive
     and ('authenticated'::regrole = any (pol.polroles) or 0 = any (pol.polroles))
     and (e.expr is null
          or not case when b.key is not null
                      then e.expr ~ ('(^|[^.\w])' || b.key || ' IN \( SELECT tollgate\.member_accounts\(')
                      else e.expr ~ '(^|[^.\w])user_id = \( SELECT auth\.uid\(\) AS uid\)' end
          or strpos(e.expr, ' OR ') > 0
          or strpos(e.expr, 'NOT (') > 0)
$$, 'every policy authenticated gets on billing data checks membership through tollgate.member_accounts()');

-- splinter 0003: a bare auth.uid() in a policy is evaluated once per row; (select auth.uid()) once per statement.
select is_empty($$
  select pol.polname || ' on ' || pol.polrelid::regclass::text || ': calls auth.' || m.fn
         || '() bare; wrap it as (select auth.' || m.fn || '())'
    from pg_policy pol
    join pg_class c on c.oid = pol.polrelid
   cross join lateral (
     select pg_get_expr(pol.polqual, pol.polrelid) as expr
     union all
     select pg_get_expr(pol.polwithcheck, pol.polrelid)
   ) e
   cross join lateral (
     select (regexp_match(regexp_replace(e.expr, 'SELECT \(*auth\.(uid|jwt|role)\(\)', '', 'g'),
                          'auth\.(uid|jwt|role)\(\)'))[1] as fn
   ) m
   where c.relnamespace = 'tollgate'::regnamespace and m.fn is not null
$$, 'policies call (select auth.uid()), never a bare auth.uid(), auth.jwt() or auth.role()');

select is_empty($$
  select c.oid::regclass::text || ': no primary key; add one (alter table ' || c.oid::regclass::text
         || ' add primary key (...))'
    from pg_class c
   where c.relnamespace = 'tollgate'::regnamespace and c.relkind in ('r', 'p')
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
     and not exists (select 1 from pg_constraint con where con.conrelid = c.oid and con.contype = 'p')
$$, 'every table in tollgate has a primary key');

-- The catalogue is the documentation (the snapshot, the ERD and Studio show it): every function and table says why.
select is_empty($$
  select 'function ' || p.oid::regprocedure::text || ': add comment on function' from pg_proc p
   where p.pronamespace = 'tollgate'::regnamespace and obj_description(p.oid, 'pg_proc') is null
  union all
  select 'table ' || c.oid::regclass::text || ': add comment on table' from pg_class c
   where c.relnamespace = 'tollgate'::regnamespace and c.relkind in ('r', 'p') and obj_description(c.oid, 'pg_class') is null
$$, 'every function and table in tollgate carries a comment');

select * from finish();
rollback;
