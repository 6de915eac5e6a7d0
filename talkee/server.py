"""`python -m talkee.server [--host H] [--port P]`: daphne with Talkee's options.

One place for them, used by `make run` and by the tests' live servers:
- no access log: a line per request would pair client addresses and times with chat
  and message ids, which sealed sender promises not to keep;
- WebSocket messages up to the handshake cap (16 MiB of MLS, base64 in JSON).
"""

import argparse
import os

from daphne.cli import CommandLineInterface

WEBSOCKET_MAX_BYTES = 24 * 1024 * 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    CommandLineInterface().run(
        [
            "-v",
            "0",
            "-b",
            args.host,
            "-p",
            str(args.port),
            "--websocket-max-message-size",
            str(WEBSOCKET_MAX_BYTES),
            "--websocket-max-frame-size",
            str(WEBSOCKET_MAX_BYTES),
            "talkee.asgi:application",
        ]
    )


if __name__ == "__main__":
    main()
