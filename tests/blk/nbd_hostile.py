#!/usr/bin/env python3
"""Hostile NBD clients for suite_blk_nbd_limits.sh. Usage: nbd_hostile.py SOCKET TEST [ARGS]

  nul                 OPT_GO and OPT_INFO for "disk\\0evil" must be refused
  silent N            open N connections that send nothing; print "ready", hold them until stdin closes
  go N                N clients negotiate "disk" and then send nothing; "ready", hold
  served N            N clients negotiate "disk", each has a READ answered (so the server
                      has a worker thread for it); "ready", hold
  stall N MIB         N clients start a 32 MiB WRITE, send MIB MiB of it and stall; "ready", hold
  closed-within S     a silent connection is closed by the server within S seconds
  idle-closed-within S  a client in transmission that sends nothing is closed within S seconds
  turned-away         a connection is closed before the server's greeting
Exit status 0 when the server behaved, 1 (with a line on stderr) when not.
"""
import socket
import struct
import sys
import time

NBD_MAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x0003E889045565A9
OPT_INFO, OPT_GO = 6, 7
REP_ACK, REP_INFO = 1, 3
REQUEST_MAGIC = 0x25609513
REPLY_MAGIC = 0x67446698
CMD_READ, CMD_WRITE = 0, 1


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("server closed the connection")
        data += chunk
    return data


def greet(s):
    magic, opt, _flags = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBD_MAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES


def option(s, opt, name):
    """Sends OPT_GO/OPT_INFO for name; returns the reply types up to the final one."""
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)
    types = []
    while True:
        magic, _opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
        assert magic == REP_MAGIC, "bad option reply magic"
        recv_exact(s, rlen)
        types.append(rtype)
        if rtype != REP_INFO:
            return types


def negotiated(path):
    """A client in transmission on "disk"."""
    s = connect(path)
    greet(s)
    if option(s, OPT_GO, b"disk")[-1] != REP_ACK:
        fail("OPT_GO for 'disk' refused")
    return s


def fail(why):
    print("nbd_hostile: " + why, file=sys.stderr)
    sys.exit(1)


def hold(conns):
    print("ready", flush=True)
    sys.stdin.read()
    for c in conns:
        c.close()


def waits_for_close(s, limit):
    s.settimeout(limit)
    t = time.monotonic()
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        fail("still open after %g s" % limit)
    except ConnectionError:
        pass
    print("closed after %.1f s" % (time.monotonic() - t))


def main():
    path, test, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if test == "nul":
        for opt in (OPT_INFO, OPT_GO):
            s = connect(path)
            greet(s)
            types = option(s, opt, b"disk\0evil")
            if types[-1] == REP_ACK or REP_INFO in types:
                fail("option %d for 'disk\\0evil' was answered %s" % (opt, types))
            s.close()
        negotiated(path)  # a proper name still works
    elif test == "silent":
        hold([connect(path) for _ in range(int(args[0]))])
    elif test == "go":
        hold([negotiated(path) for _ in range(int(args[0]))])
    elif test == "served":
        conns = []
        for _ in range(int(args[0])):
            s = negotiated(path)
            s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_READ, 1, 0, 4096))
            magic, error, _handle = struct.unpack(">IIQ", recv_exact(s, 16))
            if magic != REPLY_MAGIC or error:
                fail("READ answered with magic %#x, error %d" % (magic, error))
            recv_exact(s, 4096)
            conns.append(s)
        hold(conns)
    elif test == "stall":
        conns = []
        for _ in range(int(args[0])):
            s = negotiated(path)
            s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_WRITE, 1, 0, 32 << 20))
            s.sendall(b"\x5a" * (int(args[1]) << 20))
            conns.append(s)
        hold(conns)
    elif test == "closed-within":
        s = connect(path)
        recv_exact(s, 18)
        waits_for_close(s, float(args[0]))
    elif test == "idle-closed-within":
        waits_for_close(negotiated(path), float(args[0]))
    elif test == "turned-away":
        s = connect(path)
        s.settimeout(5)
        try:
            if s.recv(18):
                fail("greeted")
        except ConnectionError:
            pass
    else:
        fail("unknown test " + test)


if __name__ == "__main__":
    main()
