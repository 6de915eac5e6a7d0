"""A TCP relay on loopback in front of a live server: a device's link that can stall (a
phone in a tunnel) — while stalled, nothing moves either way, and it all flows on after."""

import selectors
import socket
import threading

from tests.conftest import LiveServer


class StallingLink:
    def __init__(self, server: LiveServer) -> None:
        host, port = server.url.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.flowing = threading.Event()
        self.flowing.set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.done.set()
        self.flowing.set()
        self.thread.join(timeout=5)
        self.listener.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        self.listener.setblocking(False)
        sel.register(self.listener, selectors.EVENT_READ, None)
        peers: dict[socket.socket, socket.socket] = {}
        while not self.done.is_set():
            if not self.flowing.is_set():
                self.flowing.wait(0.05)  # stalled: read nothing, so nothing is passed on
                continue
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    client, _addr = self.listener.accept()
                    upstream = socket.create_connection(self.target)
                    for one in (client, upstream):
                        one.setblocking(True)
                        sel.register(one, selectors.EVENT_READ, None)
                    peers[client], peers[upstream] = upstream, client
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                other = peers.get(sock)
                if data and other is not None:
                    try:
                        other.sendall(data)
                        continue
                    except OSError:
                        pass
                for end in (sock, other):
                    if end is not None and end in peers:
                        sel.unregister(end)
                        peers.pop(end, None)
                        end.close()
        for end in list(peers):
            end.close()
        sel.close()
