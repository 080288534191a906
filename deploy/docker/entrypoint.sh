#!/bin/sh
# Entry point of the GrowLength images: turns secret files into settings, then runs the program ("$@") in its place.
#
#   GROWLENGTH_POSTGRES_PASSWORD_FILE  a file holding the PostgreSQL password only (a compose secret, a mounted Secret):
#                                      appended as Password=... to GROWLENGTH__POSTGRESCONNECTION, so the connection string
#                                      itself (host, user, database) can stay in plain configuration.
#   GROWLENGTH_DASHBOARD_PASSWORD_FILE a file holding the Orleans Dashboard's password: becomes GROWLENGTH__DASHBOARDPASSWORD.
#
# One underscore after GROWLENGTH: these are not silo settings, and .NET configuration ignores them.
set -eu

# Reads a secret file without its trailing newline (command substitution drops it).
secret() {
  if [ ! -r "$1" ]; then
    echo "error: $2: cannot read $1" >&2
    exit 2
  fi
  cat "$1"
}

if [ -n "${GROWLENGTH_POSTGRES_PASSWORD_FILE:-}" ]; then
  password=$(secret "$GROWLENGTH_POSTGRES_PASSWORD_FILE" GROWLENGTH_POSTGRES_PASSWORD_FILE)
  case "${GROWLENGTH__POSTGRESCONNECTION:-}" in
    "")
      echo "error: GROWLENGTH_POSTGRES_PASSWORD_FILE is set but GROWLENGTH__POSTGRESCONNECTION is not" >&2
      exit 2
      ;;
    *[Pp]assword=*)
      echo "error: GROWLENGTH__POSTGRESCONNECTION already has a password; give it there or in GROWLENGTH_POSTGRES_PASSWORD_FILE, not both" >&2
      exit 2
      ;;
  esac
  # Quoted as a connection-string value ("..." with inner quotes doubled), so ; and = in the password are its own.
  quoted=$(printf '%s' "$password" | sed 's/"/""/g')
  GROWLENGTH__POSTGRESCONNECTION="${GROWLENGTH__POSTGRESCONNECTION%;};Password=\"$quoted\""
  export GROWLENGTH__POSTGRESCONNECTION
  unset password quoted
fi

if [ -n "${GROWLENGTH_DASHBOARD_PASSWORD_FILE:-}" ]; then
  GROWLENGTH__DASHBOARDPASSWORD=$(secret "$GROWLENGTH_DASHBOARD_PASSWORD_FILE" GROWLENGTH_DASHBOARD_PASSWORD_FILE)
  export GROWLENGTH__DASHBOARDPASSWORD
fi

exec "$@"
