"""`tally customs-sim`: serve the simulated customs side until interrupted."""

import argparse
import sys

from customs_sim.core import MODES
from customs_sim.folders import FolderExchange
from customs_sim.server import serve


def main(argv: list[str] | None = None) -> int:
    """CLI: serve until interrupted, printing the base URL on stdout first."""
    parser = argparse.ArgumentParser(
        prog="tally customs-sim",
        description="Simulated customs special-area system (INV101, SAS121 and their receipts, "
                    "the gate lane's SAS223 / SAS224, write-off).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    parser.add_argument("--state", metavar="FILE",
                        help="JSON file that keeps state across restarts")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--count", type=int, help="requests the mode applies to (default: all)")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds, for --mode slow")
    parser.add_argument("--reason", help="the reason a store-fail or return gives")
    parser.add_argument("--approve-after", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--customs-code", default="4230",
                        help="4 digits, used in bondInvtNo and passportNo")
    parser.add_argument("--outbox", metavar="DIR",
                        help="also take messages from this folder (the file-drop transport)")
    parser.add_argument("--inbox", metavar="DIR",
                        help="with --outbox: where answers and receipts are written")
    parser.add_argument("--sent", metavar="DIR",
                        help="with --outbox: where sent files go (default: SentBox beside it)")
    parser.add_argument("--fail", metavar="DIR", help="with --outbox: where files the client "
                        "could not send go (default: FailBox beside it)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    options = {"reason": args.reason} if args.reason else {}
    try:
        sim = serve(args.host, args.port, state_path=args.state, mode=args.mode,
                    count=args.count, delay=args.delay, approve_after=args.approve_after,
                    customs_code=args.customs_code, log=not args.quiet, **options)
    except (OSError, ValueError) as e:
        print(f"customs simulator: {e}", file=sys.stderr)
        return 1
    folders = None
    if args.outbox or args.inbox:
        if not (args.outbox and args.inbox):
            sim.stop()
            print("customs simulator: --outbox and --inbox go together", file=sys.stderr)
            return 1
        # The receipts written so far are remembered beside the state, so a restart writes
        # none twice.
        position = f"{args.state}.inbox-position" if args.state else None
        folders = FolderExchange(sim.customs, args.outbox, args.inbox, sent=args.sent,
                                 fail=args.fail, position_file=position).start()
    print(sim.url, flush=True)
    try:
        sim.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if folders is not None:
            folders.stop()
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
