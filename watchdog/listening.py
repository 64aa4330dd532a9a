"""Binding the daemon's port: one socket taking IPv4 and IPv6 for `::`, and `CannotListen`,
which says a failure to bind in the system's words and what they mean here (asgi_server.py
serves on what this binds)."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket


class CannotListen(Exception):
    """The port could not be bound (in use, a privileged port, an address not of this host, a
    name that does not resolve), said in the system's words and what they mean here. Every such
    failure said "Unknown error -2" for a server.host name that does not resolve (the resolver's
    codes are no errno), and the command asked whether another watchdog used the port whatever
    the failure (`in_use` says when that is the question)."""

    def __init__(self, host: str, port: int, error: BaseException | None) -> None:
        code = error.errno if isinstance(error, OSError) else None
        self.in_use = code == errno.EADDRINUSE
        if isinstance(error, socket.gaierror):
            words = f"{error.strerror} (the name does not resolve here)"
        elif isinstance(error, OSError) and code:
            words = os.strerror(code) + _BIND_ERRORS.get(code, "")
        elif isinstance(error, OSError) and error.strerror:
            words = error.strerror
        else:
            words = "the server did not start"
        super().__init__(f"cannot listen on {host}:{port}: {words}")


_BIND_ERRORS = {
    errno.EADDRNOTAVAIL: " (not an address of this machine: 0.0.0.0 listens on every IPv4 one, :: on every one)",
    errno.EACCES: " (a port below 1024 needs privileges this process lacks)",
}


def every_address_socket(host: str, port: int) -> socket.socket | None:
    """For `::` (every IPv6 address), one socket that takes IPv4 too (IPV6_V6ONLY off), as Go,
    Java and most servers listen on `::`; None for any other host. asyncio turns IPV6_V6ONLY on
    for the sockets it makes, so `::` answered IPv6 only, and 0.0.0.0 (the default) IPv4 only: no
    setting served both the pod's address in an IPv6-only Kubernetes cluster (the kubelet's
    probes, Prometheus) and 127.0.0.1, which the image's HEALTHCHECK and the runbook's
    `--daemon http://127.0.0.1:9464` ask."""
    try:
        unspecified = ipaddress.ip_address(host) == ipaddress.IPv6Address("::")
    except ValueError:
        return None
    if not unspecified:
        return None
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CannotListen(host, port, exc) from None
    return sock
