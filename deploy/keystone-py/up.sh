#!/usr/bin/env bash
# up.sh - run an unmodified Python OpenStack Keystone (Debian bookworm's
# keystone 22 "Zed" packages) on 127.0.0.1 for keystone-ng's interop tests and
# benchmarks. keystone-ng shares its database and Fernet keys.
#
# What it does, each step skipped when already done:
#   1. apt-get installs the packages (non-interactive; debconf preseeded so the
#      keystone package neither configures a database nor bootstraps; a
#      temporary policy-rc.d keeps maintainer scripts from starting daemons);
#   2. finds (or starts) MariaDB / PostgreSQL on 127.0.0.1 and creates the
#      database and its login, or uses an SQLite file in the state dir;
#   3. writes keystone.conf and uwsgi.ini into the state dir;
#   4. keystone-manage db_sync, fernet_setup, credential_setup, bootstrap
#      (as the keystone user);
#   5. starts uWSGI (2 processes x 1 thread by default), waits for the API and
#      checks a password token round trip;
#   6. writes $KSPY_STATE_DIR/env and $KSPY_STATE_DIR/admin-openrc.
#
# Knobs (environment): KSPY_DB=mysql|postgresql|sqlite, KSPY_PORT, KSPY_STATE_DIR,
# KSPY_DB_NAME, KSPY_RESET=1, KSPY_CACHE=1, KSPY_EXTRA_CONF, KSPY_BCRYPT_ROUNDS,
# KSPY_TOKEN_EXPIRATION, KSPY_TOKEN_PROVIDER=fernet|jws ... - see README.md. Run as root on Debian bookworm.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# shellcheck disable=SC2154 # rc is assigned inside the trap string
trap 'rc=$?; printf "[keystone-py] ERROR: up.sh line %s: \"%s\" exited with %s; logs are in %s\n" "$LINENO" "$BASH_COMMAND" "$rc" "$KSPY_LOG_DIR" >&2; exit $rc' ERR

check_common_settings
case "$KSPY_BCRYPT_ROUNDS$KSPY_TOKEN_EXPIRATION$KSPY_PROCESSES$KSPY_THREADS$KSPY_MEMCACHED_PORT" in
  *[!0-9]*) fail "KSPY_BCRYPT_ROUNDS, KSPY_TOKEN_EXPIRATION, KSPY_PROCESSES, KSPY_THREADS, KSPY_MEMCACHED_PORT must be numbers" ;;
esac
if [ -n "$KSPY_LDAP_DOMAIN" ]; then
  case "$KSPY_LDAP_DOMAIN" in *[!A-Za-z0-9_-]*) fail "KSPY_LDAP_DOMAIN may only use letters, digits, _ and -" ;; esac
  [ -r "$KSPY_LDAP_ENV" ] || fail "KSPY_LDAP_DOMAIN needs the env file of deploy/ldap/up.sh (KSPY_LDAP_ENV=$KSPY_LDAP_ENV is not readable)"
  # shellcheck source=/dev/null
  . "$KSPY_LDAP_ENV"
fi
if [ -n "$KSPY_EXTRA_CONF" ] && [ ! -r "$KSPY_EXTRA_CONF" ]; then
  fail "KSPY_EXTRA_CONF=$KSPY_EXTRA_CONF is not a readable file"
fi
case "$KSPY_ADMIN_USER$KSPY_ADMIN_PASSWORD$KSPY_ADMIN_PROJECT" in
  *[\"\\\']*) fail "KSPY_ADMIN_* must not contain quotes or backslashes" ;;
esac

take_lock "$KSPY_STATE_DIR" up.sh/down.sh
T0=$(date +%s)

# ----------------------------------------------------------------- packages
APT_LOG="${TMPDIR:-/tmp}/keystone-ng-py-apt.log"
want_pkgs=(keystone python3-keystone python3-openstackclient python3-keystonemiddleware
  uwsgi-plugin-python3 python3-pymysql python3-psycopg2 curl iproute2 util-linux)
case "$KSPY_DB" in
  mysql) want_pkgs+=(mariadb-server mariadb-client) ;;
  postgresql) want_pkgs+=(postgresql postgresql-client) ;;
  sqlite) want_pkgs+=(sqlite3) ;;
esac
[ "$KSPY_CACHE" = 1 ] && want_pkgs+=(memcached python3-pymemcache)
[ -n "$KSPY_LDAP_DOMAIN" ] && want_pkgs+=(python3-ldap python3-ldappool)
# KSPY_EXTRA_PKGS: more Debian packages the caller's tests need (the
# interop suite asks for chromium, for the passkey browser test).
# shellcheck disable=SC2206
[ -n "${KSPY_EXTRA_PKGS:-}" ] && want_pkgs+=($KSPY_EXTRA_PKGS)

if [ -n "$(apt_missing "${want_pkgs[@]}")" ]; then
  # Answer the keystone package's questions up front: no dbconfig-common
  # database, no admin tenant, no endpoint registration.
  debconf-set-selections <<'EOF'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
dbconfig-common dbconfig-common/dbconfig-install boolean false
EOF
fi
apt_install "$APT_LOG" "${want_pkgs[@]}"
getent passwd "$KSPY_SERVICE_USER" >/dev/null || fail "user $KSPY_SERVICE_USER does not exist (did the keystone package install?)"
KSPY_VERSION=$(dpkg-query -W -f='${Version}' python3-keystone)

# ---------------------------------------------------------------- state dir
mkdir -p "$KSPY_STATE_DIR" "$KSPY_RUN_DIR" "$KSPY_LOG_DIR"
chmod 0755 "$KSPY_STATE_DIR"
chmod 0700 "$KSPY_RUN_DIR"
chown "$KSPY_SERVICE_USER:$KSPY_SERVICE_USER" "$KSPY_LOG_DIR"
chmod 0755 "$KSPY_LOG_DIR"
MANAGE_LOG="$KSPY_LOG_DIR/keystone-manage.log"

# fail early if someone else serves on our port
if listening_on "$KSPY_PORT" && ! recorded_pid uwsgi >/dev/null; then
  fail "127.0.0.1:$KSPY_PORT is in use by a process this state dir ($KSPY_STATE_DIR) did not start; stop it or choose another KSPY_PORT"
fi

# a database recorded by an earlier run with other settings would be orphaned
if [ -s "$KSPY_RUN_DIR/db" ]; then
  prev=$(cat "$KSPY_RUN_DIR/db")
  now="$KSPY_DB $KSPY_DB_NAME"
  [ "$prev" = "$now" ] || fail "state dir $KSPY_STATE_DIR belongs to database '$prev', not '$now'; run down.sh --purge for it or pick another KSPY_STATE_DIR"
fi

if [ "$KSPY_RESET" = 1 ]; then
  say "KSPY_RESET=1: stopping keystone, dropping the database, wiping keys and config"
  stop_recorded uwsgi TERM
fi

# ----------------------------------------------------------------- database
start_mariadb() {
  if mysql_admin -e 'SELECT 1' >/dev/null 2>&1; then
    listening_on "$KSPY_DB_PORT" || fail "MariaDB runs but does not listen on 127.0.0.1:$KSPY_DB_PORT (KSPY_DB_PORT)"
    return 0
  fi
  listening_on "$KSPY_DB_PORT" && fail "port $KSPY_DB_PORT is taken, but root cannot log into MariaDB through its socket"
  say "starting MariaDB on 127.0.0.1:$KSPY_DB_PORT (datadir /var/lib/mysql)"
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$KSPY_LOG_DIR/mariadb-install-db.log" 2>&1 ||
      fail "mariadb-install-db failed, see $KSPY_LOG_DIR/mariadb-install-db.log"
  fi
  setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --port="$KSPY_DB_PORT" \
    --log-error="$KSPY_LOG_DIR/mariadb.err" </dev/null >/dev/null 2>&1 9>&- &
  remember_pid mariadb $! || fail "mariadbd exited at once, see $KSPY_LOG_DIR/mariadb.err"
  wait_while_alive mariadb 60 mysql_admin -e 'SELECT 1' >/dev/null 2>&1 && return 0
  fail "MariaDB did not come up, see $KSPY_LOG_DIR/mariadb.err"
}
start_postgresql() {
  local ver cl datadir
  if pg_isready -q -h 127.0.0.1 -p "$KSPY_DB_PORT"; then return 0; fi
  read -r ver cl _ _ _ datadir _ < <(pg_lsclusters -h | awk -v p="$KSPY_DB_PORT" '$3 == p' | head -n 1) || true
  if [ -z "${ver:-}" ]; then
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
    say "creating PostgreSQL cluster $ver/keystone_ng on port $KSPY_DB_PORT"
    pg_createcluster -p "$KSPY_DB_PORT" "$ver" keystone_ng >"$KSPY_LOG_DIR/pg_createcluster.log" 2>&1 ||
      fail "pg_createcluster failed, see $KSPY_LOG_DIR/pg_createcluster.log"
    read -r ver cl _ _ _ datadir _ < <(pg_lsclusters -h | awk -v p="$KSPY_DB_PORT" '$3 == p' | head -n 1)
  fi
  say "starting PostgreSQL cluster $ver/$cl on port $KSPY_DB_PORT"
  pg_ctlcluster "$ver" "$cl" start 9>&- || fail "pg_ctlcluster $ver $cl start failed (logs in /var/log/postgresql)"
  remember_pid postgresql "$(head -n 1 "$datadir/postmaster.pid")" || true
  wait_until 60 pg_isready -q -h 127.0.0.1 -p "$KSPY_DB_PORT" && return 0
  fail "PostgreSQL on port $KSPY_DB_PORT did not accept connections"
}

case "$KSPY_DB" in
  mysql)
    start_mariadb
    printf '%s\n' "$KSPY_DB $KSPY_DB_NAME" >"$KSPY_RUN_DIR/db"
    [ "$KSPY_RESET" = 1 ] && drop_database
    mysql_admin <<EOF || fail "could not create MariaDB database $KSPY_DB_NAME / login $KSPY_DB_USER"
CREATE DATABASE IF NOT EXISTS \`$KSPY_DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS '$KSPY_DB_USER'@'127.0.0.1' IDENTIFIED BY '$KSPY_DB_PASSWORD';
CREATE USER IF NOT EXISTS '$KSPY_DB_USER'@'localhost' IDENTIFIED BY '$KSPY_DB_PASSWORD';
GRANT ALL PRIVILEGES ON \`$KSPY_DB_NAME\`.* TO '$KSPY_DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$KSPY_DB_NAME\`.* TO '$KSPY_DB_USER'@'localhost';
EOF
    KSPY_DB_URL="mysql+pymysql://$KSPY_DB_USER:$KSPY_DB_PASSWORD@127.0.0.1:$KSPY_DB_PORT/$KSPY_DB_NAME?charset=utf8mb4"
    ;;
  postgresql)
    start_postgresql
    printf '%s\n' "$KSPY_DB $KSPY_DB_NAME" >"$KSPY_RUN_DIR/db"
    [ "$KSPY_RESET" = 1 ] && drop_database
    # the DO block tolerates a concurrent up.sh creating the same role
    pg_admin >/dev/null <<EOF || fail "could not create PostgreSQL login $KSPY_DB_USER"
DO \$\$ BEGIN
  CREATE ROLE "$KSPY_DB_USER" LOGIN PASSWORD '$KSPY_DB_PASSWORD';
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END \$\$;
EOF
    if [ "$(pg_admin -tAc "SELECT count(*) FROM pg_database WHERE datname = '$KSPY_DB_NAME'")" = 0 ]; then
      pg_admin -c "CREATE DATABASE \"$KSPY_DB_NAME\" OWNER \"$KSPY_DB_USER\" ENCODING 'UTF8' TEMPLATE template0" >/dev/null ||
        fail "could not create PostgreSQL database $KSPY_DB_NAME"
    fi
    KSPY_DB_URL="postgresql+psycopg2://$KSPY_DB_USER:$KSPY_DB_PASSWORD@127.0.0.1:$KSPY_DB_PORT/$KSPY_DB_NAME"
    ;;
  sqlite)
    printf '%s\n' "$KSPY_DB $KSPY_DB_NAME" >"$KSPY_RUN_DIR/db"
    [ "$KSPY_RESET" = 1 ] && drop_database
    # SQLite needs a directory the uWSGI workers (keystone user) can write to
    install -d -o "$KSPY_SERVICE_USER" -g "$KSPY_SERVICE_USER" -m 0750 "$KSPY_SQLITE_DIR"
    KSPY_DB_URL="sqlite:///$KSPY_SQLITE_DIR/$KSPY_DB_NAME.db"
    ;;
esac

if [ "$KSPY_RESET" = 1 ]; then
  rm -rf "$KSPY_FERNET_DIR" "$KSPY_CREDENTIAL_DIR" "$KSPY_JWS_DIR" "$KSPY_RUN_DIR/setup.sum"
  find "$KSPY_LOG_DIR" -mindepth 1 -maxdepth 1 -type f -delete
fi

# ---------------------------------------------------------------- memcached
if [ "$KSPY_CACHE" = 1 ]; then
  if ! recorded_pid memcached >/dev/null; then
    listening_on "$KSPY_MEMCACHED_PORT" && fail "port $KSPY_MEMCACHED_PORT (KSPY_MEMCACHED_PORT) is taken by a process this state dir did not start"
    say "starting memcached on 127.0.0.1:$KSPY_MEMCACHED_PORT"
    setsid /usr/bin/memcached -u memcache -l 127.0.0.1 -p "$KSPY_MEMCACHED_PORT" -U 0 -m 64 \
      </dev/null >>"$KSPY_LOG_DIR/memcached.log" 2>&1 9>&- &
    remember_pid memcached $! || fail "memcached exited at once, see $KSPY_LOG_DIR/memcached.log"
    wait_for_port "$KSPY_MEMCACHED_PORT" 10 || fail "memcached does not listen on $KSPY_MEMCACHED_PORT"
  fi
  cache_section="[cache]
enabled = true
backend = dogpile.cache.pymemcache
memcache_servers = 127.0.0.1:$KSPY_MEMCACHED_PORT"
else
  stop_recorded memcached TERM
  cache_section="[cache]
enabled = false"
fi

# -------------------------------------------------------------- config files
identity_extra=""
rm -rf "$KSPY_DOMAINS_DIR"
if [ -n "$KSPY_LDAP_DOMAIN" ]; then
  identity_extra="domain_specific_drivers_enabled = true
domain_config_dir = $KSPY_DOMAINS_DIR"
  install -d -o root -g "$KSPY_SERVICE_USER" -m 0750 "$KSPY_DOMAINS_DIR"
  dom_tmp=$(mktemp "$KSPY_RUN_DIR/domain.conf.XXXXXX")
  # Read-only LDAP as operators configure it; users are enabled through
  # employeeType (deploy/ldap/dataset.ldif).
  cat >"$dom_tmp" <<EOF
# written by keystone-ng deploy/keystone-py/up.sh (KSPY_LDAP_DOMAIN)
[identity]
driver = ldap

[ldap]
url = $KSLDAP_URL
user = $KSLDAP_ADMIN_DN
password = $KSLDAP_ADMIN_PASSWORD
suffix = $KSLDAP_SUFFIX
user_tree_dn = ou=Users,$KSLDAP_SUFFIX
group_tree_dn = ou=UserGroups,$KSLDAP_SUFFIX
user_objectclass = inetOrgPerson
user_id_attribute = cn
user_name_attribute = sn
user_mail_attribute = mail
user_enabled_attribute = employeeType
group_objectclass = groupOfNames
group_id_attribute = cn
group_name_attribute = ou
group_member_attribute = member
query_scope = one
use_pool = true
EOF
  install -o root -g "$KSPY_SERVICE_USER" -m 0640 "$dom_tmp" "$KSPY_DOMAINS_DIR/keystone.$KSPY_LDAP_DOMAIN.conf"
  rm -f "$dom_tmp"
fi
conf_tmp=$(mktemp "$KSPY_RUN_DIR/keystone.conf.XXXXXX")
ini_tmp=$(mktemp "$KSPY_RUN_DIR/uwsgi.ini.XXXXXX")
{
  cat <<EOF
# written by keystone-ng deploy/keystone-py/up.sh; rewritten on every run
[DEFAULT]
debug = $KSPY_DEBUG
log_dir = $KSPY_LOG_DIR
log_file = keystone.log
use_stderr = false

[database]
connection = $KSPY_DB_URL

[identity]
default_domain_id = default
password_hash_algorithm = bcrypt
password_hash_rounds = $KSPY_BCRYPT_ROUNDS
$identity_extra

[token]
provider = $KSPY_TOKEN_PROVIDER
expiration = $KSPY_TOKEN_EXPIRATION

[fernet_tokens]
key_repository = $KSPY_FERNET_DIR
max_active_keys = 3

[fernet_receipts]
key_repository = $KSPY_FERNET_DIR
max_active_keys = 3

[credential]
provider = fernet
key_repository = $KSPY_CREDENTIAL_DIR

$cache_section
EOF
  if [ "$KSPY_TOKEN_PROVIDER" = jws ]; then
    printf '\n[jwt_tokens]\njws_private_key_repository = %s\njws_public_key_repository = %s\n' \
      "$KSPY_JWS_PRIVATE_DIR" "$KSPY_JWS_PUBLIC_DIR"
  fi
  if [ -n "$KSPY_NOTIFICATIONS" ]; then
    # Python's notifier on the message bus (docs/audit.md): every event,
    # successful logins included (Python's default opts out of those).
    printf '\n[DEFAULT]\ntransport_url = %s\nnotification_format = cadf\nnotification_opt_out =\n\n[oslo_messaging_notifications]\ndriver = messagingv2\n' \
      "$KSPY_NOTIFICATIONS"
  fi
  if [ -n "$KSPY_EXTRA_CONF" ]; then
    printf '\n# ---- appended from KSPY_EXTRA_CONF (%s)\n' "$KSPY_EXTRA_CONF"
    cat "$KSPY_EXTRA_CONF"
  fi
} >"$conf_tmp"

# uWSGI settings follow Debian's /etc/keystone/keystone-uwsgi.ini, but small
# (processes x threads), loopback only, and self-daemonising with a pidfile
# written by the (root) master before it drops to the keystone user.
cat >"$ini_tmp" <<EOF
# written by keystone-ng deploy/keystone-py/up.sh; rewritten on every run
[uwsgi]
plugins = python3
wsgi-file = /usr/bin/keystone-wsgi-public
http-socket = $KSPY_HOST:$KSPY_PORT
master = true
processes = $KSPY_PROCESSES
threads = $KSPY_THREADS
enable-threads = true
thunder-lock = true
lazy-apps = true
buffer-size = 65535
listen = 100
uid = $KSPY_SERVICE_USER
gid = $KSPY_SERVICE_USER
chdir = /var/lib/keystone
env = OS_KEYSTONE_CONFIG_FILES=$KSPY_CONF
die-on-term = true
no-orphans = true
name = keystone-ng-interop-$KSPY_PORT
pidfile = $KSPY_RUN_DIR/uwsgi.master.pid
daemonize = $KSPY_LOG_DIR/uwsgi.log
EOF

config_changed=0
cmp -s "$conf_tmp" "$KSPY_CONF" || config_changed=1
cmp -s "$ini_tmp" "$KSPY_UWSGI_INI" || config_changed=1
install -o root -g "$KSPY_SERVICE_USER" -m 0640 "$conf_tmp" "$KSPY_CONF"
install -o root -g root -m 0644 "$ini_tmp" "$KSPY_UWSGI_INI"
rm -f "$conf_tmp" "$ini_tmp"

# ----------------------------------------------------------- keystone-manage
as_keystone() { runuser -u "$KSPY_SERVICE_USER" -- "$@"; }
manage() { # keystone-manage <args> as the keystone user, output to keystone-manage.log
  local t=$SECONDS
  printf '\n=== %s keystone-manage %s\n' "$(date -u +%FT%TZ)" "$1" >>"$MANAGE_LOG"
  if ! as_keystone keystone-manage --config-file "$KSPY_CONF" "$@" >>"$MANAGE_LOG" 2>&1 9>&-; then
    tail -n 25 "$MANAGE_LOG" >&2
    fail "keystone-manage $1 failed; see $MANAGE_LOG and $KSPY_LOG_DIR/keystone.log"
  fi
  say "keystone-manage $1 ok ($((SECONDS - t))s)"
}
api_up() { curl --noproxy '*' -sf -m 5 -o /dev/null "$KSPY_URL"; }
# password login (project admin) -> token, then validate it with itself
token_round_trip() {
  local body headers token
  body=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"id":"default"}}}}}' \
    "$KSPY_ADMIN_USER" "$KSPY_ADMIN_PASSWORD" "$KSPY_ADMIN_PROJECT")
  headers=$(curl --noproxy '*' -sf -m 60 -D - -o /dev/null -H 'Content-Type: application/json' -d "$body" "$KSPY_URL/auth/tokens") ||
    { say "password login (POST $KSPY_URL/auth/tokens) failed"; return 1; }
  token=$(printf '%s\n' "$headers" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p')
  [ -n "$token" ] || { say "no X-Subject-Token header in the login response"; return 1; }
  curl --noproxy '*' -sf -m 60 -o /dev/null -H "X-Auth-Token: $token" -H "X-Subject-Token: $token" "$KSPY_URL/auth/tokens" ||
    { say "validating the new token (GET $KSPY_URL/auth/tokens) failed"; return 1; }
}

# (re)start uWSGI, wait for the API and a token round trip
start_uwsgi() {
  stop_recorded uwsgi TERM
  if listening_on "$KSPY_PORT"; then
    fail "127.0.0.1:$KSPY_PORT is in use by a process this state dir did not start; stop it or choose another KSPY_PORT"
  fi
  rm -f "$KSPY_RUN_DIR/uwsgi.master.pid"
  say "starting uWSGI ($KSPY_PROCESSES processes x $KSPY_THREADS threads) on $KSPY_HOST:$KSPY_PORT"
  /usr/bin/uwsgi_python3 --ini "$KSPY_UWSGI_INI" </dev/null >>"$KSPY_LOG_DIR/uwsgi.log" 2>&1 9>&- ||
    fail "uwsgi_python3 --ini $KSPY_UWSGI_INI failed, see $KSPY_LOG_DIR/uwsgi.log"
  remember_pidfile uwsgi "$KSPY_RUN_DIR/uwsgi.master.pid" ||
    fail "uWSGI wrote no pidfile or exited right after start; see $KSPY_LOG_DIR/uwsgi.log"
  if ! wait_while_alive uwsgi "$KSPY_START_TIMEOUT" api_up; then
    tail -n 30 "$KSPY_LOG_DIR/uwsgi.log" >&2 || true
    fail "keystone did not answer on $KSPY_URL (uWSGI log: $KSPY_LOG_DIR/uwsgi.log, keystone log: $KSPY_LOG_DIR/keystone.log)"
  fi
  token_round_trip || fail "keystone answers on $KSPY_URL but a password token round trip failed; see $KSPY_LOG_DIR/keystone.log"
}

# ensure_ldap_domain: create the domain KSPY_LDAP_DOMAIN through the API
# unless it exists; succeeds only when it was created now.
ensure_ldap_domain() {
  local body headers token found
  body=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"id":"default"}}}}}' \
    "$KSPY_ADMIN_USER" "$KSPY_ADMIN_PASSWORD" "$KSPY_ADMIN_PROJECT")
  headers=$(curl --noproxy '*' -sf -m 60 -D - -o /dev/null -H 'Content-Type: application/json' -d "$body" "$KSPY_URL/auth/tokens") ||
    fail "admin login for creating domain $KSPY_LDAP_DOMAIN failed"
  token=$(printf '%s\n' "$headers" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p')
  found=$(curl --noproxy '*' -sf -m 60 -H "X-Auth-Token: $token" "$KSPY_URL/domains?name=$KSPY_LDAP_DOMAIN") ||
    fail "listing domains failed"
  case "$found" in *'"name": "'"$KSPY_LDAP_DOMAIN"'"'* | *'"name":"'"$KSPY_LDAP_DOMAIN"'"'*) return 1 ;; esac
  say "creating domain $KSPY_LDAP_DOMAIN (LDAP, $KSLDAP_URL)"
  curl --noproxy '*' -sf -m 60 -o /dev/null -H "X-Auth-Token: $token" -H 'Content-Type: application/json' \
    -d "{\"domain\":{\"name\":\"$KSPY_LDAP_DOMAIN\",\"description\":\"LDAP ($KSLDAP_URL)\"}}" "$KSPY_URL/domains" ||
    fail "creating domain $KSPY_LDAP_DOMAIN failed"
}

# Everything that determines the setup; identical sum + healthy server = nothing to do.
setup_sum=$({
  echo "recipe-2 $KSPY_VERSION $KSPY_URL $KSPY_ADMIN_USER $KSPY_ADMIN_PASSWORD $KSPY_ADMIN_PROJECT $KSPY_REGION $KSPY_LDAP_DOMAIN"
  cat "$KSPY_CONF" "$KSPY_UWSGI_INI"
  [ -z "$KSPY_LDAP_DOMAIN" ] || cat "$KSPY_DOMAINS_DIR/keystone.$KSPY_LDAP_DOMAIN.conf"
} | sha256sum | cut -c1-64)

if [ "$KSPY_RESET" != 1 ] && [ "${KSPY_FORCE_SETUP:-0}" != 1 ] && [ "$config_changed" = 0 ] &&
  [ "$(cat "$KSPY_RUN_DIR/setup.sum" 2>/dev/null || true)" = "$setup_sum" ] &&
  [ -s "$KSPY_FERNET_DIR/0" ] && { [ "$KSPY_TOKEN_PROVIDER" != jws ] || [ -s "$KSPY_JWS_PRIVATE_DIR/private.pem" ]; } &&
  recorded_pid uwsgi >/dev/null && api_up && token_round_trip; then
  say "already running with this configuration (uWSGI master pid $(recorded_pid uwsgi)); nothing to do"
else
  rm -f "$KSPY_RUN_DIR/setup.sum"
  # SQLite: Keystone's idle uWSGI workers keep read locks, which would block
  # db_sync and the WAL switch below; restart uWSGI around the setup instead.
  [ "$KSPY_DB" = sqlite ] && stop_recorded uwsgi TERM
  for d in "$KSPY_FERNET_DIR" "$KSPY_CREDENTIAL_DIR"; do
    install -d -o "$KSPY_SERVICE_USER" -g "$KSPY_SERVICE_USER" -m 0700 "$d"
  done
  manage db_sync
  if [ "$KSPY_DB" = sqlite ]; then
    # WAL: Keystone (oslo.db emits its own BEGIN) leaves idle connections in
    # an open read transaction, and in the default rollback-journal mode that
    # shared lock makes every write from the other uWSGI process (or from
    # anyone) fail with "database is locked" after 5 s. In WAL mode readers
    # never block a writer. The mode is stored in the file; run as keystone so
    # the -wal/-shm files belong to it.
    as_keystone sqlite3 "$KSPY_SQLITE_DIR/$KSPY_DB_NAME.db" 'PRAGMA journal_mode=WAL;' >/dev/null ||
      fail "could not switch $KSPY_SQLITE_DIR/$KSPY_DB_NAME.db to WAL mode"
  fi
  [ -s "$KSPY_FERNET_DIR/0" ] || manage fernet_setup --keystone-user "$KSPY_SERVICE_USER" --keystone-group "$KSPY_SERVICE_USER"
  [ -s "$KSPY_CREDENTIAL_DIR/0" ] || manage credential_setup --keystone-user "$KSPY_SERVICE_USER" --keystone-group "$KSPY_SERVICE_USER"
  if [ "$KSPY_TOKEN_PROVIDER" = jws ] && [ ! -s "$KSPY_JWS_PRIVATE_DIR/private.pem" ]; then
    # create_jws_keypair writes private.pem and public.pem into its working
    # directory (keystone/cmd/cli.py CreateJWSKeyPair); the keystone user
    # reads both (it signs and validates), nobody else reads the private key.
    install -d -o "$KSPY_SERVICE_USER" -g "$KSPY_SERVICE_USER" -m 0750 "$KSPY_JWS_DIR"
    install -d -o "$KSPY_SERVICE_USER" -g "$KSPY_SERVICE_USER" -m 0700 "$KSPY_JWS_PRIVATE_DIR"
    install -d -o "$KSPY_SERVICE_USER" -g "$KSPY_SERVICE_USER" -m 0750 "$KSPY_JWS_PUBLIC_DIR"
    rm -f "$KSPY_JWS_PRIVATE_DIR/public.pem" "$KSPY_JWS_PUBLIC_DIR/public.pem"
    (cd "$KSPY_JWS_PRIVATE_DIR" && manage create_jws_keypair --keystone-user "$KSPY_SERVICE_USER" --keystone-group "$KSPY_SERVICE_USER")
    mv "$KSPY_JWS_PRIVATE_DIR/public.pem" "$KSPY_JWS_PUBLIC_DIR/public.pem"
    chmod 0600 "$KSPY_JWS_PRIVATE_DIR/private.pem"
    chmod 0640 "$KSPY_JWS_PUBLIC_DIR/public.pem"
  fi
  OS_BOOTSTRAP_PASSWORD="$KSPY_ADMIN_PASSWORD" manage bootstrap \
    --bootstrap-username "$KSPY_ADMIN_USER" \
    --bootstrap-project-name "$KSPY_ADMIN_PROJECT" \
    --bootstrap-role-name admin \
    --bootstrap-service-name keystone \
    --bootstrap-region-id "$KSPY_REGION" \
    --bootstrap-public-url "$KSPY_URL" \
    --bootstrap-internal-url "$KSPY_URL" \
    --bootstrap-admin-url "$KSPY_URL"

  start_uwsgi
  if [ -n "$KSPY_LDAP_DOMAIN" ] && ensure_ldap_domain; then
    # Python reads the domain configuration files once per worker, and
    # ignores a file whose domain does not exist yet: restart so that the
    # workers load the domain created just now.
    start_uwsgi
  fi
  printf '%s\n' "$setup_sum" >"$KSPY_RUN_DIR/setup.sum"
fi

# ------------------------------------------------------------------ outputs
uwsgi_pid=$(recorded_pid uwsgi)
q() { # shell-quote only when needed, with single quotes (simple for other parsers)
  case "$1" in
    *[!A-Za-z0-9_./:@+=,-]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
    *) printf '%s' "$1" ;;
  esac
}
cat >"$KSPY_STATE_DIR/admin-openrc" <<EOF
# source this file: admin credentials for the Python Keystone of $KSPY_STATE_DIR
export OS_AUTH_URL=$(q "$KSPY_URL")
export OS_AUTH_TYPE=password
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$(q "$KSPY_ADMIN_USER")
export OS_PASSWORD=$(q "$KSPY_ADMIN_PASSWORD")
export OS_PROJECT_NAME=$(q "$KSPY_ADMIN_PROJECT")
export OS_USER_DOMAIN_ID=default
export OS_PROJECT_DOMAIN_ID=default
export OS_REGION_NAME=$(q "$KSPY_REGION")
export OS_INTERFACE=public
EOF
chmod 0600 "$KSPY_STATE_DIR/admin-openrc"

# KEY=VALUE lines, one per line, shell-quoted only where needed; the Go
# interop helpers parse this file too (they strip one level of quotes).
env_tmp=$(mktemp "$KSPY_RUN_DIR/env.XXXXXX")
{
  echo "# Python Keystone started by keystone-ng deploy/keystone-py/up.sh; source me"
  for v in KSPY_VERSION KSPY_URL KSPY_HOST KSPY_PORT KSPY_CONF KSPY_DB KSPY_DB_URL KSPY_DB_NAME \
    KSPY_DB_PORT KSPY_FERNET_DIR KSPY_CREDENTIAL_DIR KSPY_TOKEN_PROVIDER KSPY_JWS_PRIVATE_DIR KSPY_JWS_PUBLIC_DIR KSPY_STATE_DIR KSPY_LOG_DIR KSPY_UWSGI_INI \
    KSPY_ADMIN_USER KSPY_ADMIN_PASSWORD KSPY_ADMIN_PROJECT KSPY_REGION KSPY_TOKEN_EXPIRATION \
    KSPY_BCRYPT_ROUNDS KSPY_CACHE KSPY_SERVICE_USER KSPY_NOTIFICATIONS; do
    printf '%s=%s\n' "$v" "$(q "${!v}")"
  done
  if [ "$KSPY_CACHE" = 1 ]; then printf 'KSPY_MEMCACHED_PORT=%s\n' "$KSPY_MEMCACHED_PORT"; else echo KSPY_MEMCACHED_PORT=; fi
  printf 'KSPY_LDAP_DOMAIN=%s\n' "$KSPY_LDAP_DOMAIN"
  if [ -n "$KSPY_LDAP_DOMAIN" ]; then
    for v in KSLDAP_URL KSLDAP_SUFFIX KSLDAP_ADMIN_DN KSLDAP_ADMIN_PASSWORD KSLDAP_USER_PASSWORD; do
      printf '%s=%s\n' "$v" "$(q "${!v}")"
    done
  fi
  printf 'KSPY_PID=%s\n' "$uwsgi_pid"
} >"$env_tmp"
chmod 0600 "$env_tmp"
mv -f "$env_tmp" "$KSPY_STATE_DIR/env"

say "ready in $(($(date +%s) - T0))s: Python Keystone $KSPY_VERSION at $KSPY_URL (db $KSPY_DB, uWSGI pid $uwsgi_pid)"
say "env file: $KSPY_STATE_DIR/env   openrc: $KSPY_STATE_DIR/admin-openrc   logs: $KSPY_LOG_DIR"
say "stop: KSPY_DB=$KSPY_DB KSPY_STATE_DIR=$KSPY_STATE_DIR $HERE/down.sh [--purge]"
