#!/bin/bash
# The official postgres image's documented contract, written anew for the look-alike:
# POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER (default
# postgres), POSTGRES_DB (default: the user's name), PGDATA, POSTGRES_INITDB_ARGS, the scripts in
# /docker-entrypoint-initdb.d (*.sh, *.sql) run once on an empty data folder, the server runs as
# the postgres user and listens on every address of the container.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	user="${POSTGRES_USER:-postgres}"
	db="${POSTGRES_DB:-$user}"
	auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != 'trust' ]; then
		echo 'error: database is uninitialized and superuser password is not specified.' >&2
		echo '  fix: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, which allows anyone in)' >&2
		exit 1
	fi
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of arguments, as in the official image
	initdb --username="$user" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-}
	# The official image's socket folder (and /tmp, where this build's psql and pg_isready look by default).
	printf "\nlisten_addresses = '*'\nunix_socket_directories = '/var/run/postgresql,/tmp'\n" >> "$PGDATA/postgresql.conf"
	printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
	export PGUSER="$user" PGPASSWORD="${POSTGRES_PASSWORD:-}" PGHOST=/var/run/postgresql
	if [ "$db" != 'postgres' ]; then
		psql -v ON_ERROR_STOP=1 --no-psqlrc -d postgres -q -c "create database \"$db\""
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) echo "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
			*.sql) echo "$0: running $f"; psql -v ON_ERROR_STOP=1 --no-psqlrc -d "$db" -f "$f" ;;
			*.sql.gz) echo "$0: running $f"; gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-psqlrc -d "$db" ;;
			*) [ -e "$f" ] && echo "$0: ignoring $f" ;;
		esac
	done
	unset PGPASSWORD
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
