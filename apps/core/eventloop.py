"""The event loop the ASGI server runs on, once a request or socket has shown it.

Code running in a worker thread (ORM work, periodic jobs) hands coroutines to it: the
in-memory channel layer only works from its own loop, and publishing there need not
hold the worker thread."""

import asyncio

_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop() -> None:
    """Called from inside the ASGI app: note the loop the server runs on."""
    global _server_loop
    if _server_loop is None:
        _server_loop = asyncio.get_running_loop()


def server_loop_from_a_thread() -> asyncio.AbstractEventLoop | None:
    """The server's loop if it is running and we are not on it, else None."""
    loop = _server_loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    try:
        if asyncio.get_running_loop() is loop:
            return None
    except RuntimeError:
        pass
    return loop
