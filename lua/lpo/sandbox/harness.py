"""lpo sandbox harness: the Python side of engine/sandbox. Runs inside the worker's sandbox
root under Debian's /usr/bin/python3; the C worker (engine/sandbox/worker.c) starts it as

    python3 -s -P -B -c BOOT HARNESS_SOURCE          (fd 3 = SOCK_SEQPACKET to the worker)

Process roles, one job at a time per worker:

  zygote P      pid 1 of the worker's pid namespace. Imports the common modules once, then per
                job forks H and, when H is gone or the worker says "kill", kill(-1, SIGKILL)s
                every process of its namespace (daemons included) and reaps them. P never reads
                a job's code or tests: they arrive as memfds that only H opens.
  supervisor H  per job: unshares new pid/mount/ipc/uts namespaces, mounts the job's private
                tmpfs on /work, sets rlimits, drops capabilities, sets no_new_privs and loads the
                seccomp allowlist (built by the C side with libseccomp), then compiles the
                program (SyntaxError -> "syntax"), forks the program server and only THEN reads
                the tests. H runs the tests and writes the facts (one JSON object per line) to
                the result pipe, which no other process holds: that pipe is the channel the
                program cannot forge.
  program U     the untrusted program, in a process of its own (pid 1 of the job namespace for
                a one-test job, else a child of the program zygote I). It executes the code and
                then answers remote calls. Its memory never held the tests.
  tests T       the test code runs in H (trusted tests, the default) or in a fork of H per test
                (isolate_tests). Names the test code does not define resolve to *remote* objects
                of U: calling candidate(x) sends x to U, runs the program's function there and
                sends back the value, decoded by json into plain Python values. So the program
                cannot touch the interpreter that evaluates the asserts: os._exit, sys.exit,
                patched builtins/unittest/asserts, printing "OK" or an __eq__ that says yes to
                everything all stay inside U and cannot make a test pass.

Outcomes per test: pass, fail (the test's own assertion failed), error (an exception or a
crash, including exceptions raised by the program), timeout, memory, killed (seccomp).
"""
import builtins
import ctypes
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
import types

# Modules a typical program imports: loaded once in the zygote, shared copy-on-write.
PRELOAD = ("math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
           "typing", "random", "copy", "fractions", "decimal", "statistics", "operator",
           "datetime", "hashlib", "array", "dataclasses", "enum", "abc", "io", "unittest")

NEWNS, NEWUTS, NEWIPC, NEWPID = 0x00020000, 0x04000000, 0x08000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAPBSET_DROP = 38, 22, 24
PR_SET_SECUREBITS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 28, 47, 4
SECBITS_LOCKED_NOROOT = 0x2f  # NOROOT | NOROOT_LOCKED | NO_SETUID_FIXUP | ..._LOCKED | KEEP_CAPS_LOCKED
SYS_capset = 126
MAX_MSG = 64 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_unshare = _libc.unshare
_mount = _libc.mount
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_syscall = _libc.syscall


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


# ---------------------------------------------------------------------------------------------
# framing: 4-byte big-endian length + JSON, on a stream socket (T <-> U)

class ProgramExited(BaseException):
    """The program's process went away during a test (exit, crash, kill)."""


class TestTimeout(BaseException):
    """The job's time budget ran out while waiting for the program."""


def _read_exact(fd, n, deadline):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestTimeout()
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                raise TestTimeout()
        try:
            b = os.read(fd, min(n - got, 1 << 20))
        except ConnectionResetError:
            b = b""
        if not b:
            raise ProgramExited()
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def send_msg(fd, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    data = struct.pack(">I", len(data)) + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def recv_msg(fd, deadline, decode):
    (n,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if n > MAX_MSG:
        raise ValueError("message of %d bytes is over the limit" % n)
    return json.loads(_read_exact(fd, n, deadline), object_hook=decode)


# ---------------------------------------------------------------------------------------------
# values across the boundary: JSON with one-key objects as type tags. Every JSON object on the
# wire is a tag, so decoding is unambiguous and only ever builds plain values (or handles).

def _plain_types():
    import collections
    import decimal
    import fractions
    return collections.deque, fractions.Fraction, decimal.Decimal


_deque, _Fraction, _Decimal = _plain_types()
_dict_keys, _dict_items = type({}.keys()), type({}.items())
_BIG = 1 << 12000


def encode(x, handle):
    """Program-side and test-side encoder. handle(x) returns a tag for a non-plain value."""
    t = type(x)
    if x is None or t is bool or t is str or t is float:
        return x
    if t is int:
        return x if -_BIG < x < _BIG else {"i": hex(x)}
    if t is list:
        return [encode(v, handle) for v in x]
    if t is tuple:
        return {"t": [encode(v, handle) for v in x]}
    if t is dict:
        return {"d": [[encode(k, handle), encode(v, handle)] for k, v in x.items()]}
    if t is set:
        return {"s": [encode(v, handle) for v in x]}
    if t is frozenset:
        return {"f": [encode(v, handle) for v in x]}
    if t is bytes:
        return {"y": x.hex()}
    if t is bytearray:
        return {"Y": x.hex()}
    if t is complex:
        return {"c": [x.real, x.imag]}
    if t is range:
        return {"R": [x.start, x.stop, x.step]}
    if t is _dict_keys:
        return {"K": [encode(v, handle) for v in x]}
    if t is _dict_items:
        return {"I": [[encode(k, handle), encode(v, handle)] for k, v in x]}
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):       # IntEnum, user subclasses: the number itself
        return encode(int.__index__(x), handle)
    if isinstance(x, float):
        return float.__float__(x)
    if isinstance(x, str):
        return str.__str__(x)
    if isinstance(x, tuple):     # namedtuple compares equal to the tuple
        return {"t": [encode(v, handle) for v in tuple.__iter__(x)]}
    if isinstance(x, list):
        return [encode(v, handle) for v in list.__iter__(x)]
    if isinstance(x, dict):      # OrderedDict, Counter, defaultdict compare as dicts
        return {"d": [[encode(k, handle), encode(v, handle)] for k, v in dict.items(x)]}
    if isinstance(x, _Fraction):
        return {"q": [x.numerator, x.denominator]}
    if isinstance(x, _Decimal):
        return {"D": str(x)}
    if isinstance(x, _deque):
        return {"Q": [encode(v, handle) for v in x], "n": x.maxlen}
    return handle(x)


def _decoder(resolve):
    """Builds a json object_hook; resolve(tag, value) handles "h" (and "m" on the test side)."""
    def hook(d):
        if len(d) == 2 and "Q" in d and "n" in d:
            return _deque(d["Q"], d["n"])
        if len(d) != 1:
            raise ValueError("bad value tag")
        (k, v), = d.items()
        if k == "t": return tuple(v)
        if k == "d": return {kk: vv for kk, vv in v}
        if k == "s": return set(v)
        if k == "f": return frozenset(v)
        if k == "i": return int(v, 16)
        if k == "y": return bytes.fromhex(v)
        if k == "Y": return bytearray.fromhex(v)
        if k == "c": return complex(v[0], v[1])
        if k == "R": return range(v[0], v[1], v[2])
        if k == "K": return dict.fromkeys(v).keys()
        if k == "I": return {kk: vv for kk, vv in v}.items()
        if k == "q": return _Fraction(v[0], v[1])
        if k == "D": return _Decimal(v)
        return resolve(k, v)
    return hook


# ---------------------------------------------------------------------------------------------
# the program side (U)

def program_server(code, fd):
    """Executes the program, reports ready/load error, then answers requests until EOF."""
    handles = []

    def handle(x):
        if isinstance(x, types.ModuleType):
            return {"m": x.__name__ if isinstance(x.__name__, str) else "?"}
        handles.append(x)
        return {"h": len(handles) - 1}

    def resolve(k, v):
        if k == "h":
            return handles[v]
        raise ValueError("bad value tag")

    def enc(x):
        return encode(x, handle)

    _close_all_but(fd)
    os.setsid()
    g = {"__name__": "solution", "__builtins__": builtins}
    try:
        exec(code, g)
    except BaseException as e:
        traceback.print_exc()
        status = 1
        if isinstance(e, SystemExit):
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        try:
            send_msg(fd, ["load_error", type(e).__name__, str(e)[:500]])
        except BaseException:
            pass
        _flush_exit(status)
    send_msg(fd, ["ready"])
    decode = _decoder(resolve)

    while True:
        try:
            req = recv_msg(fd, None, decode)
        except ProgramExited:
            _flush_exit(0)
        op, a = req[0], req[1:]
        try:
            if op == "g":
                if a[0] not in g:
                    raise NameError("name %r is not defined" % a[0])
                out = g[a[0]]
            elif op == "c":
                out = a[0](*a[1], **a[2])
            elif op == "a":
                out = getattr(a[0], a[1])
            elif op == "s":
                setattr(a[0], a[1], a[2]); out = None
            elif op == "i":
                out = iter(a[0])
            elif op == "n":
                out = next(a[0])
            elif op == "l":
                out = len(a[0])
            elif op == "b":
                out = bool(a[0])
            elif op == "r":
                out = repr(a[0])
            elif op == "S":
                out = str(a[0])
            elif op == "gi":
                out = a[0][a[1]]
            elif op == "si":
                a[0][a[1]] = a[2]; out = None
            elif op == "in":
                out = a[1] in a[0]
            elif op == "int":
                out = int(a[0])
            elif op == "float":
                out = float(a[0])
            elif op == "index":
                out = a[0].__index__()
            else:
                raise ValueError("unknown request")
            reply = ["ok", enc(out)]
        except BaseException as e:
            if isinstance(e, SystemExit):
                traceback.print_exc()
                _flush_exit(e.code if isinstance(e.code, int) else 1)
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None))
            reply = ["err", type(e).__name__, str(e)[:500], tb[-4000:]]
        try:
            send_msg(fd, reply)
        except BaseException:
            _flush_exit(0)


def _close_all_but(*keep):
    """Closes every descriptor above stderr except keep (the process's own channels)."""
    lo = 3
    for fd in sorted(keep):
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 16)


def _flush_exit(status):
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass
    os._exit(status & 0xff if isinstance(status, int) else 1)


# ---------------------------------------------------------------------------------------------
# the test side (T): remote objects and the namespace the test code runs in

_BUILTIN_EXC = {n: getattr(builtins, n) for n in dir(builtins)
                if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)}


class RemoteError(Exception):
    """An exception of a class the program defined."""


class Conn:
    def __init__(self, fd, deadline):
        self.fd, self.deadline = fd, deadline
        self.dead = False
        self.remote_exc = None     # the last exception raised by the program
        self.decode = _decoder(self._resolve)

    def _resolve(self, k, v):
        if k == "h":
            return Remote(self, v)
        if k == "m":
            return _module(self, v)
        raise ValueError("bad value tag")

    def _encode_arg(self, x):
        def handle(y):
            if isinstance(y, Remote):
                return {"h": object.__getattribute__(y, "_h")}
            raise TypeError("the sandbox cannot pass a %s to the program" % type(y).__name__)
        return encode(x, handle)

    def wait_ready(self):
        try:
            msg = recv_msg(self.fd, self.deadline, self.decode)
        except ProgramExited:
            self.dead = True
            raise
        return msg

    def request(self, op, *args):
        if self.dead:
            raise ProgramExited()
        try:
            send_msg(self.fd, [op] + [self._encode_arg(a) for a in args])
            reply = recv_msg(self.fd, self.deadline, self.decode)
        except (ProgramExited, BrokenPipeError, ConnectionResetError):
            self.dead = True
            raise ProgramExited()
        if reply[0] == "ok":
            return reply[1]
        _, name, msg, tb = reply
        cls = _BUILTIN_EXC.get(name)
        if cls is None or cls in (SystemExit, KeyboardInterrupt, GeneratorExit) or issubclass(cls, Warning):
            exc = RemoteError("%s: %s" % (name, msg))
        else:
            try:
                exc = cls(msg)
            except BaseException:
                exc = RemoteError("%s: %s" % (name, msg))
        exc._lpo_remote_tb = tb
        self.remote_exc = exc
        raise exc


_NO_IMPORT = {"antigravity", "this", "turtle", "turtledemo", "tkinter", "idlelib", "webbrowser",
              "pydoc", "ensurepip", "venv", "lib2to3", "test"}


def _module(conn, name):
    """A module the program refers to: the test side imports its own copy of stdlib modules,
    so the program's monkeypatching of e.g. math.isclose cannot reach the test."""
    if name in sys.modules and isinstance(sys.modules[name], types.ModuleType):
        return sys.modules[name]
    top = name.split(".")[0]
    if top in sys.stdlib_module_names and top not in _NO_IMPORT:
        try:
            __import__(name)
            return sys.modules[name]
        except BaseException:
            pass
    raise ImportError("the test cannot use the program's module %r" % name)


class Remote:
    """A proxy for an object that lives in the program. Equality and hashing are identity:
    the program's __eq__ is deliberately not consulted (an always-equal object proves nothing)."""
    __slots__ = ("_c", "_h")

    def __init__(self, conn, h):
        object.__setattr__(self, "_c", conn)
        object.__setattr__(self, "_h", h)

    def _r(self, op, *a):
        return object.__getattribute__(self, "_c").request(op, self, *a)

    def __call__(self, *a, **k): return self._r("c", list(a), k)
    def __getattr__(self, name): return self._r("a", name)
    def __setattr__(self, name, v): self._r("s", name, v)
    def __iter__(self): return self._r("i")
    def __next__(self): return self._r("n")
    def __len__(self): return self._r("l")
    def __bool__(self): return self._r("b")
    def __repr__(self): return self._r("r")
    def __str__(self): return self._r("S")
    def __getitem__(self, k): return self._r("gi", k)
    def __setitem__(self, k, v): self._r("si", k, v)
    def __contains__(self, k): return self._r("in", k)
    def __int__(self): return self._check(self._r("int"), int)
    def __float__(self): return self._check(self._r("float"), float)
    def __index__(self): return self._check(self._r("index"), int)

    @staticmethod
    def _check(v, t):
        if type(v) is not t:
            raise TypeError("program returned a %s" % type(v).__name__)
        return v


class TestNamespace(dict):
    """Globals of the test code. Names the test does not define come from the program, except
    builtins, which the program cannot shadow (a program defining abs() = 0 must not pass
    `assert abs(f(x) - y) < 1e-6`); only the job's entry point may carry a builtin's name."""

    def __init__(self, conn, entry):
        super().__init__()
        self._conn, self._entry = conn, entry

    def __missing__(self, name):
        if name != self._entry and hasattr(builtins, name):
            raise KeyError(name)
        try:
            v = self._conn.request("g", name)
        except NameError:
            raise KeyError(name) from None
        if isinstance(v, (Remote, types.ModuleType)):
            self[name] = v
        return v


def run_test(conn, test, setup, check, entry):
    """Runs one test against the program behind conn. Returns (outcome, detail)."""
    ns = TestNamespace(conn, entry)
    ns["__builtins__"] = builtins
    ns["__name__"] = "__test__"
    outcome, detail = "pass", ""
    try:
        msg = conn.wait_ready()
        if msg[0] == "load_error":
            name, text = msg[1], msg[2]
            return ("memory" if name == "MemoryError" else "error"), "program failed: %s: %s" % (name, text)
        if setup:
            exec(compile(setup, "<setup>", "exec", dont_inherit=True), ns)
        if test:
            exec(compile(test, "<test>", "exec", dont_inherit=True), ns)
        if check:
            exec(compile(check, "<test>", "exec", dont_inherit=True), ns)
            ns["check"](conn.request("g", entry))
    except TestTimeout:
        return "timeout", "time limit"
    except ProgramExited:
        return "exited", "program exited during the test"
    except BaseException as e:
        remote = getattr(e, "_lpo_remote_tb", None)
        if remote is not None:
            sys.stderr.write(remote)
        else:
            traceback.print_exc()
        if isinstance(e, MemoryError):
            outcome = "memory"
        elif isinstance(e, AssertionError) and remote is None:
            outcome = "fail"
        else:
            outcome = "error"
        detail = "%s: %s" % (type(e).__name__, str(e)[:300])
    if conn.dead:          # the test code swallowed the program's exit: still not a pass
        return "exited", "program exited during the test"
    return outcome, detail


# ---------------------------------------------------------------------------------------------
# the supervisor (H)

def _errno_text():
    e = ctypes.get_errno()
    return "%s (errno %d)" % (os.strerror(e), e)


def _isolate(cfg, warn):
    """Per-job isolation, in the order the kernel needs: namespaces and mounts while we still
    hold capabilities, then rlimits, capabilities gone, no_new_privs, seccomp last."""
    layers = []
    want = cfg.get("ns", ["pid", "mount", "ipc", "uts"])
    bits = {"pid": NEWPID, "mount": NEWNS, "ipc": NEWIPC, "uts": NEWUTS}
    flags = 0
    for name in want:
        flags |= bits[name]
    if flags and _unshare(flags) != 0:
        warn("unshare(%s) failed: %s; trying one by one" % ("|".join(want), _errno_text()))
        flags = 0
        for name in want:
            if _unshare(bits[name]) == 0:
                flags |= bits[name]
            else:
                warn("namespace %s unavailable: %s" % (name, _errno_text()))
    layers += [n for n in want if flags & bits[n]]
    workdir = cfg.get("workdir", "/work")
    if flags & NEWNS:
        opts = ("size=%dk,nr_inodes=%d,mode=0755" % (cfg["work_kb"], cfg["work_inodes"])).encode()
        if _mount(b"tmpfs", workdir.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0:
            layers.append("tmpfs")
        else:
            warn("tmpfs on %s failed: %s" % (workdir, _errno_text()))
    os.chdir(workdir)
    os.mkdir("tmp", 0o1777)
    os.chmod("tmp", 0o1777)
    import resource
    lim = cfg["rlimits"]
    for name, value in lim.items():
        soft, hard = (value, value) if isinstance(value, int) else value
        resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))
    layers.append("rlimits")
    if cfg.get("setuid") is not None:      # no user namespace but root: become nobody
        uid = cfg["setuid"]
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    ok = _prctl(PR_SET_SECUREBITS, SECBITS_LOCKED_NOROOT, 0, 0, 0) == 0 or cfg.get("setuid") is not None
    cap = 0
    while _prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    hdr = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    if _syscall(SYS_capset, ctypes.byref(hdr), ctypes.byref(data)) == 0 and ok:
        layers.append("caps")
    else:
        warn("dropping capabilities failed: %s" % _errno_text())
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        layers.append("nnp")
    else:
        warn("no_new_privs failed: %s" % _errno_text())
    if _FPROG is not None:
        if _prctl(PR_SET_SECCOMP, 2, ctypes.addressof(_FPROG), 0, 0) == 0:
            layers.append("seccomp")
        else:
            warn("seccomp failed: %s" % _errno_text())
    return layers


def _read_fd(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


def _status_code(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0


def _exited_outcome(status):
    """What a test whose program went away counts as, from the program's wait status."""
    if status is None:
        return "error"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGSYS:
            return "killed"
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return "timeout"
    return "error"


def supervisor(cfg, code_fd, tests_fd, out_w, err_w, res_w, ctl_fd):
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    for fd in (devnull, out_w, err_w, ctl_fd):
        os.close(fd)
    start = time.monotonic()
    deadline = start + cfg["timeout"]
    res = os.fdopen(res_w, "w", buffering=1)

    def emit(obj):
        res.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def warn(text):
        emit({"warn": text})

    emit({"layers": _isolate(cfg, warn)})
    src = _read_fd(code_fd)
    try:
        code = compile(src, "<program>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as e:
        sys.stderr.write("".join(traceback.format_exception_only(type(e), e)))
        emit({"syntax": "%s: %s" % (type(e).__name__, e)})
        emit({"done": 1})
        return
    del src
    isolate = bool(cfg.get("isolate_tests"))
    single = not isolate and cfg.get("n_tests", 1) <= 1
    if single:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:                     # U: pid 1 of the job's namespace
            program_server(code, b.detach())
        b.close()
        conns = None
    else:
        ctl_h, ctl_i = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:                     # I: the program zygote, pid 1 of the job's namespace
            _close_all_but(ctl_i.fileno())
            os.setsid()
            program_zygote(code, ctl_i)
        ctl_i.close()
    del code
    # Only now, with the program's processes forked, do the tests enter this process.
    spec = json.loads(_read_fd(tests_fd))
    tests = spec.get("tests") or []
    check, entry, setup = spec.get("check"), spec.get("entry"), spec.get("setup")
    if check:
        tests = [None]
    if single:
        conn = Conn(a.detach(), deadline)
        if tests:
            outcome, detail = run_test(conn, tests[0], setup, check, entry)
        else:                            # no tests: the program ran if it loaded
            outcome, detail = "pass", ""
            try:
                msg = conn.wait_ready()
                if msg[0] == "load_error":
                    outcome = "memory" if msg[1] == "MemoryError" else "error"
            except TestTimeout:
                outcome = "timeout"
            except ProgramExited:
                outcome = "exited"
        os.close(conn.fd)
        status = _reap(pid, 0.2 if outcome in ("exited", "error", "memory") else 0)
        if outcome == "exited":
            outcome = _exited_outcome(status)
        if tests:
            emit({"t": 0, "o": outcome, "x": detail})
        else:
            emit({"run": outcome})
        emit({"exit": _status_code(status)})
        emit({"done": 1})
        return
    status = 0
    for j, test in enumerate(tests):
        if time.monotonic() >= deadline:
            emit({"t": j, "o": "timeout", "x": "time limit"})
            continue
        ctl_h.send(b"spawn")
        _, fds, _, _ = socket.recv_fds(ctl_h, 64, 1)
        if isolate:
            outcome, detail = _isolated_test(fds[0], deadline, test, setup, check, entry)
        else:
            conn = Conn(fds[0], deadline)
            outcome, detail = run_test(conn, test, setup, check, entry)
        os.close(fds[0])
        ctl_h.send(b"end")
        reply = ctl_h.recv(64)
        st = int(reply) if reply and reply != b"none" else None
        if outcome == "exited":
            outcome = _exited_outcome(st)
        if st is not None:
            status = st
        emit({"t": j, "o": outcome, "x": detail})
    emit({"exit": _status_code(status)})
    emit({"done": 1})


def _reap(pid, wait_s):
    """Ends the program server, pid 1 of the job's namespace (killing it tears the namespace
    down). When it went away by itself (exit, crash, seccomp) waits up to wait_s for its status;
    a server still alive after its tests is simply killed and counts as a clean exit (0)."""
    if wait_s > 0:
        pfd = os.pidfd_open(pid)
        select.select([pfd], [], [], wait_s)
        os.close(pfd)
    wpid, status = os.waitpid(pid, os.WNOHANG)
    if wpid == pid:
        return status
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return 0


def _isolated_test(fd, deadline, test, setup, check, entry):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _close_all_but(fd, w)
        try:
            out = run_test(Conn(fd, deadline), test, setup, check, entry)
        except BaseException as e:
            out = ("error", "test runner: %s" % e)
        os.write(w, json.dumps(out).encode())
        _flush_exit(0)
    os.close(w)
    try:
        data = _read_exact_until_eof(r, deadline + 0.05)
        out = tuple(json.loads(data)) if data else ("error", "test runner died")
    except TestTimeout:
        out = ("timeout", "time limit")
    os.close(r)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    return out


def _read_exact_until_eof(fd, deadline):
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestTimeout()
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            raise TestTimeout()
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def program_zygote(code, ctl):
    """I: forks a fresh program server per test on the supervisor's request; between tests
    kills everything else in the job's namespace (it is pid 1 there) and reports the status."""
    current = None
    while True:
        try:
            req = ctl.recv(64)
        except OSError:
            req = b""
        if not req:
            os._exit(0)
        if req == b"spawn":
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pid = os.fork()
            if pid == 0:
                program_server(code, b.detach())
            b.close()
            current = pid
            socket.send_fds(ctl, [b"%d" % pid], [a.fileno()])
            a.close()
        elif req == b"end":
            status = None
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while True:
                try:
                    wpid, st = os.waitpid(-1, 0)
                except ChildProcessError:
                    break
                if wpid == current:
                    status = st
            if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                status = None        # our own kill at the end of the test, not the program's doing
            ctl.send(b"none" if status is None else b"%d" % status)


# ---------------------------------------------------------------------------------------------
# the zygote (P)

_FPROG = None
_FILTER = None


def zygote():
    global _FPROG, _FILTER
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_IGN if s in (signal.SIGPIPE, signal.SIGXFSZ) else signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    sock = socket.socket(fileno=3)
    init = json.loads(sock.recv(1 << 20))
    if init.get("bpf"):
        raw = bytes.fromhex(init["bpf"])
        _FILTER = ctypes.create_string_buffer(raw, len(raw))
        _FPROG = _SockFprog(len(raw) // 8, ctypes.addressof(_FILTER))
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    gc.collect()
    gc.freeze()      # keep the collector off the shared pages: fewer copy-on-write faults per fork
    sock.send(json.dumps({"ready": 1, "python": sys.version.split()[0]}).encode())
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8)
        except OSError:
            msg, fds = b"", []
        if not msg:
            _kill_all()
            os._exit(0)
        req = json.loads(msg)
        if req.get("op") != "run" or len(fds) != 5:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"op": "error", "error": "bad request"}).encode())
            continue
        _run_job(sock, req["cfg"], fds)


def _kill_all():
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_job(sock, cfg, fds):
    pid = os.fork()
    if pid == 0:
        try:
            supervisor(cfg, *fds, sock.fileno())
        except BaseException:
            try:
                traceback.print_exc()
            except BaseException:
                pass
            os._exit(70)
        _flush_exit(0)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    while True:
        r, _, _ = select.select([sock, pidfd], [], [])
        if sock in r:
            m = sock.recv(1 << 16)
            if not m:
                _kill_all()
                os._exit(0)
            if json.loads(m).get("op") == "kill":
                _kill_all()
        if pidfd in r:
            break
    os.close(pidfd)
    _kill_all()                 # whatever the job left behind, daemons included
    h_status, maxrss, cpu = None, 0, 0.0
    while True:
        try:
            wpid, status, ru = os.wait4(-1, 0)
        except ChildProcessError:
            break
        if wpid == pid:
            h_status = status
        maxrss = max(maxrss, ru.ru_maxrss)
        cpu += ru.ru_utime + ru.ru_stime
    sock.send(json.dumps({"op": "done", "status": _status_code(h_status) if h_status is not None else None,
                          "maxrss_kb": maxrss, "cpu_s": cpu}).encode())


if __name__ == "__main__" and sys.argv[1:2] == ["--zygote"]:
    zygote()
