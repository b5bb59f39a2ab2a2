"""lpo sandbox, the wire between a program and its tests (read by engine/sandbox/worker.c
together with harness.py, this file first, and run inside the sandbox under Debian's
/usr/bin/python3).

  framing      4-byte big-endian length + payload on a stream socket; JSON messages.
  values       JSON whose objects are one-key type tags ({"t": [...]} a tuple, {"s": ...} a
               set, {"h": n} a handle to an object that stays in the program, ...). Messages
               are JSON arrays, so every JSON object is a tag and decoding only ever builds
               plain values or handles.
  test side    Remote (a proxy for a program object: calls, attributes, iteration travel; its
               equality and hash are identity, so a program's always-equal __eq__ proves
               nothing), TestNamespace (the globals of test code: names it does not define come
               from the program, builtins never do, except the job's entry point), run_test.
"""
import builtins
import json
import os
import random
import socket
import struct
import sys
import time
import traceback
import types

MAX_MSG = 64 << 20


# ---------------------------------------------------------------------------------------------
# framing: 4-byte big-endian length + JSON, on a stream socket (S <-> U)

class ProgramExited(BaseException):
    """The program's process went away during a test (exit, crash, kill)."""


class TestTimeout(BaseException):
    """The job's time budget ran out while waiting for the program."""


class ProtocolError(BaseException):
    """The program wrote something that is not a message on its channel (it owns the process
    that serves it, so it can): a runtime error of the program, never a pass."""


# What decoding a bad message can raise (recursion: absurdly deep JSON).
_BAD_MESSAGE = (ValueError, TypeError, IndexError, KeyError, RecursionError, UnicodeDecodeError)


# Made once: json.loads/dumps with arguments build a new decoder/encoder on every call.
_PLAIN_DECODE = json.JSONDecoder().decode
_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class Channel:
    """One end of a length-prefixed JSON stream. Reads are buffered (a message usually arrives
    in one read) and block in the kernel: the time limit is the socket's SO_RCVTIMEO, set per
    test, so waiting costs no select() per message."""
    __slots__ = ("fd", "buf")

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def set_deadline(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestTimeout()
        sec = int(left)
        usec = max(1, int((left - sec) * 1e6))
        sock = socket.socket(fileno=self.fd)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", sec, usec))
        finally:
            sock.detach()

    def _fill(self, need):
        parts, have = [self.buf], len(self.buf)
        while have < need:
            try:
                chunk = os.read(self.fd, max(need - have, 1 << 16))
            except BlockingIOError:
                raise TestTimeout() from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ProgramExited()
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)

    def recv(self, decode=None):
        """A message; decode: a JSONDecoder's decode method (one made once, with the value
        tags' object_hook), plain JSON otherwise."""
        return (decode or _PLAIN_DECODE)(self.recv_raw().decode())

    def recv_raw(self):
        if len(self.buf) < 4:
            self._fill(4)
        n = int.from_bytes(self.buf[:4], "big")
        if n > MAX_MSG:
            raise ValueError("message of %d bytes is over the limit" % n)
        if len(self.buf) < 4 + n:
            self._fill(4 + n)
        data, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return data

    def send_raw(self, data):
        view = memoryview(len(data).to_bytes(4, "big") + data)
        while view:
            view = view[os.write(self.fd, view):]

    def send(self, obj):
        self.send_raw(_ENCODE(obj).encode())


# ---------------------------------------------------------------------------------------------
# values across the boundary: JSON with one-key objects as type tags. Messages themselves are
# JSON arrays, so every JSON object on the wire is a tag and decoding only ever builds plain
# values (or handles to the program's objects).

from collections import deque as _deque
_dict_keys, _dict_items = type({}.keys()), type({}.items())
_BIG = 1 << 12000   # larger ints travel as hex (str(int) is capped at 4300 digits)
_SCALARS = frozenset((str, float, bool, type(None)))
# Builtin types and functions travel by name (a test may pass int or len to the program).
_BUILTIN_NAMES = {id(v): k for k, v in vars(builtins).items()
                  if isinstance(v, (type, types.BuiltinFunctionType)) and not k.startswith("_")}


def _items(xs, handle):
    return [v if (t := type(v)) in _SCALARS or (t is int and -_BIG < v < _BIG) else encode(v, handle)
            for v in xs]


def encode(x, handle):
    """Encodes a value for the other side; handle(x) returns the tag of a non-plain value."""
    t = type(x)
    if x is None or t is bool or t is str or t is float:
        return x
    if t is int:
        return x if -_BIG < x < _BIG else {"i": hex(x)}
    if t is list:
        return _items(x, handle)
    if t is tuple:
        return {"t": _items(x, handle)}
    if t is dict:
        return {"d": [[encode(k, handle), encode(v, handle)] for k, v in x.items()]}
    if t is set:
        return {"s": _items(x, handle)}
    if t is frozenset:
        return {"f": _items(x, handle)}
    if t is bytes:
        return {"y": x.hex()}
    if t is bytearray:
        return {"Y": x.hex()}
    if t is complex:
        return {"c": [x.real, x.imag]}
    if t is range:
        return {"R": [x.start, x.stop, x.step]}
    if t is _dict_keys:
        return {"K": _items(x, handle)}
    if t is _dict_items:
        return {"I": [[encode(k, handle), encode(v, handle)] for k, v in x]}
    if isinstance(x, int):       # IntEnum, user subclasses: the number itself
        return encode(int.__index__(x), handle)
    if isinstance(x, float):
        return float.__float__(x)
    if isinstance(x, str):
        return str.__str__(x)
    if isinstance(x, tuple):     # namedtuple compares equal to the tuple
        return {"t": _items(tuple.__iter__(x), handle)}
    if isinstance(x, list):
        return _items(list.__iter__(x), handle)
    if isinstance(x, dict):      # OrderedDict, Counter, defaultdict compare as dicts
        return {"d": [[encode(k, handle), encode(v, handle)] for k, v in dict.items(x)]}
    mod = sys.modules
    if "fractions" in mod and isinstance(x, mod["fractions"].Fraction):
        return {"q": [x.numerator, x.denominator]}
    if "decimal" in mod and isinstance(x, mod["decimal"].Decimal):
        return {"D": str(x)}
    if isinstance(x, _deque):
        return {"Q": _items(x, handle), "n": x.maxlen}
    name = _BUILTIN_NAMES.get(id(x))
    if name is not None and getattr(builtins, name, None) is x:
        return {"B": name}
    return handle(x)


def _decoder(resolve):
    """The decode function for values: resolve(tag, value) handles "h" (and "m" on the test
    side)."""
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
        if k == "q": return __import__("fractions").Fraction(v[0], v[1])
        if k == "D": return __import__("decimal").Decimal(v)
        if k == "B" and isinstance(v, str) and id(getattr(builtins, v, None)) in _BUILTIN_NAMES:
            return getattr(builtins, v)
        return resolve(k, v)
    return json.JSONDecoder(object_hook=hook).decode


# ---------------------------------------------------------------------------------------------
# the test side: remote objects and the namespace the test code runs in

_BUILTIN_EXC = {n: getattr(builtins, n) for n in dir(builtins)
                if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)}
_NO_IMPORT = {"antigravity", "this", "turtle", "turtledemo", "tkinter", "idlelib", "webbrowser",
              "pydoc", "ensurepip", "venv", "lib2to3", "test"}


class RemoteError(Exception):
    """An exception of a class the program defined."""


class Conn:
    """The test side's connection to one program process."""

    def __init__(self, fd, deadline):
        self.ch = Channel(fd)
        self.deadline = deadline
        self.dead = False
        self.decode = _decoder(self._resolve)
        self.handle = self._handle

    def _resolve(self, k, v):
        if k == "h":
            return Remote(self, v)
        if k == "m":
            return _module(v)
        raise ValueError("bad value tag")

    @staticmethod
    def _handle(y):
        if type(y) is Remote:
            return {"h": object.__getattribute__(y, "_h")}
        if isinstance(y, types.ModuleType) and isinstance(y.__name__, str):
            return {"m": y.__name__}
        raise TypeError("the sandbox cannot pass a %s to the program" % type(y).__name__)

    def start(self):
        """The program's first message: ["ready", layers] or ["load_error", type, text,
        layers]."""
        self.ch.set_deadline(self.deadline)
        try:
            msg = self.ch.recv()
            if not (isinstance(msg, list) and msg and msg[0] in ("ready", "load_error")
                    and isinstance(msg[-1], list) and (msg[0] == "ready" or len(msg) == 4)):
                raise ValueError("not a first message")
            return msg
        except ProgramExited:
            self.dead = True
            raise
        except _BAD_MESSAGE as e:
            self.dead = True
            raise ProtocolError("the program broke its channel: %s" % e) from None

    def request(self, msg):
        if self.dead:
            raise ProgramExited()
        try:
            self.ch.send(msg)
            reply = self.ch.recv(self.decode)
            if reply[0] == "ok" and len(reply) == 2:
                return reply[1]
            _, name, text, tb = reply
            if not (reply[0] == "err" and isinstance(name, str) and isinstance(text, str) and isinstance(tb, str)):
                raise ValueError("not a reply")
        except (ProgramExited, BrokenPipeError, ConnectionResetError):
            self.dead = True
            raise ProgramExited() from None
        except _BAD_MESSAGE as e:
            self.dead = True
            raise ProtocolError("the program broke its channel: %s" % e) from None
        cls = _BUILTIN_EXC.get(name)
        if cls is None or cls in (SystemExit, KeyboardInterrupt, GeneratorExit) or issubclass(cls, Warning):
            exc = RemoteError("%s: %s" % (name, text))
        else:
            try:
                exc = cls(text)
            except BaseException:
                exc = RemoteError("%s: %s" % (name, text))
        exc._lpo_remote_tb = tb
        raise exc


def _module(name):
    """A module the program refers to: the test side uses its own copy of stdlib modules, so
    the program's monkeypatching of, say, math.isclose cannot reach the test."""
    if isinstance(name, str):
        m = sys.modules.get(name)
        if isinstance(m, types.ModuleType):
            return m
        top = name.split(".")[0]
        if top in sys.stdlib_module_names and top not in _NO_IMPORT:
            try:
                __import__(name)
                return sys.modules[name]
            except BaseException:
                pass
    raise ImportError("the test cannot use the program's module %r" % (name,))


class Remote:
    """A proxy for an object that lives in the program. Equality and hashing are identity:
    the program's __eq__ is deliberately not consulted (an always-equal object proves nothing)."""
    __slots__ = ("_c", "_h")

    def __init__(self, conn, h):
        object.__setattr__(self, "_c", conn)
        object.__setattr__(self, "_h", h)

    def _r(self, op, *a):
        c = object.__getattribute__(self, "_c")
        h = c.handle
        return c.request([op, {"h": object.__getattribute__(self, "_h")}] + [encode(x, h) for x in a])

    def __call__(self, *a, **k):
        c = object.__getattribute__(self, "_c")
        h = c.handle
        return c.request(["c", {"h": object.__getattribute__(self, "_h")}, _items(a, h),
                          {"d": [[kk, encode(v, h)] for kk, v in k.items()]}])

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
            v = self._conn.request(["g", name])
        except NameError:
            raise KeyError(name) from None
        if isinstance(v, (Remote, types.ModuleType)):
            self[name] = v
        return v


def run_test(conn, test, setup, check, entry):
    """Runs one test against the (started) program behind conn. Returns (outcome, detail)."""
    ns = TestNamespace(conn, entry)
    ns["__builtins__"] = builtins
    ns["__name__"] = "__test__"
    random.seed(0)
    try:
        conn.ch.set_deadline(conn.deadline)
        if setup:
            exec(_compile_test(setup, "<setup>"), ns)
        if test:
            exec(_compile_test(test, "<test>"), ns)
        if check:
            exec(_compile_test(check, "<test>"), ns)
            ns["check"](conn.request(["g", entry]))
    except TestTimeout:
        return "timeout", "time limit"
    except ProgramExited:
        return "exited", "program exited during the test"
    except ProtocolError as e:
        return "error", str(e)
    except BaseException as e:
        remote = getattr(e, "_lpo_remote_tb", None)
        if remote is not None:
            sys.stderr.write(remote)
        else:
            traceback.print_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None)
        if conn.dead:
            return "exited", "program exited during the test"
        if isinstance(e, MemoryError):
            return "memory", "MemoryError"
        outcome = "fail" if isinstance(e, AssertionError) and remote is None else "error"
        return outcome, "%s: %s" % (type(e).__name__, str(e)[:300])
    if conn.dead:          # the test code swallowed the program's exit: still not a pass
        return "exited", "program exited during the test"
    return "pass", ""


_COMPILED = {}


def _compile_test(src, name):
    """Test code compiled once per problem: the 8 samples of a problem share their tests."""
    code = _COMPILED.get((src, name))
    if code is None:
        if len(_COMPILED) > 1024:
            _COMPILED.clear()
        code = _COMPILED[(src, name)] = compile(src, name, "exec", dont_inherit=True)
    return code
