"""`python -m talkee.server [--host H] [--port P] [--server daphne|uvicorn] [--s2s]`.

One place for Talkee's server options, used by `make run` (daphne, the default) and by
the tests' live servers; production may pick uvicorn, which `bench/delivery` measured
faster and which applies back-pressure to slow downloads:
- no access log: a line per request would pair client addresses and times with chat
  and message ids, which sealed sender promises not to keep;
- WebSocket messages up to the handshake cap (16 MiB of MLS, base64 in JSON);
- no per-message deflate (it doubles an idle socket's memory, bench/delivery).

`--s2s` runs the server-to-server listener instead (mutual TLS, talkee/s2s.py), on
TALKEE_FEDERATION_PORT (8448) unless --port is given.
"""

import argparse
import os

WEBSOCKET_MAX_BYTES = 24 * 1024 * 1024


def run_daphne(host: str, port: int) -> None:
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(
        [
            "-v", "0",
            "-b", host,
            "-p", str(port),
            "--websocket-max-message-size", str(WEBSOCKET_MAX_BYTES),
            "--websocket-max-frame-size", str(WEBSOCKET_MAX_BYTES),
            "talkee.asgi:application",
        ]
    )  # fmt: skip


def run_uvicorn(host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        "talkee.asgi:application",
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=WEBSOCKET_MAX_BYTES,
        ws_per_message_deflate=False,
        access_log=False,
        log_level="warning",
        # Which fronts are trusted with X-Forwarded-For is decided once, in talkee.asgi.
        proxy_headers=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default=os.environ.get("TALKEE_SERVER", "daphne"))
    parser.add_argument("--s2s", action="store_true", help="the server-to-server listener (mutual TLS)")
    args = parser.parse_args(argv)
    if args.s2s:
        from talkee import s2s

        s2s.run(args.host, args.port)
        return
    port = args.port or int(os.environ.get("PORT", "8000"))
    (run_uvicorn if args.server == "uvicorn" else run_daphne)(args.host, port)


if __name__ == "__main__":
    main()
