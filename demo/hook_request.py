"""Print a demo patient's scenario as a CDS Hooks order-sign call, dated today (or ``--on DATE``).

    python -m demo.hook_request demo-older-adult | curl -s -X POST \\
        http://127.0.0.1:8080/cds-services/bzd-taper-order-sign -H 'Content-Type: application/json' -d @-

Without ``--prefetch`` the call names the demo FHIR server and the service reads the record from it; with it,
the record travels in the call (what ``demo/order-baclofen.json`` holds, for offline use).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date

from demo.fhir_server import demo_patients, hook_request, today_utc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.hook_request", description=__doc__.splitlines()[0])
    parser.add_argument("patient", choices=sorted(demo_patients()))
    parser.add_argument("--on", type=date.fromisoformat, default=None, help="the order date (default today, UTC)")
    parser.add_argument("--prefetch", action="store_true", help="carry the record in the call")
    parser.add_argument("--fhir-server", default=f"http://127.0.0.1:{os.environ.get('FHIR_PORT', '8081')}/fhir")
    args = parser.parse_args(argv)
    body = hook_request(args.patient, None if args.prefetch else args.fhir_server, args.on or today_utc(),
                        with_prefetch=args.prefetch)
    json.dump(body, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
