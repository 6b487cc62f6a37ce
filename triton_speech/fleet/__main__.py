"""``make fleet``: N Triton replicas and two gateways behind HAProxy, with PostgreSQL and an S3 object store; Ctrl-C
or SIGTERM stops everything.

    python -m triton_speech.fleet --model-repository model_repository [--replicas 2]

The balanced Triton answers where ``make serve`` does (TRITON_GRPC_PORT, TRITON_HTTP_PORT), the balanced gateways
where ``make app`` does (APP_PORT). DATABASE_URL names an existing database (else a PostgreSQL server of the fleet's
own), APP_MEDIA_URL an existing bucket (else the fleet's object store); FLEET_REPLICAS the number of replicas.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from triton_speech import defaults
from triton_speech.fleet.children import FleetError, Stopping
from triton_speech.fleet.fleet import Fleet, FleetSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", default="model_repository",
                        help="the built repository: a folder (uploaded to the fleet's object store) or an s3:// URL")
    parser.add_argument("--replicas", type=int, default=defaults.from_env("FLEET_REPLICAS", int),
                        help="Triton replicas (FLEET_REPLICAS, default %(default)s)")
    parser.add_argument("--gateways", type=int, default=defaults.FLEET_GATEWAYS, help="gateway processes")
    parser.add_argument("--run-dir", type=Path, default=Path(defaults.FLEET_RUN_DIR),
                        help="logs, the balancer's configuration and the page's key (default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the database's migrations, step by step
    try:
        fleet = Fleet(FleetSettings(str(args.model_repository), replicas=args.replicas, gateways=args.gateways,
                                    run_dir=args.run_dir))
    except FleetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    def request_stop(signum, _frame):
        fleet.stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    code = 0
    try:
        fleet.start()
        print(fleet.describe(), flush=True)
        fleet.run()
    except Stopping:
        pass
    except (FleetError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        code = 1
    finally:
        print("Stopping the fleet ...", flush=True)
        left = fleet.stop()
    if left:
        print("killed what outlived its parent: " + "; ".join(left), file=sys.stderr)
    print("Fleet stopped: nothing of it runs." if not left else "Fleet stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
