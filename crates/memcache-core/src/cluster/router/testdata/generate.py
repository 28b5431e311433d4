#!/usr/bin/env python3
"""Generate the golden key -> node vectors used by `crates/memcache-core/src/cluster/router` tests.

Setup (Python 3.11 on x86_64 Linux, manylinux wheels; no memcached server is needed except for
`--live`):

    pip install emcache==1.3.3 mmh3 pylibmc==1.6.3

Run from anywhere (it writes next to itself):

    python3 crates/memcache-core/src/cluster/router/testdata/generate.py

Where the answers come from (never from our Rust code):

* Rendezvous: emcache 1.3.3's compiled `emcache._cython.cyemcache.node_selection(key, rdz_nodes)`,
  called exactly as `emcache/cluster.py` (`Cluster.pick_node`) calls it. The node list is built
  like `Cluster._build_rdz_nodes`: `RendezvousNode(f"{host}{port}", node)` for TCP nodes and
  `RendezvousNode(path, node)` for unix sockets. We pass the configured index as the `node`
  object, so the return value is the index.
* Ketama (all three flavours): libmemcached 1.0.16 as bundled in the pylibmc 1.6.3 wheel
  (`site-packages/pylibmc.libs/libmemcached-*.so*`). pylibmc exposes no "which server owns this
  key" call, so we load that same shared object with ctypes and call the C API directly:
  `memcached_create(NULL)`, then the `memcached_behavior_set` calls of the flavour (below), then
  `memcached_server_add_with_weight(host, port, weight)` or
  `memcached_server_add_unix_socket_with_weight(path, weight)` per node in order (behaviours
  first, servers second: the order pylibmc's `Client.__init__` uses, and it matters, see
  below), then `memcached_generate_hash(memc, key, len)`, which returns the index of the server
  that owns the key (the same `dispatch_host` lookup that `memcached_server_by_key` uses, but
  without its key-length check, so over-long keys can be included). The script cross-checks
  that index against `memcached_server_by_key` + `memcached_server_name`/`memcached_server_port`
  for every key of at most 250 bytes. The flavours:
  * `ketama` (weighted): `memcached_behavior_set(MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED=16, 1)`
    (what pylibmc's `behaviors={"ketama_weighted": True}` sets; this also switches the key hash
    and the continuum hash to MD5).
  * `ketama_md5`: `memcached_behavior_set(MEMCACHED_BEHAVIOR_HASH=2, MEMCACHED_HASH_MD5=1)`
    then `memcached_behavior_set(MEMCACHED_BEHAVIOR_KETAMA=3, 1)`: pylibmc's
    `behaviors={"ketama": True, "hash": "md5"}` (pylibmc walks its behaviour table, where
    "hash" comes before "ketama"; the order makes no difference, which the script checks).
  * `ketama_one_at_a_time`: only `memcached_behavior_set(MEMCACHED_BEHAVIOR_KETAMA=3, 1)`:
    pylibmc's documented `behaviors={"ketama": True}`, which leaves the key hash at
    `MEMCACHED_HASH_DEFAULT` (Bob Jenkins' one-at-a-time).
  For the two non-weighted flavours the script also asserts that
  `MEMCACHED_BEHAVIOR_DISTRIBUTION=9` set to `MEMCACHED_DISTRIBUTION_CONSISTENT=1` (what PHP
  memcached's `OPT_DISTRIBUTION => DISTRIBUTION_CONSISTENT` sets) routes every key the same as
  `MEMCACHED_BEHAVIOR_KETAMA`, that `MEMCACHED_BEHAVIOR_KETAMA_HASH=17` (pylibmc "ketama_hash")
  set to MD5 changes nothing, and that `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` reads back 1 after
  the servers were added exactly when some node was added with a weight above 1 (libmemcached's
  `server_add` then switches the continuum to the weighted one, keeping the key hash).

Optional live check (`--live`, needs a `memcached` binary on PATH; the golden files do not depend
on it): starts private memcached servers (TCP on free 127.0.0.1 ports and two unix sockets),
stores every protocol-valid key through a real `pylibmc.Client(servers, behaviors=...)` for each
flavour, reads each server back with plain `get` commands over a socket, and asserts that every
key sits on the server `memcached_generate_hash` names. The servers are stopped afterwards.

Output format (plain text, loaded by the Rust tests with `include_str!`):

* `keys.txt`: `#` comment lines, then one key per line as lowercase hex; `-` is the empty key.
* `<scenario>.txt`: `#` comment lines,
  `distribution rendezvous|ketama|ketama_md5|ketama_one_at_a_time`, one
  `node tcp <host> <port> <weight>` or `node unix <path> <weight>` line per node in configured
  order, `routes <count>`, then the expected node index of every key in `keys.txt` order, one
  character per key (`0`-`9`, then `a`-`z`), wrapped at 100 characters per line.
"""

import ctypes
import glob
import os
import random
import sys

import emcache
import mmh3
import pylibmc
from emcache._cython import cyemcache

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240611
NUM_RANDOM_KEYS = 4000
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

# --------------------------------------------------------------------------------------------
# keys


def make_keys():
    rng = random.Random(SEED)
    printable = list(range(0x21, 0x7F))
    high = list(range(0x80, 0x100))
    keys = [b"", b"a", b"foo", b"bar", b"key", b"0", b"\x80", b"\xff", b"~" * 250]
    keys += [f"user:{n}".encode() for n in range(100)]
    keys += [f"session/{n:08x}".encode() for n in range(100)]
    for _ in range(NUM_RANDOM_KEYS):
        # Mostly short keys, a quarter up to the 250-byte protocol limit.
        if rng.random() < 0.75:
            length = rng.randint(1, 32)
        else:
            length = rng.randint(33, 250)
        # Two thirds printable ASCII, one third also with bytes >= 0x80 (emcache allows them).
        alphabet = printable if rng.random() < 0.67 else printable + high
        keys.append(bytes(rng.choice(alphabet) for _ in range(length)))
    # A few keys the protocol would reject (too long, control bytes): routing must still agree.
    for _ in range(20):
        keys.append(bytes(rng.randrange(0x21, 0x100) for _ in range(rng.randint(251, 600))))
    for _ in range(20):
        keys.append(bytes(rng.randrange(0, 0x100) for _ in range(rng.randint(1, 40))))
    return keys


# --------------------------------------------------------------------------------------------
# emcache rendezvous


def emcache_route(nodes, keys):
    rdz = []
    for index, node in enumerate(nodes):
        if node[0] == "tcp":
            _, host, port, _weight = node
            rdz.append(cyemcache.RendezvousNode(f"{host}{port}", index))
        else:
            _, path, _weight = node
            rdz.append(cyemcache.RendezvousNode(path, index))
    return [cyemcache.node_selection(key, rdz) for key in keys]


def emcache_id_fold(node_id):
    """Only used to *search* for a node list with a tie of node-id folds; answers still come from
    emcache. Same fold as rendezvous.pyx: first 4 bytes as signed char, OR-ed with masks."""
    o = mmh3.hash_bytes(node_id.encode(), 0, True)
    c = [(b - 256 if b >= 128 else b) & 0xFFFFFFFF for b in o[:4]]
    return (c[3] & 0xFF000000) | (c[2] & 0xFFFF0000) | (c[1] & 0xFFFFFF00) | c[0]


def find_id_fold_tie():
    seen = {}
    for port in range(20000, 40000):
        fold = emcache_id_fold(f"10.1.1.1{port}")
        if fold in seen:
            return seen[fold], port
        seen[fold] = port
    raise SystemExit("no node-id fold tie found")


# --------------------------------------------------------------------------------------------
# libmemcached ketama via ctypes

# libmemcached 1.0.16 enum values (libmemcached-1.0/types/*.h); checked against the constants
# pylibmc's extension module was compiled with, in main().
MEMCACHED_BEHAVIOR_HASH = 2
MEMCACHED_BEHAVIOR_KETAMA = 3
MEMCACHED_BEHAVIOR_DISTRIBUTION = 9
MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED = 16
MEMCACHED_BEHAVIOR_KETAMA_HASH = 17
MEMCACHED_HASH_DEFAULT = 0
MEMCACHED_HASH_MD5 = 1
MEMCACHED_DISTRIBUTION_CONSISTENT = 1
MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA = 2
MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED = 5

# Per flavour: the memcached_behavior_set calls, in order, and what the behaviours must read back
# before any server is added (distribution, key hash).
KETAMA_FLAVOURS = {
    "ketama": {
        "calls": [(MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1)],
        "expect": (MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED, MEMCACHED_HASH_MD5),
        "pylibmc": {"ketama_weighted": True},
        "source": "MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED",
    },
    "ketama_md5": {
        "calls": [(MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_MD5), (MEMCACHED_BEHAVIOR_KETAMA, 1)],
        "expect": (MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA, MEMCACHED_HASH_MD5),
        "pylibmc": {"ketama": True, "hash": "md5"},
        "source": "MEMCACHED_BEHAVIOR_HASH=MEMCACHED_HASH_MD5 + MEMCACHED_BEHAVIOR_KETAMA",
        # Same answers expected from these call sequences (reversed order; PHP's
        # OPT_DISTRIBUTION=DISTRIBUTION_CONSISTENT; pylibmc "ketama_hash", which 1.0.16 ignores).
        "equivalent": [
            [(MEMCACHED_BEHAVIOR_KETAMA, 1), (MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_MD5)],
            [(MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_MD5), (MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT)],
            [(MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_MD5), (MEMCACHED_BEHAVIOR_KETAMA, 1), (MEMCACHED_BEHAVIOR_KETAMA_HASH, MEMCACHED_HASH_DEFAULT)],
        ],
    },
    "ketama_one_at_a_time": {
        "calls": [(MEMCACHED_BEHAVIOR_KETAMA, 1)],
        "expect": (MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA, MEMCACHED_HASH_DEFAULT),
        "pylibmc": {"ketama": True},
        "source": "MEMCACHED_BEHAVIOR_KETAMA (default one-at-a-time key hash)",
        "equivalent": [
            [(MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT)],
            [(MEMCACHED_BEHAVIOR_KETAMA, 1), (MEMCACHED_BEHAVIOR_KETAMA_HASH, MEMCACHED_HASH_MD5)],
            # pylibmc's table order: "ketama_hash" is set before "ketama".
            [(MEMCACHED_BEHAVIOR_KETAMA_HASH, MEMCACHED_HASH_MD5), (MEMCACHED_BEHAVIOR_KETAMA, 1)],
        ],
    },
}


def load_libmemcached():
    libs = os.path.join(os.path.dirname(pylibmc.__file__), os.pardir, "pylibmc.libs")
    found = sorted(glob.glob(os.path.join(libs, "libmemcached-*.so*")))
    if not found:
        raise SystemExit(f"no bundled libmemcached under {libs}")
    lib = ctypes.CDLL(found[0])
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    lib.memcached_lib_version.restype = cp
    lib.memcached_create.argtypes = [vp]
    lib.memcached_create.restype = vp
    lib.memcached_free.argtypes = [vp]
    lib.memcached_behavior_set.argtypes = [vp, ctypes.c_int, ctypes.c_uint64]
    lib.memcached_behavior_get.argtypes = [vp, ctypes.c_int]
    lib.memcached_behavior_get.restype = ctypes.c_uint64
    lib.memcached_server_add_with_weight.argtypes = [vp, cp, ctypes.c_uint16, ctypes.c_uint32]
    lib.memcached_server_add_unix_socket_with_weight.argtypes = [vp, cp, ctypes.c_uint32]
    lib.memcached_server_count.argtypes = [vp]
    lib.memcached_server_count.restype = ctypes.c_uint32
    lib.memcached_generate_hash.argtypes = [vp, cp, sz]
    lib.memcached_generate_hash.restype = ctypes.c_uint32
    lib.memcached_server_by_key.argtypes = [vp, cp, sz, ctypes.POINTER(ctypes.c_int)]
    lib.memcached_server_by_key.restype = vp
    lib.memcached_server_instance_by_position.argtypes = [vp, ctypes.c_uint32]
    lib.memcached_server_instance_by_position.restype = vp
    lib.memcached_server_name.argtypes = [vp]
    lib.memcached_server_name.restype = cp
    lib.memcached_server_port.argtypes = [vp]
    lib.memcached_server_port.restype = ctypes.c_uint16
    return found[0], lib


def libmemcached_route(lib, calls, nodes, keys, check=None):
    """Routes of `keys` after `calls` (behaviour, value) then adding `nodes`; `check(memc)` runs
    after the calls, before any server is added. Also returns whether the continuum ended up
    weighted (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED read back after the servers were added)."""
    memc = lib.memcached_create(None)
    try:
        for behavior, value in calls:
            assert lib.memcached_behavior_set(memc, behavior, value) == 0, (behavior, value)
        if check is not None:
            check(memc)
        for node in nodes:
            if node[0] == "tcp":
                _, host, port, weight = node
                rc = lib.memcached_server_add_with_weight(memc, host.encode(), port, weight)
            else:
                _, path, weight = node
                rc = lib.memcached_server_add_unix_socket_with_weight(memc, path.encode(), weight)
            assert rc == 0, (node, rc)
        assert lib.memcached_server_count(memc) == len(nodes)
        weighted = lib.memcached_behavior_get(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED) == 1
        names = []
        for i in range(len(nodes)):
            inst = lib.memcached_server_instance_by_position(memc, i)
            names.append((lib.memcached_server_name(inst), lib.memcached_server_port(inst)))
        assert len(set(names)) == len(names), "node identities must be distinct for the cross-check"
        out = []
        rc = ctypes.c_int()
        for key in keys:
            index = lib.memcached_generate_hash(memc, key, len(key))
            assert 0 <= index < len(nodes)
            if 0 < len(key) <= 250:
                inst = lib.memcached_server_by_key(memc, key, len(key), ctypes.byref(rc))
                assert rc.value == 0 and inst, (key, rc.value)
                got = (lib.memcached_server_name(inst), lib.memcached_server_port(inst))
                assert got == names[index], (key, got, names[index])
            out.append(index)
        return out, weighted
    finally:
        lib.memcached_free(memc)


def ketama_route(lib, flavour, nodes, keys):
    """Routes for one ketama flavour, with the flavour's consistency assertions. Returns the
    routes and a note on which continuum libmemcached built."""
    spec = KETAMA_FLAVOURS[flavour]

    def check(memc):
        distribution, key_hash = spec["expect"]
        assert lib.memcached_behavior_get(memc, MEMCACHED_BEHAVIOR_DISTRIBUTION) == distribution
        assert lib.memcached_behavior_get(memc, MEMCACHED_BEHAVIOR_HASH) == key_hash
        want_weighted = int(flavour == "ketama")
        assert lib.memcached_behavior_get(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED) == want_weighted

    routes, weighted = libmemcached_route(lib, spec["calls"], nodes, keys, check)
    if flavour == "ketama":
        assert weighted
        return routes, "weighted continuum"
    # A weight above 1 switches a consistent distribution to the weighted continuum when the
    # server is added (a weight of 0 or 1 does not).
    assert weighted == any(node[-1] > 1 for node in nodes), (flavour, nodes, weighted)
    for calls in spec.get("equivalent", []):
        again, again_weighted = libmemcached_route(lib, calls, nodes, keys)
        assert (again, again_weighted) == (routes, weighted), (flavour, calls)
    if weighted:
        return routes, "weighted continuum (a node was added with weight > 1), key hash unchanged"
    return routes, "non-weighted continuum (every weight 0 or 1)"


# --------------------------------------------------------------------------------------------
# scenarios


def tcp(host, port, weight=1):
    return ("tcp", host, port, weight)


def unix(path, weight=1):
    return ("unix", path, weight)


def scenarios():
    tie_a, tie_b = find_id_fold_tie()
    id_tie = [tcp("10.1.1.1", tie_a), tcp("10.1.1.1", tie_b), tcp("10.1.1.2", 11211)]
    eight = [
        tcp("127.0.0.1", 11211),
        tcp("localhost", 11211),
        tcp("cache-1.example.internal", 11211),
        tcp("cache-2.example.internal", 22122),
        tcp("10.0.0.5", 1),
        tcp("::1", 11212),
        tcp("memcached", 65535),
        tcp("192.168.100.200", 11311),
    ]
    common = {
        "1": [tcp("127.0.0.1", 11211)],
        "2": [tcp("127.0.0.1", 11211), tcp("127.0.0.1", 11212)],
        "3": [tcp("localhost", 11211), tcp("127.0.0.1", 11211), tcp("memcached-a.example.internal", 22122)],
        "4": [tcp(f"10.0.0.{i}", 11211) for i in range(1, 5)],
        "8": eight,
        "unix": [unix("/var/run/memcached/memcached.sock"), tcp("127.0.0.1", 11211), unix("/tmp/memcached-2.sock")],
    }
    out = []
    for name, nodes in common.items():
        out.append((f"rendezvous_{name}", "rendezvous", nodes))
    out.append(("rendezvous_idtie", "rendezvous", id_tie))
    out.append(("rendezvous_idtie_reversed", "rendezvous", list(reversed(id_tie))))
    for name, nodes in common.items():
        out.append((f"ketama_{name}", "ketama", nodes))
    # Node lists several schemes are checked with.
    twenty_five = [tcp(f"10.0.1.{i}", 11211) for i in range(1, 26)]
    weighted = [tcp("127.0.0.1", 11211, 1), tcp("127.0.0.1", 11212, 2), tcp("127.0.0.1", 11213, 3)]
    # Weight 0 (libmemcached stores it as 1), port 0 (libmemcached turns it into 11211),
    # weights that do not divide evenly (exercises the f32 point-count arithmetic).
    mixed = [
        tcp("cache-a", 11211, 0),
        tcp("cache-b", 0, 5),
        tcp("10.0.0.7", 11212, 1),
        tcp("cache-d.example.internal", 11213, 10),
        unix("/run/memcached.sock", 3),
        tcp("localhost", 11214, 7),
    ]
    # 25 equal nodes: f32 rounding gives 156 points each instead of 160 (1/25 * 40 * 25 is
    # 39.999998 in f32), so this checks that the point count is computed the same way.
    out.append(("ketama_25", "ketama", twenty_five))
    out.append(("ketama_weighted", "ketama", weighted))
    out.append(("ketama_weighted_mixed", "ketama", mixed))
    # The two non-weighted flavours: the common lists, 25 nodes (no f32 point-count quirk here:
    # every server gets 100 points), the default port written both ways, and weights. Weights of
    # 0 and 1 keep the non-weighted continuum; any weight above 1 switches libmemcached to the
    # weighted continuum (with the flavour's own key hash), which the last two lists exercise.
    for flavour in ("ketama_md5", "ketama_one_at_a_time"):
        for name, nodes in common.items():
            out.append((f"{flavour}_{name}", flavour, nodes))
        out.append((f"{flavour}_25", flavour, twenty_five))
        out.append((
            f"{flavour}_default_port",
            flavour,
            [tcp("cache-a", 11211), tcp("cache-b", 0), tcp("cache-a", 11212), tcp("cache-c", 11211)],
        ))
        out.append((
            f"{flavour}_weights_0_1",
            flavour,
            [tcp("127.0.0.1", 11211, 0), tcp("127.0.0.1", 11212, 1), tcp("127.0.0.1", 11213, 0), unix("/run/memcached.sock", 1)],
        ))
        out.append((f"{flavour}_weighted", flavour, weighted))
        out.append((f"{flavour}_weighted_mixed", flavour, mixed))
    return out


# --------------------------------------------------------------------------------------------
# optional live check through a real pylibmc.Client


def free_tcp_ports(count):
    import socket

    holders = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            holders.append(s)
        return [s.getsockname()[1] for s in holders]
    finally:
        for s in holders:
            s.close()


def connect(node):
    import socket

    if node[0] == "tcp":
        return socket.create_connection((node[1], node[2]), timeout=5)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(node[1])
    return s


def request_lines(node, commands):
    """Sends `commands` (bytes, each one line with a one-line reply) pipelined, in batches, over a
    plain socket and returns the reply lines."""
    replies = []
    with connect(node) as s:
        for start in range(0, len(commands), 100):
            batch = commands[start : start + 100]
            s.sendall(b"".join(batch))
            buf = b""
            while buf.count(b"\r\n") < len(batch):
                chunk = s.recv(65536)
                assert chunk, "server closed the connection"
                buf += chunk
            lines = buf.split(b"\r\n")[:-1]
            assert len(lines) == len(batch), (len(lines), len(batch))
            replies += lines
    return replies


def pylibmc_spec(node):
    if node[0] == "tcp":
        _, host, port, weight = node
        return f"{host}:{port}:{weight}"
    return node[1]


def live_check(lib, keys):
    import shutil
    import subprocess
    import tempfile
    import time

    binary = shutil.which("memcached")
    if binary is None:
        raise SystemExit("--live needs a memcached binary on PATH")
    # Keys the text protocol accepts (pylibmc and memcached agree on these).
    valid = [k for k in keys if 0 < len(k) <= 250 and all(b > 0x20 and b != 0x7F for b in k)]
    ports = free_tcp_ports(3)
    tmp = tempfile.mkdtemp(prefix="router-live-")
    socks = [os.path.join(tmp, f"memcached-{i}.sock") for i in range(2)]
    # memcached refuses to start as root unless told which user to run as.
    user = ["-u", "root"] if os.geteuid() == 0 else []
    procs = [subprocess.Popen([binary, "-p", str(p), "-U", "0", "-l", "127.0.0.1", *user]) for p in ports]
    procs += [subprocess.Popen([binary, "-s", sock, "-U", "0", *user]) for sock in socks]
    try:
        servers = [tcp("127.0.0.1", p) for p in ports] + [unix(sock) for sock in socks]
        deadline = time.time() + 10
        for node in servers:
            while True:
                try:
                    assert request_lines(node, [b"version\r\n"])[0].startswith(b"VERSION")
                    break
                except OSError:
                    if time.time() > deadline or any(p.poll() is not None for p in procs):
                        raise
                    time.sleep(0.05)
        t0, t1, t2, u0, u1 = servers
        # pylibmc refuses to mix unix sockets and TCP in one client.
        layouts = {
            "two tcp": [t0, t1],
            "three tcp": [t0, t1, t2],
            "two unix sockets": [u0, u1],
            "weights 1,2,3": [tcp(t0[1], t0[2], 1), tcp(t1[1], t1[2], 2), tcp(t2[1], t2[2], 3)],
        }
        for flavour, spec in KETAMA_FLAVOURS.items():
            for layout, nodes in layouts.items():
                for node in servers:
                    assert request_lines(node, [b"flush_all\r\n"]) == [b"OK"]
                client = pylibmc.Client([pylibmc_spec(n) for n in nodes], behaviors=spec["pylibmc"])
                for key in valid:
                    assert client.set(key, b"1"), key
                client.disconnect_all()
                expected, _ = libmemcached_route(lib, spec["calls"], nodes, valid)
                # "mg <key>" answers "HD" when the key is there and "EN" when it is not.
                holders = [[False] * len(valid) for _ in nodes]
                for i, node in enumerate(nodes):
                    replies = request_lines(node, [b"mg " + k + b"\r\n" for k in valid])
                    assert set(replies) <= {b"HD", b"EN"}, set(replies)
                    holders[i] = [r == b"HD" for r in replies]
                wrong = 0
                for j in range(len(valid)):
                    where = [i for i in range(len(nodes)) if holders[i][j]]
                    wrong += where != [expected[j]]
                assert wrong == 0, (flavour, layout, wrong)
                print(f"live: pylibmc {spec['pylibmc']} over {layout}: all {len(valid)} keys on the server libmemcached names")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def node_line(node):
    if node[0] == "tcp":
        _, host, port, weight = node
        return f"node tcp {host} {port} {weight}"
    _, path, weight = node
    return f"node unix {path} {weight}"


def write(name, text):
    with open(os.path.join(HERE, name), "w", encoding="ascii", newline="\n") as f:
        f.write(text)


def main():
    keys = make_keys()
    so_path, lib = load_libmemcached()
    libver = lib.memcached_lib_version().decode()
    emver = getattr(emcache, "__version__", None)
    if emver is None:
        from importlib.metadata import version

        emver = version("emcache")
    assert emver == "1.3.3", emver
    assert libver == "1.0.16", libver
    import _pylibmc

    assert (_pylibmc.hash_default, _pylibmc.hash_md5) == (MEMCACHED_HASH_DEFAULT, MEMCACHED_HASH_MD5)
    assert _pylibmc.distribution_consistent == MEMCACHED_DISTRIBUTION_CONSISTENT
    assert _pylibmc.distribution_consistent_ketama == MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA
    assert _pylibmc.distribution_consistent_weighted == MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED
    provenance = f"emcache {emver}, libmemcached {libver} ({os.path.basename(so_path)}, pylibmc {pylibmc.__version__}), python {sys.version.split()[0]}"

    lines = ["# Generated by generate.py; do not edit. One key per line, hex; '-' is the empty key.", f"# {provenance}"]
    lines += [key.hex() if key else "-" for key in keys]
    write("keys.txt", "\n".join(lines) + "\n")

    for name, distribution, nodes in scenarios():
        note = None
        if distribution == "rendezvous":
            routes = emcache_route(nodes, keys)
            source = "emcache._cython.cyemcache.node_selection"
        else:
            routes, note = ketama_route(lib, distribution, nodes, keys)
            source = f"libmemcached memcached_generate_hash, {KETAMA_FLAVOURS[distribution]['source']}"
            if distribution == "ketama":
                note = None
        assert len(nodes) <= len(DIGITS)
        text = "".join(DIGITS[r] for r in routes)
        counts = [routes.count(i) for i in range(len(nodes))]
        out = [f"# Generated by generate.py from {source}; do not edit.", f"# {provenance}", f"# keys per node: {counts}"]
        if note is not None:
            out.append(f"# libmemcached built a {note}")
        out.append(f"distribution {distribution}")
        out += [node_line(n) for n in nodes]
        out.append(f"routes {len(routes)}")
        out += [text[i : i + 100] for i in range(0, len(text), 100)]
        write(f"{name}.txt", "\n".join(out) + "\n")
        print(f"{name}: {len(nodes)} nodes, {len(routes)} keys, per node {counts}")

    if "--live" in sys.argv[1:]:
        live_check(lib, keys)


if __name__ == "__main__":
    main()
