#!/usr/bin/env python3
"""One long-lived TCP connection, checked end to end (no socat needed).

    tcp_echo.py server PORT READY_FILE
        echoes every line back, on any number of connections, until SIGTERM
    tcp_echo.py client IP PORT OUT_FILE [INTERVAL_MS] [TIMEOUT_MS]
        connects once, then sends a numbered line every INTERVAL_MS (100) and
        waits up to TIMEOUT_MS (2000) for its echo. On SIGTERM, or when the
        connection breaks (reset, timeout, wrong echo), writes "key value"
        lines to OUT_FILE and exits:
            connected 1
            local 192.0.2.2:40312
            sent 512
            echoed 512
            failed 0            (1 once the connection broke)
            error -             (what broke it)
            max_rtt_ms 3.2
"""
import os
import selectors
import signal
import socket
import sys
import time


def server(port, ready):
    sel = selectors.DefaultSelector()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(16)
    sel.register(ls, selectors.EVENT_READ)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with open(ready, "w") as f:
        f.write("%d\n" % os.getpid())
    while not stop:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                continue
            s.sendall(data)
    return 0


def client(ip, port, out, interval_ms, timeout_ms):
    st = {"connected": 0, "local": "-", "sent": 0, "echoed": 0, "failed": 0, "error": "-",
          "max_rtt_ms": 0.0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))

    def report():
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            for k, v in st.items():
                f.write("%s %s\n" % (k, ("%.1f" % v) if isinstance(v, float) else v))
        os.rename(tmp, out)

    try:
        s = socket.create_connection((ip, port), timeout=timeout_ms / 1000)
    except OSError as e:
        st["failed"], st["error"] = 1, "connect: %s" % e
        report()
        return 1
    st["connected"] = 1
    st["local"] = "%s:%d" % s.getsockname()[:2]
    s.settimeout(timeout_ms / 1000)
    buf = b""
    report()
    while not stop:
        n = st["sent"] + 1
        line = b"ping %d\n" % n
        t0 = time.monotonic()
        try:
            s.sendall(line)
            st["sent"] = n
            while b"\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("connection closed by the peer")
                buf += chunk
            got, buf = buf.split(b"\n", 1)
            if got + b"\n" != line:
                raise OSError("echo mismatch: sent %r got %r" % (line, got))
        except (OSError, socket.timeout) as e:
            if stop:  # SIGTERM interrupted the wait: not a failure
                break
            st["failed"], st["error"] = 1, ("%s" % e).replace("\n", " ") or type(e).__name__
            break
        st["echoed"] = n
        st["max_rtt_ms"] = max(st["max_rtt_ms"], (time.monotonic() - t0) * 1000)
        if st["echoed"] % 50 == 0:
            report()
        rest = interval_ms / 1000 - (time.monotonic() - t0)
        if rest > 0 and not stop:
            time.sleep(rest)
    report()
    s.close()
    return 0 if not st["failed"] else 1


def main(argv):
    if len(argv) == 3 and argv[0] == "server":
        return server(int(argv[1]), argv[2])
    if len(argv) >= 4 and argv[0] == "client":
        return client(argv[1], int(argv[2]), argv[3], int(argv[4]) if len(argv) > 4 else 100,
                      int(argv[5]) if len(argv) > 5 else 2000)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
