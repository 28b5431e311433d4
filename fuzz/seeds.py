#!/usr/bin/env python3
"""Writes the committed seed corpus for the memproto fuzz targets.

    python3 fuzz/seeds.py          # from the repository root (or anywhere)

Files go to fuzz/corpus/<target>/. A seed's name says what the harness must observe; the
replay test (crates/memproto/tests/corpus.rs) checks it:

    ok-*       decode: every request answered, no error, all bytes consumed
               encode: the command is accepted
    err-*      decode: the decoder fails; encode: the command is refused
    partial-*  decode: no error, but the input stops before the last reply is complete

Other names (files libFuzzer found, `cargo fuzz cmin` output) are replayed without such a
check. Seeds written by this script are rewritten on every run; other files are kept.

The byte layouts are documented in crates/memproto/src/fuzzing.rs; keep the constants below
in sync with `template` and `Spec::read` there (a drift makes the named checks fail).
"""

import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
PREFIXES = ("ok-", "err-", "partial-")

# ---------------------------------------------------------------------------------------------
# decode / decode_chunked: [header][selectors][server bytes]; header & 7 = count, & 8 = tiny.

(GET_K1, GET_K123, GETS_K12, GAT_K12, GATS_K1, GET_MANY, SET, ADD, CAS, SET_NOREPLY, DELETE,
 INCR, DECR, TOUCH, FLUSH_ALL, VERBOSITY, MEMLIMIT, VERSION, STATS, STATS_SETTINGS, QUIT,
 MG, MG_QUIET_A, MG_OPAQUE_B, MG_BASE64, MS, MS_QUIET_C, MD, MD_QUIET_D, MA, MA_QUIET_E, MN,
 ME) = range(33)

TINY = 0x08
CRLF = b"\r\n"


def lines(*parts):
    return b"".join(p + CRLF for p in parts)


def value(key, data, flags=0, cas=None):
    header = b"VALUE %s %d %d" % (key, flags, len(data))
    if cas is not None:
        header += b" %d" % cas
    return header + CRLF + data + CRLF


DECODE = {}


def decode(name, requests, server, limits=0):
    assert len(requests) <= 7 and name not in DECODE
    DECODE[name] = bytes([len(requests) | limits] + list(requests)) + server


# Valid replies of every kind.
decode("ok-get-hit", [GET_K1], value(b"k1", b"hello") + b"END\r\n")
decode("ok-get-miss", [GET_K1], b"END\r\n")
decode("ok-get-multi-out-of-order", [GET_K123],
       value(b"k3", b"c", 7) + value(b"k1", b"a") + b"END\r\n")
decode("ok-get-value-holds-protocol", [GET_K123],
       value(b"k1", b"END\r\nVALUE k2 0 1\r\nx\r\n") + value(b"k2", b"\r\n") + b"END\r\n")
decode("ok-get-empty-value", [GET_K1], value(b"k1", b"") + b"END\r\n")
decode("ok-gets", [GETS_K12], value(b"k1", b"x", 0, 42) + value(b"k2", b"", 9, 18446744073709551615) + b"END\r\n")
decode("ok-gat", [GAT_K12], value(b"k2", b"v", 4294967295) + b"END\r\n")
decode("ok-gats", [GATS_K1], value(b"k1", b"v", 0, 1) + b"END\r\n")
decode("ok-get-70-keys", [GET_MANY],
       b"".join(value(b"k%d" % i, b"") for i in reversed(range(70))) + b"END\r\n")
decode("ok-set-stored", [SET], b"STORED\r\n")
decode("ok-add-not-stored", [ADD], b"NOT_STORED\r\n")
decode("ok-cas-exists", [CAS], b"EXISTS\r\n")
decode("ok-cas-not-found", [CAS], b"NOT_FOUND\r\n")
decode("ok-noreply-then-get", [SET_NOREPLY, GET_K1], b"END\r\n")
decode("ok-quit", [QUIT], b"")
decode("ok-delete", [DELETE, DELETE], b"DELETED\r\nNOT_FOUND\r\n")
decode("ok-incr-max", [INCR], b"18446744073709551615\r\n")
decode("ok-decr-not-found", [DECR, INCR], b"NOT_FOUND\r\n0\r\n")
decode("ok-touch", [TOUCH, TOUCH], b"TOUCHED\r\nNOT_FOUND\r\n")
decode("ok-flush-verbosity", [FLUSH_ALL, VERBOSITY], b"OK\r\nOK\r\n")
decode("ok-memlimit", [MEMLIMIT, MEMLIMIT],
       b"OK\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n")
decode("ok-version", [VERSION], b"VERSION 1.6.38\r\n")
decode("ok-stats", [STATS],
       lines(b"STAT pid 1", b"STAT uptime 10", b"STAT version 1.6.38", b"STAT rusage 0.1 0.2", b"END"))
decode("ok-stats-settings-empty", [STATS_SETTINGS], b"END\r\n")
decode("ok-stats-reset", [STATS, STATS], b"RESET\r\nOK\r\n")
decode("ok-stats-cachedump", [STATS], lines(b"ITEM k1 [5 b; 0 s]", b"ITEM k2 [1 b; 0 s]", b"END"))
decode("ok-error-lines", [GET_K1, SET, VERSION, MG],
       lines(b"ERROR", b"CLIENT_ERROR bad data chunk", b"SERVER_ERROR: shutdown not enabled",
             b"SERVER_ERROR out of memory"))
decode("ok-error-replaces-end", [GET_K123],
       value(b"k1", b"a") + b"CLIENT_ERROR bad command line format\r\n")
decode("ok-mg-va", [MG], b"VA 5 c42 f0 t-1\r\nhello\r\n")
decode("ok-mg-hd-en", [MG, MG], b"HD c1 f2 t3\r\nEN\r\n")
decode("ok-mg-quiet-miss-batch", [MG_QUIET_A, MG_OPAQUE_B, MN], b"HD Ob kk2\r\nMN\r\n")
decode("ok-mg-quiet-hit", [MG_QUIET_A, MN], b"VA 2 Oa\r\nhi\r\nMN\r\n")
decode("ok-mg-opaque-en", [MG_OPAQUE_B], b"EN Ob\r\n")
decode("ok-mg-base64", [MG_BASE64], b"VA 1 b kYmluAGtleSANCg==\r\nx\r\n")
decode("ok-mg-all-flags", [MG], b"HD c1 f2 s3 t-1 h1 l9 kk1 b W X Z Q7\r\n")
decode("ok-ms", [MS, MS, MS, MS], b"HD c99\r\nNS\r\nEX\r\nNF\r\n")
decode("ok-ms-quiet", [MS_QUIET_C, MS_QUIET_C, MN], b"NS Oc\r\nMN\r\n")
decode("ok-md", [MD, MD, MD, MD_QUIET_D, MN], b"HD\r\nNF\r\nEX\r\nMN\r\n")
decode("ok-ma", [MA, MA, MA_QUIET_E, MN], b"VA 2\r\n10\r\nNF\r\nNS Oe\r\nMN\r\n")
decode("ok-me", [ME, ME], b"ME k1 exp=-1 la=1 cas=2 fetch=no cls=1 size=63\r\nEN\r\n")
decode("ok-pipeline", [SET, GET_K1, DELETE, INCR, MG, MN, VERSION],
       b"STORED\r\n" + value(b"k1", b"v") + b"END\r\nDELETED\r\n7\r\nEN\r\nMN\r\nVERSION 1.6\r\n")
decode("ok-tiny-limits", [GET_K1, STATS], value(b"k1", b"12345678") + lines(b"END", b"STAT a 1", b"STAT b 2", b"END"), TINY)

# The stream stops early: no error, the last reply is not complete.
decode("partial-value-split", [GET_K1], b"VALUE k1 0 5\r\nhel")
decode("partial-value-no-crlf", [GET_K1], b"VALUE k1 0 2\r\nhi")
decode("partial-line", [SET], b"STOR")
decode("partial-crlf-split", [SET], b"STORED\r")
decode("partial-nothing-yet", [GET_K1, MG_QUIET_A], b"")
decode("partial-quiet-waits-for-line", [MG_QUIET_A, MN], b"MN")
decode("partial-stats", [STATS], b"STAT pid 1\r\nSTAT upt")

# Hostile or broken servers.
decode("err-unsolicited", [], b"STORED\r\n")
decode("err-extra-reply", [SET], b"STORED\r\nSTORED\r\n")
decode("err-unrequested-key", [GET_K1], value(b"k9", b"x") + b"END\r\n")
decode("err-duplicate-key", [GET_K123], value(b"k1", b"a") + value(b"k1", b"b") + b"END\r\n")
decode("err-duplicate-key-past-64", [GET_MANY], value(b"k66", b"a") + value(b"k66", b"b") + b"END\r\n")
decode("err-value-too-large", [GET_K1], b"VALUE k1 0 4097\r\n")
decode("err-value-huge", [GET_K1], b"VALUE k1 0 18446744073709551615\r\n")
decode("err-value-length-overflow", [GET_K1], b"VALUE k1 0 99999999999999999999999\r\n")
decode("err-value-negative-length", [GET_K1], b"VALUE k1 0 -1\r\n")
decode("err-data-terminator", [GET_K1], b"VALUE k1 0 1\r\nxy\r\nEND\r\n")
decode("err-bare-lf", [SET], b"STORED\n")
decode("err-line-too-long", [VERSION], b"VERSION " + b"9" * 300)
decode("err-gets-without-cas", [GETS_K12], b"VALUE k1 0 1\r\nx\r\nEND\r\n")
decode("err-get-with-cas", [GET_K1], b"VALUE k1 0 1 5\r\nx\r\nEND\r\n")
decode("err-flags-overflow", [GET_K1], b"VALUE k1 4294967296 1\r\nx\r\nEND\r\n")
decode("err-value-header-short", [GET_K1], b"VALUE k1 0\r\n")
decode("err-incr-signed", [INCR], b"+1\r\n")
decode("err-incr-overflow", [INCR], b"18446744073709551616\r\n")
decode("err-incr-trailing-space", [INCR], b"1 \r\n")
decode("err-wrong-reply-set", [SET], b"DELETED\r\n")
decode("err-wrong-reply-get", [GET_K1], b"STORED\r\n")
decode("err-wrong-reply-mn", [MN], b"HD\r\n")
decode("err-mg-gets-me", [MG], b"ME k1 exp=1\r\n")
decode("err-opaque-mismatch", [MG_OPAQUE_B], b"HD Ox\r\n")
decode("err-opaque-unexpected", [MG], b"HD Oa\r\n")
decode("err-opaque-duplicate", [MG_OPAQUE_B], b"HD Ob Oc\r\n")
decode("err-opaque-duplicate-quiet", [MG_QUIET_A, MN], b"HD Oa Ob\r\nMN\r\n")
# An error line among quiet commands cannot be attributed: it is delivered as such, and the
# batch goes on to its `MN`.
decode("ok-error-while-quiet", [MG_QUIET_A, MN], b"SERVER_ERROR oops\r\nMN\r\n")
decode("partial-error-while-quiet", [MG_QUIET_A, MN], b"SERVER_ERROR oops\r\n")
decode("err-meta-bad-cas", [MG], b"HD c-1\r\n")
decode("err-meta-bad-hit", [MG], b"HD h2\r\n")
decode("err-meta-double-space", [MG], b"HD  c1\r\n")
decode("err-va-without-size", [MG], b"VA\r\n")
decode("err-va-too-large", [MG], b"VA 4097\r\n")
decode("err-version-bare", [VERSION], b"VERSION\r\n")
decode("err-tiny-too-many-stats", [STATS], lines(b"STAT a 1", b"STAT b 2", b"STAT c 3", b"END"), TINY)
decode("err-tiny-value-too-large", [GET_K1], b"VALUE k1 0 9\r\n", TINY)
decode("err-tiny-line-too-long", [VERSION], b"VERSION 1234567890123456789\r\n", TINY)

# Echoed meta keys (MG_OPAQUE_B asks for k2 back, MG_BASE64 for its binary key).
decode("ok-mg-echoed-key", [MG_OPAQUE_B, MG_OPAQUE_B], b"HD Ob kk2\r\nEN Ob kk2\r\n")
decode("err-mg-key-mismatch", [MG_OPAQUE_B], b"HD Ob kk1\r\n")
decode("err-mg-miss-key-mismatch", [MG_OPAQUE_B], b"EN Ob kk1\r\n")
decode("err-mg-hit-without-key", [MG_OPAQUE_B], b"HD Ob\r\n")
decode("err-mg-base64-key-mismatch", [MG_BASE64], b"VA 1 b kYmluAGtleSANCh==\r\nx\r\n")
decode("err-mg-base64-key-unflagged", [MG_BASE64], b"VA 1 kYmluAGtleSANCg==\r\nx\r\n")

# Whole-reply budgets: every value fits max_value_len, the reply does not fit max_reply_len.
decode("err-reply-too-large", [GET_K123],
       value(b"k1", b"a" * 4000) + value(b"k2", b"b" * 4000) + b"VALUE k3 0 4000\r\n")
decode("err-tiny-reply-too-large", [GET_K123], value(b"k1", b"12345678") + b"VALUE k2 0 1\r\n", TINY)
decode("err-tiny-stats-too-large", [STATS], lines(b"STAT abcdefghijklmn 1", b"STAT b 2345678", b"END"), TINY)

# ---------------------------------------------------------------------------------------------
# encode: [kind][options][fields...]; see Spec::read.

SMALL, NOREPLY, B64, RETKEY, QUIET, OPAQUE = 1, 2, 4, 8, 16, 32


def key(data):
    """A raw key (any bytes, up to 255)."""
    if len(data) < 64:
        return bytes([0x40 + len(data)]) + data
    return bytes([0xC0, len(data)]) + data


def fill(byte, count):
    """`byte` repeated `count` times (up to 255)."""
    high, low = divmod(count, 4)
    return bytes([0x80 + high, byte, low])


def blob(data):
    return bytes([len(data)]) + data


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


NONE = b"\x00"
NEVER = b"\x01"


def after(secs, nanos=None):
    return b"\x02" + u32(secs) if nanos is None else b"\x03" + u64(secs) + u32(nanos)


def at(secs):
    return b"\x05" + u64(secs)


def store(mode, k, v, flags=0, exptime=NEVER, cas=0, opts=0):
    return bytes([0, opts, mode]) + k + blob(v) + u32(flags) + exptime + (u64(cas) if mode == 5 else b"")


def retrieve(kind, keys, exptime=NEVER, opts=0):
    return bytes([1, opts, kind]) + (exptime if kind >= 2 else b"") + bytes([len(keys)]) + b"".join(keys)


def meta(kind, opts, opaque, body):
    return bytes([kind, opts]) + (opaque if opts & OPAQUE else b"") + body


def mg(k, bits=0, touch=NONE, vivify=NONE, recache=NONE, opts=0, opaque=b""):
    return meta(11, opts, opaque, k + bytes([bits]) + touch + vivify + recache)


def ms(k, v, bits=0, flags=0, exptime=NONE, vivify=NONE, c=0, e=0, opts=0, opaque=b""):
    tail = (u64(c) if bits & 4 else b"") + (u64(e) if bits & 8 else b"")
    return meta(12, opts, opaque, k + blob(v) + bytes([bits]) + u32(flags) + exptime + vivify + tail)


def md(k, bits=0, exptime=NONE, c=0, opts=0, opaque=b""):
    return meta(13, opts, opaque, k + bytes([bits]) + exptime + (u64(c) if bits & 1 else b""))


def ma(k, bits=0, vivify=NONE, exptime=NONE, d=0, j=0, c=0, opts=0, opaque=b""):
    tail = b"".join(u64(n) for n, bit in ((d, 16), (j, 32), (c, 64)) if bits & bit)
    return meta(14, opts, opaque, k + bytes([bits]) + vivify + exptime + tail)


ENCODE = {}


def encode(name, data):
    assert name not in ENCODE
    ENCODE[name] = data


K = key(b"k1")
KEY_250 = fill(ord("x"), 250)
DAY = 86400

encode("ok-set", store(0, K, b"hello"))
encode("ok-add", store(1, K, b"v", 7, after(60)))
encode("ok-replace", store(2, K, b"v"))
encode("ok-append", store(3, K, b"v"))
encode("ok-prepend", store(4, K, b"v"))
encode("ok-cas", store(5, K, b"v", cas=18446744073709551615))
encode("ok-set-noreply", store(0, K, b"v", opts=NOREPLY))
encode("ok-set-key-noreply", store(0, key(b"noreply"), b"v"))
encode("ok-set-value-injection", store(0, K, b"x\r\nflush_all\r\nset k 0 0 1 noreply\r\n"))
encode("ok-set-binary-value", store(0, K, bytes(range(256))[:255]))
encode("ok-set-empty-value", store(0, K, b""))
encode("ok-set-max-flags", store(0, K, b"v", 4294967295))
encode("ok-set-30-days", store(0, K, b"v", exptime=after(30 * DAY)))
encode("ok-set-fraction", store(0, K, b"v", exptime=after(0, 1)))
encode("ok-set-absolute", store(0, K, b"v", exptime=at(2_000_000_000)))
encode("ok-set-absolute-past", store(0, K, b"v", exptime=at(30 * DAY)))
encode("ok-set-key-250", store(0, KEY_250, b"v"))
encode("ok-set-utf8-key", store(0, key("clé".encode()), b"v"))
encode("ok-get", retrieve(0, [K]))
encode("ok-get-11-long-keys", retrieve(0, [fill(ord("a") + i, 250) for i in range(11)]))
encode("ok-get-noreply-option-ignored", retrieve(0, [K], opts=NOREPLY))
encode("ok-gets", retrieve(1, [K, key(b"k2"), key(b"noreply"), key(b"k3")]))
# The server reads no noreply flag on retrievals, and on delete only after a second argument:
# the key `noreply` is a key there, last or not.
encode("ok-get-last-key-noreply", retrieve(0, [K, key(b"noreply")]))
encode("ok-gat-key-noreply", retrieve(2, [key(b"noreply")], after(60)))
encode("ok-delete-key-noreply", bytes([2, 0]) + key(b"noreply"))
encode("ok-gat", retrieve(2, [K, key(b"k2")], after(60)))
encode("ok-gats", retrieve(3, [K], at(2_000_000_000)))
encode("ok-delete", bytes([2, 0]) + K)
encode("ok-delete-noreply-key-noreply", bytes([2, NOREPLY]) + key(b"noreply"))
encode("ok-incr", bytes([3, 0, 0]) + K + u64(1))
encode("ok-decr-max-noreply", bytes([3, NOREPLY, 1]) + K + u64(18446744073709551615))
encode("ok-incr-key-noreply", bytes([3, 0, 0]) + key(b"noreply") + u64(1))
encode("ok-touch", bytes([4, 0]) + K + after(0))
encode("ok-flush-all", bytes([5, 0]) + NONE)
encode("ok-flush-all-delay-noreply", bytes([5, NOREPLY]) + after(10))
encode("ok-version", bytes([6, 0]))
encode("ok-verbosity", bytes([7, NOREPLY]) + u32(1))
encode("ok-stats", bytes([8, 0, 0]))
encode("ok-stats-args", bytes([8, 0, 2, 0x40 + 9]) + b"cachedump" + key(b"1"))
encode("ok-memlimit", bytes([9, 0]) + u32(4294967295))
encode("ok-quit", bytes([10, 0]))
encode("ok-mg-all-flags", mg(K, 0xFF, after(60), after(30), after(10), RETKEY | QUIET | OPAQUE, key(b"opaque")))
encode("ok-mg-base64", mg(key(b"bin\0key \r\n\x7f"), 1, opts=B64 | RETKEY))
encode("ok-mg-base64-186", mg(fill(0, 186), 1, opts=B64))
encode("ok-mg-opaque-31", mg(K, 1, opts=OPAQUE, opaque=fill(ord("o"), 31)))
encode("ok-ms-all-flags", ms(K, b"v\r\n", 0x0F | 0x30, 5, after(60), after(1), 1, 2, RETKEY | QUIET | OPAQUE, key(b"o")))
encode("ok-ms-modes", ms(K, b"v", 0x20))
encode("ok-ms-prepend", ms(K, b"v", 0x40))
encode("ok-ms-base64", ms(key(b"\xff\x00"), b"", 0, opts=B64))
encode("ok-md-all-flags", md(K, 7, after(5), 9, QUIET | OPAQUE, key(b"d")))
encode("ok-ma-all-flags", ma(K, 0x7F, after(1), after(2), 3, 4, 5, RETKEY | OPAQUE, key(b"e")))
encode("ok-mn", bytes([15, 0]))
encode("ok-me", bytes([16, 0]) + K)
encode("ok-me-base64", bytes([16, B64]) + key(b"a b"))

encode("err-key-space", store(0, key(b"a b"), b"v"))
encode("err-key-crlf-injection", store(0, key(b"k 0 0 1\r\nx\r\nflush_all"), b"v"))
encode("err-key-lf", bytes([2, 0]) + key(b"k\nflush_all"))
encode("err-key-cr", bytes([2, 0]) + key(b"k\r"))
encode("err-key-nul", retrieve(0, [K, key(b"\0")]))
encode("err-key-tab", bytes([4, 0]) + key(b"k\t") + NEVER)
encode("err-key-del", bytes([3, 0, 0]) + key(b"\x7f") + u64(1))
encode("err-key-empty", store(0, key(b""), b"v"))
encode("err-key-251", store(0, fill(ord("x"), 251), b"v"))
encode("err-get-no-keys", retrieve(0, []))
encode("err-gat-line-too-long", retrieve(2, [fill(ord("a") + i, 250) for i in range(9)], after(1)))
encode("err-value-too-large", store(0, K, b"x" * 17, opts=SMALL))
encode("err-ms-value-too-large", ms(K, b"x" * 17, opts=SMALL))
encode("err-exptime-31-days", store(0, K, b"v", exptime=after(31 * DAY)))
encode("err-exptime-u64-max-and-fraction", store(0, K, b"v", exptime=after(2**64 - 1, 1)))
encode("err-exptime-past-2038", bytes([4, 0]) + K + at(2**31))
encode("err-flush-delay-just-over-30-days", bytes([5, 0]) + after(30 * DAY, 1))
encode("err-opaque-32", mg(K, 1, opts=OPAQUE, opaque=fill(ord("o"), 32)))
encode("err-opaque-space", md(K, opts=OPAQUE, opaque=key(b"o o")))
encode("err-opaque-empty", ma(K, opts=OPAQUE, opaque=key(b"")))
encode("err-quiet-without-opaque", ms(K, b"v", opts=QUIET))
encode("err-base64-too-long", mg(fill(0, 188), 1, opts=B64))
encode("err-base64-empty", bytes([16, B64]) + key(b""))
encode("err-meta-key-space", mg(key(b"a b"), 1))
encode("err-stats-arg-lf", bytes([8, 0, 1]) + key(b"items\nflush_all"))
encode("err-stats-line-too-long", bytes([8, 0, 9]) + fill(ord("s"), 250) * 9)


def write(target, seeds):
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.startswith(PREFIXES):
            os.remove(os.path.join(directory, name))
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    return len(seeds)


def main():
    counts = {
        "decode": write("decode", DECODE),
        # Same streams, fed in chunks of varied sizes (0 = one byte at a time).
        "decode_chunked": write("decode_chunked", {
            name: bytes([(0, 1, 2, 3, 5, 16, 255)[i % 7]]) + data
            for i, (name, data) in enumerate(DECODE.items())
        }),
        "encode": write("encode", ENCODE),
    }
    for target, count in counts.items():
        print(f"{target}: {count} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
