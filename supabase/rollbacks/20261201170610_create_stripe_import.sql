-- Rollback of 20261201170610_create_stripe_import.sql: its functions, in reverse order.

drop function if exists tollgate.import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb);
drop function if exists tollgate._import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb, timestamptz);
drop function if exists tollgate._import_stripe_subscription(uuid, text, jsonb, timestamptz, jsonb, timestamptz);
