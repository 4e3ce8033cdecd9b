"""`python -m envsim.testing.fake_server --port 0 --latency 0.2 [--handler module:fn]`: prints the URL, serves."""

from __future__ import annotations

import argparse
import sys

from envsim.errors import EnvsimError
from envsim.testing.fake_server.serve import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envsim.testing.fake_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--jitter", type=float, default=0.0, help="latency varies uniformly by +- this much")
    parser.add_argument("--handler", default=None, help="module:function computing replies (default: mock)")
    parser.add_argument("--api-key", default=None, help="the key clients must send (default: any key)")
    parser.add_argument("--fault", action="append", default=[], help="KIND=RATE, e.g. rate_limit=0.05")
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds on 429/529")
    parser.add_argument("--batch-delay", type=float, default=0.0, help="seconds a batch takes to process")
    parser.add_argument("--batch-expire-after", type=float, default=None, help="batches expire after this")
    parser.add_argument("--batch-fault", action="append", default=[], help="batch rows: KIND=RATE")
    parser.add_argument("--exit-with-stdin", action="store_true", help="stop when stdin closes (parent gone)")
    args = parser.parse_args(argv)
    try:
        serve(
            host=args.host,
            port=args.port,
            latency=args.latency,
            jitter=args.jitter,
            handler=args.handler,
            api_key=args.api_key,
            faults=args.fault,
            retry_after=args.retry_after,
            exit_with_stdin=args.exit_with_stdin,
            batch_delay=args.batch_delay,
            batch_expire_after=args.batch_expire_after,
            batch_faults=args.batch_fault,
        )
    except EnvsimError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
