#!/usr/bin/env bash
# Development run (the README's first command runs this through `make run`): the service on 127.0.0.1:$PORT
# (default 8080) with SQLite and development auth settings, and the demo FHIR server on 127.0.0.1:$FHIR_PORT
# (default 8081). Refuses to start, saying why, when either port is already taken.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8080}"
FHIR_PORT="${FHIR_PORT:-8081}"
PY="${VENV:-.venv}/bin/python"  # make run passes its VENV

# Prints what holds 127.0.0.1:PORT ("free", "bzd-taper-cds", "demo-fhir" or "other") — without curl.
port_owner() {
  "$PY" - "$1" <<'EOF'
import json, socket, sys, urllib.request
port = int(sys.argv[1])
with socket.socket() as sock:
    sock.settimeout(0.5)
    if sock.connect_ex(("127.0.0.1", port)) != 0:
        print("free"); raise SystemExit
for path, owner in (("/cds-services", "bzd-taper-cds"), ("/fhir/metadata", "demo-fhir")):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            body = answer.read().decode("utf-8", "replace")
        if "bzd-taper" in body:
            print(owner); raise SystemExit
    except (OSError, ValueError):
        pass
print("other")
EOF
}

check_port() {  # name, port, variable
  case "$(port_owner "$2")" in
    free) return 0 ;;
    bzd-taper-cds|demo-fhir)
      echo "${1^} is already running on 127.0.0.1:$2 (another 'make run'?). Use it as it is, stop it first" \
           "(Ctrl-C in its terminal), or choose other ports: PORT=9080 FHIR_PORT=9081 make run" >&2 ;;
    *)
      echo "Port $2 on 127.0.0.1 is used by another program: cannot start $1 there." \
           "Choose another port: $3=<port> make run" >&2 ;;
  esac
  exit 1
}
check_port "the bzd-taper-cds service" "$PORT" PORT
check_port "the demo FHIR server" "$FHIR_PORT" FHIR_PORT

mkdir -p var
"$PY" -m gunicorn --bind "127.0.0.1:$FHIR_PORT" --workers 1 --log-level warning 'demo.fhir_server:create_app()' &
demo=$!
trap 'kill "$demo" 2>/dev/null || true' EXIT INT TERM
echo "Discovery URL:    http://127.0.0.1:$PORT/cds-services"
echo "Demo FHIR server: http://127.0.0.1:$FHIR_PORT/fhir  (demo patients: README, demo/patients.json)"
CDS_BIND="127.0.0.1:$PORT" CDS_PUBLIC_BASE_URL="http://127.0.0.1:$PORT" \
  CDS_AUTH=optional CDS_TRUSTED_ISSUERS=dev/trusted-issuers.dev.json CDS_DATA_DIR=var CDS_CORS_ORIGINS="${CDS_CORS_ORIGINS:-loopback}" \
  "$PY" -m gunicorn --config deploy/gunicorn.conf.py 'cds_service:create_app()'
