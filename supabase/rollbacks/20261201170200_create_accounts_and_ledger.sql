-- Rollback of 20261201170200_create_accounts_and_ledger.sql, in reverse order: the functions, then the tables (with
-- their indexes, triggers and policies), then the types.

drop function if exists tollgate.set_member_cap(uuid, uuid, bigint, text);
drop function if exists tollgate.remove_account_member(uuid, uuid);
drop function if exists tollgate.add_account_member(uuid, uuid, text);
drop function if exists tollgate._member_manager(uuid, text);
drop function if exists tollgate.check_ledger(uuid);
drop function if exists tollgate.grant_credits(uuid, bigint, text, text, timestamptz, jsonb);
drop function if exists tollgate._valid_metadata(jsonb);
drop function if exists tollgate.release_expired_holds(timestamptz, integer);
drop function if exists tollgate._settle_hold(uuid, uuid, bigint, text, timestamptz);
drop function if exists tollgate._expire_holds(uuid, timestamptz);
drop function if exists tollgate._hold_credits(uuid, bigint, text, integer, text, jsonb, timestamptz, uuid);
drop function if exists tollgate._debit(uuid, bigint, boolean, text, text, jsonb, timestamptz, uuid, uuid, text, jsonb);
drop function if exists tollgate._require_available(uuid, bigint);
drop function if exists tollgate._draw_lots(uuid, bigint, timestamptz);
drop function if exists tollgate._grant_lot(uuid, tollgate.credit_source, bigint, timestamptz, integer, text, jsonb,
  timestamptz);
drop function if exists tollgate._low_balance_threshold(tollgate.accounts);
drop function if exists tollgate._post_ledger(uuid, bigint, bigint, text, text, uuid, jsonb, timestamptz, uuid, uuid,
  text, jsonb);
drop function if exists tollgate._lock_account(uuid);
drop function if exists tollgate._acting_member(uuid, uuid);
drop table if exists tollgate.credit_holds;
drop table if exists tollgate.credit_ledger;
drop function if exists tollgate._refuse_ledger_change();
drop table if exists tollgate.credit_lots;
drop type if exists tollgate.credit_source;
drop table if exists tollgate.account_members;
drop table if exists tollgate.accounts;
drop function if exists tollgate.member_accounts(tollgate.member_role[]);
drop type if exists tollgate.member_role;
drop type if exists tollgate.account_kind;
