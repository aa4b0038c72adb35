-- Rollback of 20261123001020_create_usage_settings.sql.

drop table if exists public.usage_settings;
