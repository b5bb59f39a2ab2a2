"""lpo sandbox harness: the Python side of engine/sandbox (rpc.py, the wire between programs and
tests, is read with it and comes first). Runs inside a worker's sandbox root
under Debian's /usr/bin/python3; the C worker (engine/sandbox/worker.c) starts it as

    python3 -s -P -B -c BOOT --zygote HARNESS_SOURCE
        fd 3: SOCK_SEQPACKET to the worker (zygote), fd 4: to the worker (test server)

Processes of one worker, which runs one job at a time:

  zygote P     pid 1 of the worker's pid namespace. Once: rlimits, capabilities reduced to
               CAP_SYS_ADMIN (needed only to clone a pid namespace), no_new_privs, the seccomp
               allowlist built by the C side, the common modules imported, the test server
               forked. Per job it clones the program process U into a NEW pid namespace; when
               the worker says "end" it kills U -- pid 1 of the job's namespace, so everything
               the job started dies with it, daemons included -- and reports U's exit status.
               P never sees a job's tests.
  program U    the untrusted side. Before any program code runs (still harness code) it drops
               its last capability, sets RLIMIT_CPU and enters the job's fresh /work tmpfs (the
               worker remounts it per job); then it receives the program, compiled by S and
               marshalled, executes it and answers remote calls. Its memory never held the
               tests. All tests of a job use the same U; S asks the worker for a fresh one when
               U is gone (or, with isolate, before every test).
  test server S  forked from P once, without capabilities. The worker hands it each job's code
               and tests (memfds), the program's socket and the job's pipes. S compiles the
               program (a SyntaxError is told apart here, before anything runs). Names the test
               code does not define resolve to *remote* objects living in U (rpc.py):
               candidate(x) sends x to U, runs the program's function there and sends back the
               value, which json decodes into plain Python values. The program can neither reach
               S nor write S's result stream: os._exit, sys.exit, patched builtins/unittest/
               asserts, printing "OK" or an __eq__ that always says yes all stay inside U. S
               writes the facts, one JSON object per line, to a pipe only it holds. Test code is
               trusted here (dataset tests); model-written tests run with isolate, each in a
               fork of S that can only decide its own outcome.

Outcomes per test: pass, fail (the test's own assertion failed), error (an exception or a crash,
including exceptions the program raised), timeout, memory, exited (the program's process went
away; the worker classifies that from the exit status: a seccomp kill is "killed", ...).
"""
import builtins
import ctypes
import gc
import json
import marshal
import os
import random
import resource
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
           "typing", "copy", "operator")

CLONE_NEWPID, SIGCHLD, SYS_clone, SYS_capset = 0x20000000, 17, 56, 126
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAPBSET_DROP = 38, 22, 24
PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS = 21, 39
PR_SET_SECUREBITS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 28, 47, 4
SECBITS_LOCKED_NOROOT = 0x2f   # NOROOT, NO_SETUID_FIXUP and their locks, KEEP_CAPS locked off
CAP_SYS_ADMIN, CAP_SETGID, CAP_SETUID, CAP_KILL = 21, 6, 7, 5

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_HDR = _CapHeader(0x20080522, 0)
_DEVNULL = os.open("/dev/null", os.O_RDWR)
_CAP_NONE = (_CapData * 2)()


def _capset(caps):
    """Sets effective = permitted = caps (capability numbers < 32), inheritable empty."""
    data = (_CapData * 2)()
    mask = 0
    for c in caps:
        mask |= 1 << c
    data[0].effective = data[0].permitted = mask
    return _syscall(SYS_capset, ctypes.byref(_CAP_HDR), ctypes.byref(data)) == 0


def _errno_text():
    e = ctypes.get_errno()
    return "%s (errno %d)" % (os.strerror(e), e)


# ---------------------------------------------------------------------------------------------
# the program side (U, and the program zygote I when a job has several tests)

def _close_all_but(*keep):
    """Closes every descriptor above stderr except keep."""
    lo = 3
    for fd in sorted(keep):
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 16)


def _flush():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass


def _flush_exit(status):
    _flush()
    os._exit(status & 0xff if isinstance(status, int) else 1)


def program_server(code, ch, layers=None):
    """Executes the program, reports ready (with the job's layers) or the exception that
    stopped it, then answers requests until the test side hangs up."""
    handles = []

    def handle(x):
        if isinstance(x, types.ModuleType):
            return {"m": x.__name__ if isinstance(x.__name__, str) else "?"}
        handles.append(x)
        return {"h": len(handles) - 1}

    def resolve(k, v):
        if k == "h":
            return handles[v]
        if k == "m":
            return __import__(v) and sys.modules[v]
        raise ValueError("bad value tag")

    g = {"__name__": "solution", "__builtins__": builtins}
    try:
        exec(code, g)
    except BaseException as e:
        traceback.print_exc()
        status = 1
        if isinstance(e, SystemExit):
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        try:
            ch.send(["load_error", type(e).__name__, str(e)[:500], layers])
        except BaseException:
            pass
        _flush_exit(status)
    decode = _decoder(resolve)
    reply = ["ready", layers]
    while True:
        _flush()          # the program's output so far: it may be killed once the tests are done
        try:
            ch.send(reply)
            req = ch.recv(decode)
        except BaseException:
            _flush_exit(0)
        op, a = req[0], req[1:]
        try:
            if op == "c": out = a[0](*a[1], **a[2])
            elif op == "g":
                if a[0] not in g:
                    raise NameError("name %r is not defined" % a[0])
                out = g[a[0]]
            elif op == "a": out = getattr(a[0], a[1])
            elif op == "s": setattr(a[0], a[1], a[2]); out = None
            elif op == "i": out = iter(a[0])
            elif op == "n": out = next(a[0])
            elif op == "l": out = len(a[0])
            elif op == "b": out = bool(a[0])
            elif op == "r": out = repr(a[0])
            elif op == "S": out = str(a[0])
            elif op == "gi": out = a[0][a[1]]
            elif op == "si": a[0][a[1]] = a[2]; out = None
            elif op == "in": out = a[1] in a[0]
            elif op == "int": out = int(a[0])
            elif op == "float": out = float(a[0])
            elif op == "index": out = a[0].__index__()
            else: raise ValueError("unknown request")
            reply = ["ok", encode(out, handle)]
        except BaseException as e:
            if isinstance(e, SystemExit):
                traceback.print_exc()
                _flush_exit(e.code if isinstance(e.code, int) else 1)
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None))
            reply = ["err", type(e).__name__, str(e)[:500], tb[-4000:]]


def program_main(cfg, sock_fd, out_w, err_w):
    """U right after the clone: finish the job's isolation, receive the program (compiled and
    marshalled by the test server, which already told syntax errors apart), run it. Never
    returns. cfg: b"CPU_SECONDS SETUID|- WORKDIR"."""
    dup2, closerange = os.dup2, os.closerange
    dup2(out_w, 1)
    dup2(err_w, 2)
    dup2(_DEVNULL, 0)
    closerange(3, sock_fd)
    closerange(sock_fd + 1, 1 << 16)
    layers = ["pid"] if os.getpid() == 1 else []
    cpu, uid, workdir = cfg.split(b" ", 2)
    os.setsid()
    if uid != b"-":                             # no user namespace but root: become nobody
        uid = int(uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    if _syscall(SYS_capset, ctypes.byref(_CAP_HDR), ctypes.byref(_CAP_NONE)) == 0:
        layers.append("caps")
    cpu = int(cpu)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    layers.append("rlimits")
    os.chdir(workdir)
    ch = Channel(sock_fd)
    try:
        code = marshal.loads(ch.recv_raw())
    except BaseException:
        _flush_exit(0)                          # a syntax error: the test server hung up
    program_server(code, ch, layers)


def _read_fd(fd):
    data = os.pread(fd, os.fstat(fd).st_size, 0)   # a sealed memfd: its size is final
    os.close(fd)
    return data


def _status_code(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0


# ---------------------------------------------------------------------------------------------
# the test server (S)

def test_server(ctl):
    """Runs jobs' tests as the worker hands them over: {"op": "job", cfg} with the fds
    [program socket, code memfd, tests memfd, stdout, stderr, result stream]. It compiles the
    program (a SyntaxError is told apart here, before anything runs) and sends the program
    process the marshalled code. Every test of a job runs against the same program process, as
    in-process harnesses do; when that process is gone (or, with isolate, before every test)
    the server asks the worker for a fresh one by writing {"respawn": j} and waits for
    {"op": "sock"} with its socket."""
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 8)
        except OSError:
            msg = b""
        if not msg:
            os._exit(0)
        t0 = time.process_time()
        req = json.loads(msg)
        if req.get("op") != "job" or len(fds) != 6:
            for fd in fds:
                os.close(fd)
            continue
        prog, code_fd, tests_fd, out_w, err_w, res_w = fds
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        lines = []

        def emit(obj, flush=False):
            lines.append(_ENCODE(obj))
            if flush:
                os.write(res_w, ("\n".join(lines) + "\n").encode())
                lines.clear()

        try:
            _run_job_tests(req["cfg"], prog, code_fd, tests_fd, emit, ctl)
        except BaseException:
            traceback.print_exc()
            emit({"warn": "test server error"})
        _flush()
        os.dup2(_DEVNULL, 1)
        os.dup2(_DEVNULL, 2)
        for fd in (prog, code_fd, tests_fd):   # closed already unless the job failed early;
            try:                               # no other descriptor can hold these numbers now
                os.close(fd)
            except OSError:
                pass
        emit({"done": 1, "cpu_s": time.process_time() - t0})
        try:
            os.write(res_w, ("\n".join(lines) + "\n").encode())
        except OSError:
            pass
        os.close(res_w)


def _respawn(ctl, emit, j, deadline):
    """Asks the worker for a fresh program process; returns its Conn, or None."""
    emit({"respawn": j}, flush=True)
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([ctl], [], [], left)[0]:
        return None
    msg, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 1)
    if not msg or not fds:
        raise ProgramExited()           # the worker is gone
    return Conn(fds[0], deadline)


def _run_job_tests(cfg, prog, code_fd, tests_fd, emit, ctl):
    deadline = time.monotonic() + cfg["timeout"]
    src = _read_fd(code_fd)
    spec = json.loads(_read_fd(tests_fd))
    tests = spec.get("tests") or []
    check, entry, setup = spec.get("check"), spec.get("entry"), spec.get("setup")
    if check:
        tests = [None]
    try:
        program = marshal.dumps(compile(src, "<program>", "exec", dont_inherit=True))
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as e:
        sys.stderr.write("".join(traceback.format_exception_only(type(e), e)))
        os.close(prog)
        emit({"syntax": "%s: %s" % (type(e).__name__, e)})
        return
    del src
    isolate = cfg.get("isolate")
    conn, first = Conn(prog, deadline), None
    try:
        for j in range(max(len(tests), 1)):
            if conn is None:
                conn, first = _respawn(ctl, emit, j, deadline), None
                if conn is None:
                    emit({"t": j, "o": "timeout", "x": "time limit"})
                    return
            if first is None:
                try:
                    conn.ch.send_raw(program)
                    first = conn.start()
                except (TestTimeout, ProgramExited, BrokenPipeError, ConnectionResetError, ProtocolError) as e:
                    o, x = ("timeout", "time limit") if isinstance(e, TestTimeout) else \
                           ("error", str(e)) if isinstance(e, ProtocolError) else \
                           ("exited", "the program ended before its tests ran")
                    emit({"t": j, "o": o, "x": x} if tests else {"run": o})
                    return
                if j == 0:
                    emit({"layers": first[-1]})
                if first[0] != "ready":
                    emit({"gone": 1})    # it exits after a load error
            if not tests:            # no tests: the program passes if it runs to the end
                emit({"run": "pass" if first[0] == "ready" else "memory" if first[1] == "MemoryError" else "error"})
                return
            if first[0] == "load_error":     # the same for every test: no need to run again
                outcome = "memory" if first[1] == "MemoryError" else "error"
                for k in range(j, len(tests)):
                    emit({"t": k, "o": outcome, "x": "program failed: %s: %s" % (first[1], first[2])})
                return
            if isolate:
                outcome, detail = _isolated_test(conn.ch.fd, deadline, tests[j], setup, check, entry)
            else:
                outcome, detail = run_test(conn, tests[j], setup, check, entry)
            emit({"t": j, "o": outcome, "x": detail})
            if outcome == "timeout":
                return               # the time is up: the rest stay unrun (skipped)
            if isolate or conn.dead or outcome in ("exited", "memory"):
                os.close(conn.ch.fd)
                conn = None
    finally:
        if conn is not None:
            os.close(conn.ch.fd)


def _isolated_test(fd, deadline, test, setup, check, entry):
    """A test written by a model runs in a fork of the test server, so it can only decide its
    own outcome: it cannot reach the result stream or the state later tests run in."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _close_all_but(fd, w)
        try:
            out = run_test(Conn(fd, deadline), test, setup, check, entry)
        except BaseException as e:  # noqa: the runner reports whatever happened
            out = ("error", "test runner: %s" % e)
        os.write(w, json.dumps(out).encode())
        _flush_exit(0)
    os.close(w)
    chunks = []
    try:
        while True:
            left = deadline + 0.05 - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise TestTimeout()
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        data = b"".join(chunks)
        out = tuple(json.loads(data)) if data else ("error", "the test process died")
        if len(out) != 2 or not all(isinstance(x, str) for x in out):
            out = ("error", "the test process wrote garbage")
    except TestTimeout:
        out = ("timeout", "time limit")
    except ValueError:
        out = ("error", "the test process wrote garbage")
    os.close(r)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    return out


# ---------------------------------------------------------------------------------------------
# the zygote (P)

def _harden(init):
    """P's one-time isolation: rlimits, capabilities down to CAP_SYS_ADMIN (clone of a pid
    namespace; plus SETUID/SETGID, and KILL to end them, when jobs must become nobody),
    no_new_privs, seccomp."""
    warnings = []
    for name, value in init.get("rlimits", {}).items():
        soft, hard = (value, value) if isinstance(value, int) else value
        resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))
    keep = [CAP_SYS_ADMIN]
    if init.get("setuid") is not None:
        keep += [CAP_SETUID, CAP_SETGID, CAP_KILL]
    _prctl(PR_SET_SECUREBITS, SECBITS_LOCKED_NOROOT, 0, 0, 0)
    for cap in range(64):
        if cap not in keep and _prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if not _capset(keep):
        warnings.append("capset: %s" % _errno_text())
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        warnings.append("no_new_privs: %s" % _errno_text())
    if init.get("bpf"):
        raw = bytes.fromhex(init["bpf"])
        buf = ctypes.create_string_buffer(raw, len(raw))
        prog = _SockFprog(len(raw) // 8, ctypes.addressof(buf))
        if _prctl(PR_SET_SECCOMP, 2, ctypes.addressof(prog), 0, 0) != 0:
            warnings.append("seccomp: %s" % _errno_text())
    return warnings


def _start_server(fd):
    pid = os.fork()
    if pid == 0:
        _close_all_but(fd, _DEVNULL)
        _capset([])
        os.chdir("/")
        test_server(socket.socket(fileno=fd))
    os.close(fd)
    return pid


def zygote():
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_IGN if s in (signal.SIGPIPE, signal.SIGXFSZ) else signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    sock = socket.socket(fileno=3)
    init = json.loads(sock.recv(1 << 20))
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    warnings = _harden(init)
    random.seed(0)   # programs inherit this state: the same random numbers in every job
    server = _start_server(4)
    gc.collect()
    gc.freeze()      # keep the collector off the shared pages: fewer copy-on-write faults per fork
    sock.send(json.dumps({"ready": 1, "python": sys.version.split()[0], "warnings": warnings,
                          "pid1": os.getpid() == 1,
                          "nnp": _prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1,
                          "seccomp": _prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2}).encode())
    use_clone, job = init.get("pidns", True), None
    recvmsg, anc_size, unpack = sock.recvmsg, socket.CMSG_SPACE(8 * 4), struct.unpack
    while True:
        # Kept small and free of json: every page this loop writes is a copy-on-write fault
        # after each clone. "r CPU UID WORKDIR" (parsed by the program process), "e", "s".
        try:
            msg, anc, _, _ = recvmsg(512, anc_size)
        except OSError:
            msg, anc = b"", []
        if not msg:
            os._exit(0)
        fds = ()
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = unpack("%di" % (len(data) // 4), data[:len(data) - len(data) % 4])
        op = msg[:1]
        if op == b"r" and len(fds) == 3 and job is None:
            job, use_clone = _start_job(msg[1:], fds, use_clone)
        elif op == b"e":
            sock.send(_end_job(job, msg[1:2] == b"x"))
            job = None
        elif op == b"s" and len(fds) == 1:
            _kill(server)
            os.waitpid(server, 0)
            server = _start_server(fds[0])
        else:
            for fd in fds:
                os.close(fd)


def _start_job(cfg, fds, use_clone):
    """Clones the program process into a new pid namespace (os.fork cannot, and Python 3.11
    has no unshare). The raw clone from this single-threaded process returns here twice like
    fork(), just without CPython's after-fork hooks, which would only reseed random and touch
    pages."""
    sock_fd, out_w, err_w = fds
    pid = _syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0) if use_clone else -1
    if pid < 0:
        use_clone = False
        pid = os.fork()
    if pid == 0:
        try:
            program_main(cfg, sock_fd, out_w, err_w)
        except BaseException:
            traceback.print_exc()
        os._exit(70)
    for fd in fds:
        os.close(fd)
    return pid, use_clone


def _end_job(pid, exited):
    """Ends the job: the program's own exit status if it already ended by itself (exited: the
    test server saw it go, so wait for it a moment), else it is killed (it, and with it every
    process of the job's namespace). Replies b"d STATUS|k MAXRSS_KB CPU_S" (k: killed by us)."""
    if pid is None:
        return b"d k 0 0"
    wpid = 0
    if exited:
        pfd = os.pidfd_open(pid)
        select.select([pfd], [], [], 1.0)
        os.close(pfd)
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
    if wpid != pid:
        _kill(pid)
        wpid, status, ru = os.wait4(pid, 0)
        code = b"k"
    else:
        code = b"%d" % _status_code(status)
    return b"d %s %d %r" % (code, ru.ru_maxrss, ru.ru_utime + ru.ru_stime)


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__" and sys.argv[1:2] == ["--zygote"]:
    zygote()
