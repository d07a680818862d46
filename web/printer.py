"""Send ZPL to a network label printer over raw TCP ("port 9100" printing).

Zebra and compatible thermal printers take ZPL as plain bytes on TCP port 9100 (no handshake,
no reply), so sending is: connect, write everything, close. The printer is named by the site's
configuration ``TALLY_PRINTER`` as ``host:port`` (the port defaults to 9100).
"""

import socket

DEFAULT_PORT = 9100
TIMEOUT = 5.0  # seconds to connect and to hand over each chunk; a printer is on the local network


class PrinterUnavailable(OSError):
    """The printer could not be reached or did not take the data."""


def parse_printer(spec: str) -> tuple[str, int]:
    """``"host:port"``, ``"host"`` or ``"[v6addr]:port"`` as (host, port); ValueError if bad."""
    text = (spec or "").strip()
    if not text:
        raise ValueError("printer address is empty")
    if text.startswith("["):  # [2001:db8::7]:9100
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"printer address has no host: {spec!r}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"printer port must be a number from 1 to 65535: {spec!r}")
    return host, int(port_text)


def send_zpl(spec: str, zpl: str | bytes, *, timeout: float = TIMEOUT) -> int:
    """Send ZPL to the printer at ``spec``; return the number of bytes sent.

    PrinterUnavailable when it cannot be connected to or the connection breaks.
    """
    host, port = parse_printer(spec)
    data = zpl.encode() if isinstance(zpl, str) else bytes(zpl)
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(data)
            # Half-close so the printer sees the end of the job before the socket goes away.
            connection.shutdown(socket.SHUT_WR)
    except OSError as exc:
        raise PrinterUnavailable(f"printer {host}:{port} cannot be reached: {exc}") from exc
    return len(data)
