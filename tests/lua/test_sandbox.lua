-- lpo.sandbox: the Lua API, the job formats, per-test vectors, verdicts, the remote-object
-- semantics the tests rely on, forgery, the Lua runner, and the degraded modes.
local T = require "lpo.testing"
local sandbox = require "lpo.sandbox"

local ok, pool = pcall(sandbox.pool, { timeout = 2, memory_mb = 256, quiet = true })
if not ok then
  io.stderr:write("SKIP: the sandbox cannot run here: ", tostring(pool.message or pool), "\n")
  os.exit(77)
end

-- Cases run as one batch (fast); each names the verdict and the per-test vector it must get.
local cases = {
  { name = "asserts: pass/fail vector",
    job = { code = "def f(x):\n    return x * 2\n", tests = { "assert f(1) == 2", "assert f(2) == 5", "assert f(0) == 0" } },
    verdict = "failed", tests = { "pass", "fail", "pass" } },
  { name = "HumanEval check(candidate)",
    job = { code = "def add(a, b):\n    return a + b\n",
            test = "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
            entry_point = "add" },
    verdict = "passed", tests = { "pass" } },
  { name = "HumanEval check with a wrong answer",
    job = { code = "def add(a, b):\n    return a - b\n",
            test = "def check(candidate):\n    assert candidate(1, 2) == 3\n", entry_point = "add" },
    verdict = "failed", tests = { "fail" } },
  { name = "missing entry point is a runtime error",
    job = { code = "def other(a):\n    return a\n", test = "def check(candidate):\n    assert candidate(1) == 1\n",
            entry_point = "add" },
    verdict = "runtime_error", tests = { "error" } },
  { name = "exception in the program's function: runtime_error, other tests still run",
    job = { code = "def f(x):\n    return 10 // x\n", tests = { "assert f(0) == 1", "assert f(5) == 2" } },
    verdict = "runtime_error", tests = { "error", "pass" } },
  { name = "exception expected by the test is caught there",
    job = { code = "def f(x):\n    if x < 0:\n        raise ValueError('neg')\n    return x\n",
            tests = { "try:\n    f(-1)\n    assert False\nexcept ValueError as e:\n    assert 'neg' in str(e)" } },
    verdict = "passed", tests = { "pass" } },
  { name = "module-level exception: every test errors",
    job = { code = "import nonexistent_module_xyz\ndef f():\n    return 1\n", tests = { "assert f() == 1", "assert f() == 1" } },
    verdict = "runtime_error", tests = { "error", "error" } },
  { name = "syntax error is told apart",
    job = { code = "def f(:\n    return 1\n", tests = { "assert f() == 1" } },
    verdict = "syntax_error", tests = { "skipped" } },
  { name = "null bytes are a syntax error",
    job = { code = "def f():\n    return 1\0\n", tests = { "assert f() == 1" } },
    verdict = "syntax_error" },
  { name = "one test loops: timeout, the rest are not run",
    job = { code = "def f(x):\n    while x:\n        pass\n    return 1\n",
            tests = { "assert f(0) == 1", "assert f(1) == 1", "assert f(0) == 1" }, timeout = 1 },
    verdict = "timeout", tests = { "pass", "timeout", "skipped" } },
  { name = "the program dies in test 2: test 3 runs in a fresh process",
    job = { code = "import os\ncount = 0\ndef f(x):\n    if x == 2:\n        os._exit(3)\n    return x\n",
            tests = { "assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3" } },
    verdict = "runtime_error", tests = { "pass", "error", "pass" } },
  { name = "a seccomp kill in test 2 is 'killed', test 3 still runs",
    job = { code = "import socket\ndef f(x):\n    if x == 2:\n        socket.socket()\n    return x\n",
            tests = { "assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3" } },
    verdict = "killed", tests = { "pass", "killed", "pass" } },
  { name = "tests of a job share the program's state (as in-process harnesses)",
    job = { code = "calls = []\ndef f(x):\n    calls.append(x)\n    return len(calls)\n",
            tests = { "assert f(1) == 1", "assert f(1) == 2" } },
    verdict = "passed" },
  { name = "isolate_tests: a fresh program process per test",
    job = { code = "calls = []\ndef f(x):\n    calls.append(x)\n    return len(calls)\n",
            tests = { "assert f(1) == 1", "assert f(1) == 1" }, isolate_tests = true },
    verdict = "passed" },
  { name = "isolate_tests: a test that tampers with the harness only decides its own outcome",
    job = { code = "def f(x):\n    return 0\n",
            tests = { "import sys, gc\nfor o in gc.get_objects():\n    if isinstance(o, dict) and 'run_test' in o:\n        o['run_test'] = lambda *a, **k: ('pass', '')\nassert True",
                      "assert f(1) == 1" }, isolate_tests = true },
    verdict = "failed", tests = { "pass", "fail" } },
  { name = "MBPP setup code builds objects of the program's classes",
    job = { code = "class Node:\n    def __init__(self, v):\n        self.v = v\n        self.next = None\n" ..
                   "def length(n):\n    k = 0\n    while n:\n        k += 1\n        n = n.next\n    return k\n",
            setup = "a = Node(1)\na.next = Node(2)\na.next.next = Node(3)\n",
            tests = { "assert length(a) == 3", "assert a.next.v == 2" } },
    verdict = "passed" },
  { name = "types survive the boundary: tuple is not list",
    job = { code = "def f():\n    return [1, 2]\n", tests = { "assert f() == (1, 2)" } },
    verdict = "failed" },
  { name = "types survive the boundary: plain values",
    job = { code = "from fractions import Fraction\nfrom collections import OrderedDict, Counter, deque, namedtuple\n" ..
                   "P = namedtuple('P', 'x y')\n" ..
                   "def f():\n    return {'t': (1, 2.5, None, True), 's': {1, 2}, 'fs': frozenset('ab'), 'b': b'\\x00x', " ..
                   "'c': 1 + 2j, 'big': 2 ** 20000, 'neg': -0.0, 'inf': float('inf'), 'q': Fraction(1, 3), " ..
                   "'od': OrderedDict(a=1), 'cnt': Counter('aab'), 'dq': deque([1, 2]), 'p': P(1, 2), " ..
                   "'keys': {'a': 1}.keys(), 'r': range(3), 'u': '\\ud800x', (1, 2): 'tuple key'}\n" ..
                   "def gen(n):\n    yield from range(n)\n" ..
                   "def typ():\n    return int\n",
            tests = { "from fractions import Fraction\nfrom collections import deque, Counter\nd = f()\n" ..
                      "assert d['t'] == (1, 2.5, None, True) and type(d['t']) is tuple\n" ..
                      "assert d['s'] == {1, 2} and d['fs'] == frozenset('ab') and d['b'] == b'\\x00x'\n" ..
                      "assert d['c'] == 1 + 2j and d['big'] == 2 ** 20000 and str(d['neg']) == '-0.0'\n" ..
                      "assert d['inf'] == float('inf') and d['q'] == Fraction(1, 3)\n" ..
                      "assert d['od'] == {'a': 1} and d['cnt'] == Counter('aab') and d['dq'] == deque([1, 2])\n" ..
                      "assert d['p'] == (1, 2) and d['keys'] == {'a'} and d['r'] == range(3) and d['u'] == '\\ud800x'\n" ..
                      "assert d[(1, 2)] == 'tuple key'",
                      "assert list(gen(4)) == [0, 1, 2, 3] and sum(gen(5)) == 10",
                      "assert typ() is int" } },
    verdict = "passed" },
  { name = "values the test passes: builtins, modules, nested containers",
    job = { code = "def f(t, x):\n    return isinstance(x, t)\ndef g(m):\n    return m.sqrt(16)\ndef h(d):\n    return sorted(d.items())\n",
            tests = { "assert f(int, 3) and not f(str, 3)", "import math\nassert g(math) == 4.0",
                      "assert h({'b': [1, (2,)], 'a': {3}}) == [('a', {3}), ('b', [1, (2,)])]" } },
    verdict = "passed" },
  { name = "the program cannot shadow builtins the test uses",
    job = { code = "def abs(x):\n    return 0\ndef f(x):\n    return 0\n", tests = { "assert abs(f(3) - 9) < 1e-6" } },
    verdict = "failed" },
  { name = "... except the named entry point (MBPP's `sum`)",
    job = { code = "def sum(a, b):\n    return (a + b) % 7\n", tests = { "assert sum(10, 15) == 4" }, entry_point = "sum" },
    verdict = "passed" },
  { name = "an always-equal object proves nothing",
    job = { code = "class Y:\n    def __eq__(self, o):\n        return True\ndef f():\n    return Y()\n", tests = { "assert f() == 3" } },
    verdict = "failed" },
  { name = "monkeypatching math/unittest in the program does not reach the test",
    job = { code = "import math, unittest\nmath.isclose = lambda *a, **k: True\nunittest.TestCase.assertEqual = lambda *a, **k: None\n" ..
                   "def f():\n    return 0\n",
            tests = { "import math\nassert math.isclose(f(), 1.0)", "import unittest\nunittest.TestCase().assertEqual(f(), 1)" } },
    verdict = "failed", tests = { "fail", "fail" } },
  { name = "sys.exit(0) before the tests is not a pass",
    job = { code = "import sys\ndef f():\n    return 0\nsys.exit(0)\n", tests = { "assert f() == 1" } },
    verdict = "runtime_error" },
  { name = "random is seeded: same output every run",
    job = { code = "import random\ndef f():\n    return random.random()\n", tests = { "assert f() == 0.8444218515250481" } },
    verdict = "passed" },
  { name = "stdout and stderr are captured",
    job = { code = "import sys\nprint('out-line')\nsys.stderr.write('err-line\\n')\ndef f():\n    print('in-call')\n    return 1\n",
            tests = { "assert f() == 1" } },
    verdict = "passed", stdout = "out-line\nin-call\n", stderr = "err-line\n" },
  { name = "no tests: the program passes if it runs to the end",
    job = { code = "x = sum(range(10))\nprint(x)\n" }, verdict = "passed", tests = {}, stdout = "45\n" },
  { name = "no tests: sys.exit(3) is a runtime error with its exit status",
    job = { code = "import sys\nsys.exit(3)\n" }, verdict = "runtime_error", exit_status = 3 },
  { name = "no tests: a seccomp kill",
    job = { code = "import socket\nsocket.socket()\n" }, verdict = "killed", exit_status = -31 },
  { name = "memory limit from the program",
    job = { code = "def f():\n    return bytearray(2 ** 31)\n", tests = { "assert len(f()) > 0", "assert 1 == 1" } },
    verdict = "memory_limit", tests = { "memory", "pass" } },
  { name = "Lua: pass/fail vector",
    job = { language = "lua", code = "function f(x) return x * 2 end", tests = { "assert(f(1) == 2)", "assert(f(2) == 5)" } },
    verdict = "failed", tests = { "pass", "fail" } },
  { name = "Lua: check(candidate)",
    job = { language = "lua", code = "function add(a, b) return a + b end",
            test = "function check(candidate)\n  assert(candidate(1, 2) == 3)\nend", entry_point = "add" },
    verdict = "passed" },
  { name = "Lua: runtime error",
    job = { language = "lua", code = "function f(x) return x.y end", tests = { "assert(f(1) == 1)" } },
    verdict = "runtime_error" },
  { name = "Lua: syntax error",
    job = { language = "lua", code = "function f( return end", tests = { "assert(f() == 1)" } },
    verdict = "syntax_error" },
  { name = "Lua: a loop in one test times out, the JIT is off so the hook sees it",
    job = { language = "lua", code = "function f(x) while x do end return 1 end",
            tests = { "assert(f(false) == 1)", "assert(f(true) == 1)" }, timeout = 1 },
    verdict = "timeout", tests = { "pass", "timeout" } },
  { name = "Lua: no io/os.execute/require/load/debug/ffi in the program",
    job = { language = "lua", code = "function f() return io, os.execute, require, load, loadstring, debug, jit, dofile end",
            tests = { "local a, b, c, d, e, g, h, i = f()\nassert(a == nil and b == nil and c == nil and d == nil and e == nil and g == nil and h == nil and i == nil)" } },
    verdict = "passed" },
  { name = "Lua: print is captured",
    job = { language = "lua", code = "print('hello', 42)" }, verdict = "passed", stdout = "hello\t42\n" },
}

local jobs = {}
for i, c in ipairs(cases) do jobs[i] = c.job end
local calls, last = 0, -1
local results = pool:run_batch(jobs, { progress = function(done, total)
  calls = calls + 1
  T.truthy(done > last and total == #jobs, "progress is monotonic")
  last = done
end })

for i, c in ipairs(cases) do
  T.case(c.name, function()
    local r = results[i]
    local why = " (" .. r.verdict .. ": " .. r.detail .. " | " .. r.stderr_tail:sub(-400) .. ")"
    T.eq(r.verdict, c.verdict, "verdict" .. why)
    if c.tests then
      T.eq(table.concat(r.tests, ","), table.concat(c.tests, ","), "per-test outcomes" .. why)
      T.eq(#r.passed, #c.tests, "passed vector length")
      for k, o in ipairs(c.tests) do T.eq(r.passed[k], o == "pass", "passed[" .. k .. "]") end
    end
    if c.stdout then T.eq(r.stdout_tail, c.stdout, "stdout") end
    if c.stderr then T.eq(r.stderr_tail, c.stderr, "stderr") end
    if c.exit_status then T.eq(r.exit_status, c.exit_status, "exit status") end
    T.truthy(r.time_ms > 0, "time is measured")
    if not c.name:find("null bytes") then T.truthy(r.cpu_ms > 0, "cpu is measured") end
  end)
end

T.case("progress callback saw every job", function()
  T.eq(calls, #jobs + 1, "calls (0 .. n)")
  T.eq(last, #jobs, "last")
end)

T.case("results come back in submission order", function()
  local js = {}
  for k = 1, 20 do js[k] = { code = "def f():\n    return " .. k .. "\n", tests = { "assert f() == " .. k } } end
  local rs = pool:run_batch(js)
  for k = 1, 20 do T.eq(rs[k].verdict, "passed", "job " .. k) end
  local r = pool:run { code = "def f():\n    return 1\n", tests = { "assert f() == 2" } }
  T.eq(r.verdict, "failed", "pool:run")
end)

T.case("peak memory is measured", function()
  local small = pool:run { code = "x = 1" }
  local big = pool:run { code = "x = bytearray(100 * 2 ** 20)\nx[::4096] = b'1' * (100 * 256)\n" }
  T.truthy(small.peak_mb and big.peak_mb, "peak_mb present")
  T.truthy(big.peak_mb - small.peak_mb > 90, "100 MiB touched shows: " .. big.peak_mb .. " vs " .. small.peak_mb)
end)

T.case("CodeRL reward", function()
  T.eq(sandbox.reward("passed"), 1)
  T.eq(sandbox.reward("failed"), -0.3)
  T.eq(sandbox.reward("runtime_error"), -0.6)
  T.eq(sandbox.reward("timeout"), -0.6)
  T.eq(sandbox.reward("memory_limit"), -0.6)
  T.eq(sandbox.reward("output_limit"), -0.6)
  T.eq(sandbox.reward("killed"), -0.6)
  T.eq(sandbox.reward("syntax_error"), -1)
  T.eq(sandbox.reward("sandbox_error"), nil)
  T.eq(sandbox.reward("nonsense"), nil)
end)

T.case("layers: every layer active here, none missing", function()
  local l = sandbox.layers()
  T.eq(#l.missing, 0, "missing: " .. table.concat(l.missing, ","))
  T.eq(#l, 12, "layers: " .. table.concat(l, ","))
  T.eq(#pool:layers(), 12, "pool layers")
end)

T.case("bad jobs and options are user errors naming the field", function()
  T.raises(function() pool:run { tests = { "assert 1" } } end, "job 1.code must be a string")
  T.raises(function() pool:run { code = "x", tests = { 3 } } end, "job 1.tests[1] must be a string")
  T.raises(function() pool:run { code = "x", language = "cobol" } end, "language must be")
  T.raises(function() pool:run { code = "x", test = "def check(c): pass" } end, "needs job.entry_point")
  T.raises(function() sandbox.pool { workerz = 2 } end, "unknown pool option 'workerz'")
  T.raises(function() sandbox.pool { memory_mb = 8 } end, "memory_mb must be at least 64")
end)

T.case("sandbox.job maps HumanEval and MBPP records", function()
  local he = sandbox.job({ task_id = "HumanEval/0", prompt = "p", test = "def check(c): pass", entry_point = "f" }, "code")
  T.eq(he.test, "def check(c): pass")
  T.eq(he.entry_point, "f")
  local mb = sandbox.job({ task_id = 126, test_list = { "assert sum(10,15) == 6" }, test_setup_code = "" },
                         "def gcd(a, b):\n    pass\ndef sum(a,b):\n    return 6\n")
  T.eq(mb.entry_point, "sum")
  T.eq(mb.setup, nil)
  T.eq(#mb.tests, 1)
  T.raises(function() sandbox.job({ task_id = 1 }, "x") end, "neither tests")
end)

-- Processes of ours, by ancestry: the workers, the zygotes, the test servers.
local function descendants(pattern)
  local me = T.sh("echo $PPID"):match("%d+")
  local out = T.sh("ps -eo pid=,ppid=,args= | cut -c1-300 | sed 's/^ *//'")
  local parent, args = {}, {}
  for pid, ppid, rest in out:gmatch("(%d+)%s+(%d+)%s+([^\n]*)") do parent[pid], args[pid] = ppid, rest end
  local found = {}
  for pid in pairs(parent) do
    local p, depth = pid, 0
    while p and p ~= me and depth < 8 do p, depth = parent[p], depth + 1 end
    if p == me and args[pid]:find(pattern, 1, true) then found[#found + 1] = pid end
  end
  return found
end

T.case("test code that never returns: the test server is replaced, the pool goes on", function()
  local r = pool:run { code = "def f():\n    return 1\n", tests = { "while True:\n    pass" }, timeout = 1 }
  T.eq(r.verdict, "timeout", r.detail)
  r = pool:run { code = "def f():\n    return 1\n", tests = { "assert f() == 1" } }
  T.eq(r.verdict, "passed", "next job: " .. r.detail .. r.stderr_tail)
end)

T.case("a zygote killed under a job: sandbox_error for it, a new zygote for the next", function()
  -- The kill must land while the jobs run: they sleep 2.5 s and the kill comes at 1 s (a
  -- loaded machine can take a few hundred ms to start a job). Their limit is 10 s, so a
  -- "timeout" here means the death went unnoticed (as it did, about one run in six under
  -- load, when a failed message to the dead zygote closed its socket and the supervisor
  -- went on polling fd -1 until the time limit: job.c).
  local js = {}
  for k = 1, 2 do
    js[k] = { code = "import time\ntime.sleep(2.5)\ndef f():\n    return 1\n", tests = { "assert f() == 1" }, timeout = 10 }
  end
  local zygotes = descendants("--zygote")
  T.truthy(#zygotes >= 1, "found the zygotes")
  local killer = io.popen("sleep 1; kill -9 " .. table.concat(zygotes, " "))
  local rs = pool:run_batch(js)
  killer:close()
  for k = 1, 2 do T.eq(rs[k].verdict, "sandbox_error", "job " .. k .. ": " .. rs[k].detail) end
  local r = pool:run { code = "def f():\n    return 1\n", tests = { "assert f() == 1" } }
  T.eq(r.verdict, "passed", "after: " .. r.detail)
end)

T.case("test servers killed between jobs: the next jobs still pass", function()
  local me = T.sh("echo $PPID"):match("%d+")
  local out = T.sh("ps -eo pid=,ppid=,args= | cut -c1-300 | sed 's/^ *//'")
  local parent, args = {}, {}
  for pid, ppid, rest in out:gmatch("(%d+)%s+(%d+)%s+([^\n]*)") do parent[pid], args[pid] = ppid, rest end
  local servers = {}   -- a test server: a --zygote process whose parent is a zygote of our worker
  for pid, ppid in pairs(parent) do
    if args[pid]:find("--zygote", 1, true) and args[ppid] and args[ppid]:find("--zygote", 1, true)
       and parent[ppid] and parent[parent[ppid]] == me then servers[#servers + 1] = pid end
  end
  T.truthy(#servers >= 1, "found the test servers")
  T.sh("kill -9 " .. table.concat(servers, " ") .. "; sleep 0.1")
  local rs = pool:run_batch({ { code = "def f():\n    return 1\n", tests = { "assert f() == 1" } },
                              { code = "def f():\n    return 1\n", tests = { "assert f() == 1" } } })
  for k = 1, 2 do T.eq(rs[k].verdict, "passed", "job " .. k .. ": " .. rs[k].detail) end
end)

T.case("a worker killed under a job: sandbox_error for it, a new worker for the next", function()
  local workers = descendants("--lpo-sandbox-worker")
  T.truthy(#workers >= 1, "found the workers")
  local killer = io.popen("sleep 0.3; kill -9 " .. table.concat(workers, " "))
  local rs = pool:run_batch({ { code = "import time\ntime.sleep(0.8)\n" }, { code = "import time\ntime.sleep(0.8)\n" } })
  killer:close()
  for k = 1, 2 do T.eq(rs[k].verdict, "sandbox_error", "job " .. k .. ": " .. rs[k].detail) end
  local r = pool:run { code = "def f():\n    return 1\n", tests = { "assert f() == 1" } }
  T.eq(r.verdict, "passed", "after: " .. r.detail)
end)

pool:close()

T.case("pool-wide isolate_tests: a model's test cannot reach the test server of later jobs", function()
  local tamper = "import gc\nfor o in gc.get_objects():\n    if isinstance(o, dict) and 'run_test' in o and 'Conn' in o:\n" ..
                 "        o['run_test'] = lambda *a, **k: ('pass', '')\nassert True"
  local p = sandbox.pool { workers = 1, isolate_tests = true, quiet = true }
  p:run { code = "def f():\n    return 0\n", tests = { tamper } }
  local r = p:run { code = "def f():\n    return 0\n", tests = { "assert f() == 1" } }
  T.eq(r.verdict, "failed", "a later job on the same worker")
  p:close()
end)

T.case("a closed pool says so", function()
  T.raises(function() pool:run { code = "x = 1" } end, "the pool is closed")
end)

T.case("degrading is loud: without seccomp the pool refuses, unless allowed", function()
  T.raises(function() sandbox.pool { workers = 1, disable = "seccomp", quiet = true } end,
           "protecting layers unavailable: seccomp")
  local p = sandbox.pool { workers = 1, disable = "seccomp,net", allow_insecure = true, quiet = true }
  local l = table.concat(p:layers(), ",")
  T.truthy(not l:find("seccomp") and not l:find("net"), "layers: " .. l)
  T.truthy(p:warnings():find("seccomp disabled", 1, true), "warnings: " .. p:warnings())
  local r = p:run { code = "def f():\n    return 1\n", tests = { "assert f() == 1" } }
  T.eq(r.verdict, "passed", "still runs")
  p:close()
end)

T.case("without a user namespace, root runs jobs as uid 65534, loudly", function()
  local me = tonumber(T.sh("id -u"):match("%d+"))
  local p = sandbox.pool { workers = 1, disable = "user", quiet = true }
  local l = table.concat(p:layers(), ",")
  T.truthy(not l:find("user"), "layers: " .. l)
  T.truthy(p:warnings():find("user namespace disabled", 1, true), "warnings: " .. p:warnings())
  local r = p:run { code = "import os\ndef ids():\n    return os.getuid(), os.getgid()\n",
                    tests = { me == 0 and "assert ids() == (65534, 65534)" or "assert ids()[0] != 0" } }
  T.eq(r.verdict, "passed", r.detail .. r.stderr_tail)
  p:close()
end)

T.case("without pidfd_open (kernels before 5.3): jobs end when they end, not at the limit", function()
  local ffi = require "ffi"
  ffi.cdef [[ int setenv(const char *, const char *, int); int unsetenv(const char *); ]]
  ffi.C.setenv("LPO_SANDBOX_NO_PIDFD", "1", 1)   -- sb_pidfd_open fails with ENOSYS in the workers
  local ok, p = pcall(sandbox.pool, { workers = 1, timeout = 10, quiet = true })
  ffi.C.unsetenv("LPO_SANDBOX_NO_PIDFD")
  T.truthy(ok, "pool: " .. tostring(p))
  local rs = p:run_batch {
    { language = "lua", code = "function f(x) return x * 2 end", tests = { "assert(f(1) == 2)", "assert(f(2) == 5)" } },
    { language = "lua", code = "print('hi')" },
    { code = "def f(x):\n    return x + 1\n", tests = { "assert f(1) == 2" } },
  }
  T.eq(rs[1].verdict, "failed", rs[1].detail)
  T.eq(table.concat(rs[1].tests, ","), "pass,fail", "per-test outcomes")
  T.eq(rs[2].stdout_tail, "hi\n", "stdout")
  T.eq(rs[3].verdict, "passed", rs[3].detail .. rs[3].stderr_tail)
  for k = 1, 3 do T.truthy(rs[k].time_ms < 3000, "job " .. k .. " took " .. rs[k].time_ms .. " ms of a 10 s limit") end
  p:close()
end)

T.done()
