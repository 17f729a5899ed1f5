#!/usr/bin/env bash
# Development run (the README's first command runs this through `make run`): the service on
# 127.0.0.1:8080 with SQLite and development auth settings, and the demo FHIR server on 127.0.0.1:8081.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
.venv/bin/gunicorn --bind 127.0.0.1:8081 --workers 1 --log-level warning 'demo.fhir_server:create_app()' &
demo=$!
trap 'kill "$demo" 2>/dev/null || true' EXIT INT TERM
echo "Discovery URL:    http://127.0.0.1:8080/cds-services"
echo "Demo FHIR server: http://127.0.0.1:8081/fhir  (e.g. /fhir/Patient/demo-diazepam-taper; see demo/patients.json)"
CDS_AUTH=optional CDS_TRUSTED_ISSUERS=dev/trusted-issuers.dev.json CDS_DATA_DIR=var CDS_CORS_ORIGINS="${CDS_CORS_ORIGINS:-loopback}" \
  .venv/bin/gunicorn --config deploy/gunicorn.conf.py 'cds_service:create_app()'
