#!/bin/sh
# The role Tidemark streams, backs up and dumps with, and its replication line in pg_hba.conf (docs/operations.md).
set -e
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" <<'SQL'
CREATE ROLE tidemark WITH LOGIN REPLICATION PASSWORD 'tidemark';
GRANT pg_read_all_data, pg_read_all_settings, pg_read_all_stats TO tidemark;
GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO tidemark;
GRANT EXECUTE ON FUNCTION pg_backup_stop(boolean) TO tidemark;
SQL
echo "host replication tidemark all scram-sha-256" >> "$PGDATA/pg_hba.conf"
