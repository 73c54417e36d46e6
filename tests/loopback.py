"""A free TCP port on the loopback interface, for the tests that start a server (the app, torchrun's rendezvous)."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now; the OS picks it, so parallel test runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
