#!/usr/bin/env python3
"""A pipelining NBD client for suite_blk_nbd_concurrent.sh. Usage: nbd_client.py SOCKET TEST [ARGS]

  inflight N      N requests in flight on one connection (structured replies on): reads of
                  blocks written first and writes of new ones; every reply's handle, kind and
                  data checked; prints how many replies overtook earlier requests
  multiconn SEED  writes 64 blocks on connection A (replies taken, no FLUSH), then FLUSH on
                  connection B; prints "flushed" (the server may be killed from then on)
  check SEED      those 64 blocks read back as written
Exit status 0 when the server behaved, 1 (with a line on stderr) when not.
"""
import socket
import struct
import sys
import threading

NBD_MAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCTURED_MAGIC = 0x668E33EF
OPT_GO, OPT_STRUCTURED_REPLY = 7, 8
REP_ACK, REP_INFO = 1, 3
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
REPLY_FLAG_DONE, TYPE_OFFSET_DATA = 1, 1
FLAG_CAN_MULTI_CONN = 1 << 8
BS = 4096


def fail(why):
    print("nbd_client: " + why, file=sys.stderr)
    sys.exit(1)


def recv_exact(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            fail("server closed the connection")
        data += chunk
    return bytes(data)


def option(s, opt, data):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)
    infos = []
    while True:
        magic, _opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
        if magic != REP_MAGIC:
            fail("bad option reply magic")
        payload = recv_exact(s, rlen)
        if rtype != REP_INFO:
            return rtype, infos
        infos.append(payload)


def connect(path, structured):
    """Returns (socket, transmission flags) in transmission on export "disk"."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    magic, opt, _flags = struct.unpack(">QQH", recv_exact(s, 18))
    if magic != NBD_MAGIC or opt != IHAVEOPT:
        fail("bad greeting")
    s.sendall(struct.pack(">I", 3))
    if structured and option(s, OPT_STRUCTURED_REPLY, b"")[0] != REP_ACK:
        fail("structured replies refused")
    rtype, infos = option(s, OPT_GO, struct.pack(">I", 4) + b"disk" + struct.pack(">H", 0))
    if rtype != REP_ACK:
        fail("OPT_GO refused")
    flags = [struct.unpack(">HQH", i)[2] for i in infos if struct.unpack(">H", i[:2])[0] == 0]
    return s, flags[0]


def request(s, cmd, handle, off, length, data=b""):
    s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, cmd, handle, off, length) + data)


def block(seed, lba):
    head = struct.pack("<QQ", seed, lba)
    return (head * (BS // len(head)))


def simple_reply(s):
    magic, err, handle = struct.unpack(">IIQ", recv_exact(s, 16))
    if magic != SIMPLE_MAGIC:
        fail("bad reply magic %#x" % magic)
    return err, handle


def inflight(path, n):
    s, _ = connect(path, True)
    # First the blocks the reads will find.
    for lba in range(64):
        request(s, CMD_WRITE, lba, lba * BS, BS, block(1, lba))
    for _ in range(64):
        if simple_reply(s)[0]:
            fail("setup write failed")

    def send():
        for i in range(n):
            if i % 2:
                lba = 64 + i // 2 % 64
                request(s, CMD_WRITE, i, lba * BS, BS, block(2, lba))
            else:
                request(s, CMD_READ, i, (i // 2 % 64) * BS, BS)

    t = threading.Thread(target=send)
    t.start()
    seen, overtook, last = set(), 0, -1
    for _ in range(n):
        magic = struct.unpack(">I", recv_exact(s, 4))[0]
        if magic == SIMPLE_MAGIC:
            err, handle = struct.unpack(">IQ", recv_exact(s, 12))
            if handle % 2 == 0 or err:
                fail("simple reply for handle %d (error %d): reads get structured ones" % (handle, err))
        elif magic == STRUCTURED_MAGIC:
            flags, rtype, handle, length = struct.unpack(">HHQI", recv_exact(s, 16))
            if handle % 2 or flags != REPLY_FLAG_DONE or rtype != TYPE_OFFSET_DATA or length != 8 + BS:
                fail("chunk %d/%d/%d/%d for handle %d" % (flags, rtype, handle, length, handle))
            off = struct.unpack(">Q", recv_exact(s, 8))[0]
            lba = handle // 2 % 64
            if off != lba * BS or recv_exact(s, BS) != block(1, lba):
                fail("read %d: wrong offset or data" % handle)
        else:
            fail("bad reply magic %#x" % magic)
        if handle >= n or handle in seen:
            fail("unexpected or repeated handle %d" % handle)
        seen.add(handle)
        overtook += handle < last
        last = handle
    t.join()
    for lba in range(64, 128):
        request(s, CMD_READ, lba, lba * BS, BS)
        recv_exact(s, 20 + 8)
        if recv_exact(s, BS) != block(2, lba):
            fail("write to block %d lost" % lba)
    request(s, CMD_DISC, 0, 0, 0)
    print("%d replies checked, %d came before an earlier request's" % (n, overtook))


def multiconn(path, seed):
    a, flags = connect(path, False)
    b, _ = connect(path, False)
    if not flags & FLAG_CAN_MULTI_CONN:
        fail("multi-conn not advertised")
    for lba in range(64):
        request(a, CMD_WRITE, lba, lba * BS, BS, block(seed, lba))
    for _ in range(64):
        if simple_reply(a)[0]:
            fail("write failed")
    request(b, CMD_FLUSH, 99, 0, 0)
    err, handle = simple_reply(b)
    if err or handle != 99:
        fail("FLUSH on the second connection failed")
    print("flushed", flush=True)


def check(path, seed):
    s, _ = connect(path, False)
    for lba in range(64):
        request(s, CMD_READ, lba, lba * BS, BS)
        err, handle = simple_reply(s)
        if err or handle != lba or recv_exact(s, BS) != block(seed, lba):
            fail("block %d not as written before the FLUSH" % lba)
    print("64 blocks intact")


def main():
    path, test, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if test == "inflight":
        inflight(path, int(args[0]))
    elif test == "multiconn":
        multiconn(path, int(args[0]))
    elif test == "check":
        check(path, int(args[0]))
    else:
        fail("unknown test " + test)


if __name__ == "__main__":
    main()
