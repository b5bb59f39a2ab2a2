-- lpo.recipe — runs: one directory per run holding everything needed to resume or replay.
--
--   local run = lpo.run { name = "dpo", seed = 1, beta = 0.1 }   -- defaults; `--set k=v` overrides
--   local pairs = run:stage("pairs-r1", function() ... return value end)  -- memoized on disk
--   run:log { step = 1, loss = 0.6 }                             -- metrics.jsonl + one terminal line
--   run:finish("pass@1: 0.21 -> 0.30")                           -- summary.json, plot, headline last
--
-- run.json records the recipe text, its path, the overrides, the merged args, the seed, the
-- engine version and dataset hashes. `lpo run --resume DIR` re-executes that recipe text with
-- those args in DIR: finished stages are read back instead of recomputed, and stages that
-- checkpoint (sampling, training) continue from their last checkpoint.
local json = require "lpo.json"
local errors = require "lpo.errors"

local M = {}
local Run = {}
Run.__index = Run

-- Set by cli_run for the recipe about to execute; consumed by the first lpo.run{} call.
local pending = nil

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function mkdir_p(path)
  local ok = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  if ok ~= 0 and ok ~= true then errors.raise(nil, "cannot create directory %s", path) end
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- Converts an override string to the type of the default it replaces.
local function coerce(key, text, default, where)
  local t = type(default)
  if t == "number" then
    local v = tonumber(text)
    if not v then errors.raise(where, "%s=%s: expected a number", key, text) end
    return v
  elseif t == "boolean" then
    if text == "true" or text == "1" then return true end
    if text == "false" or text == "0" then return false end
    errors.raise(where, "%s=%s: expected true or false", key, text)
  elseif t == "table" then
    local ok, v = pcall(json.decode, text)
    if not ok then errors.raise(where, "%s=%s: expected JSON (%s)", key, text, type(v) == "table" and v.message or v) end
    return v
  end
  return text
end

--- Parses `lpo run` arguments: [--set k=v]... [--resume DIR] [--dir DIR] FILE [args].
function M.parse_cli(args)
  local opts = { overrides = {}, order = {}, rest = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--set" or a:match("^%-%-set=") then
      local kv = a == "--set" and args[i + 1] or a:sub(7)
      if a == "--set" then i = i + 1 end
      local k, v = (kv or ""):match("^([%w_%.]+)=(.*)$")
      if not k then errors.raise("--set", "expected key=value, got '%s'", tostring(kv)) end
      if opts.overrides[k] == nil then opts.order[#opts.order + 1] = k end
      opts.overrides[k] = v
    elseif a == "--resume" then
      opts.resume = args[i + 1]; i = i + 1
      if not opts.resume then errors.raise("--resume", "needs a run directory") end
    elseif a == "--dir" then
      opts.dir = args[i + 1]; i = i + 1
    elseif not opts.file and not opts.resume then
      opts.file = a
    else
      opts.rest[#opts.rest + 1] = a
    end
    i = i + 1
  end
  return opts
end

--- Entry point of `lpo run`, called by lpo.cli.
function M.cli_run(args, cli)
  local ok, opts = pcall(M.parse_cli, args)
  if not ok then
    io.stderr:write("lpo: ", type(opts) == "table" and opts.message or tostring(opts), "\n")
    return 1
  end
  local path, text
  if opts.resume then
    local meta_text = read_all(opts.resume .. "/run.json")
    if not meta_text then io.stderr:write("lpo: --resume ", opts.resume, ": no run.json there\n"); return 1 end
    local meta = json.decode(meta_text, opts.resume .. "/run.json")
    path, text = meta.recipe_path, meta.recipe_text
    for k, v in pairs(opts.overrides) do
      io.stderr:write("lpo: --resume ignores --set ", k, "=", v, " (a resumed run keeps its arguments)\n")
    end
    pending = { resume = opts.resume, meta = meta }
  else
    if not opts.file then io.stderr:write("lpo: run needs a FILE.lua\n"); return 1 end
    path = opts.file
    text = read_all(path)
    if not text then io.stderr:write("lpo: cannot open ", path, "\n"); return 1 end
    pending = { overrides = opts.overrides, order = opts.order, dir = opts.dir, recipe_path = path, recipe_text = text }
  end
  local chunk, err = loadstring(text, "@" .. path)
  if not chunk then io.stderr:write("lpo: syntax error: ", err, "\n"); return 1 end
  local rest = opts.rest
  rest[0] = path
  local code = cli.run_chunk and cli.run_chunk(chunk, rest)
  pending = nil
  return code
end

--- Creates (or, under --resume, reopens) the run. `defaults` holds every argument with its
--- default value and type; `name` and `seed` are conventional.
function M.new(defaults)
  if type(defaults) ~= "table" then errors.raise("lpo.run", "expects a table of defaults") end
  local p = pending or {}
  pending = nil
  local self = setmetatable({ stage_cache = {} }, Run)
  if p.resume then
    self.dir = p.resume
    self.meta = p.meta
    self.args = p.meta.args
    self.resumed = true
  else
    local args = {}
    for k, v in pairs(defaults) do args[k] = v end
    local where = "--set"
    for _, k in ipairs(p.order or {}) do
      if defaults[k] == nil then
        local known = {}
        for dk in pairs(defaults) do known[#known + 1] = dk end
        table.sort(known)
        errors.raise(where, "unknown argument '%s' for %s (known: %s)", k, p.recipe_path or "this recipe", table.concat(known, ", "))
      end
      args[k] = coerce(k, p.overrides[k], defaults[k], where)
    end
    self.args = args
    local name = tostring(args.name or "run"):gsub("[^%w%-_.]", "_")
    self.dir = args.run_dir or p.dir or string.format("runs/%s-seed%s-%s", name, tostring(args.seed or 0), os.date("!%Y%m%d-%H%M%S"))
    self.meta = {
      recipe_path = p.recipe_path or (arg and arg[0]) or "?",
      recipe_text = p.recipe_text or "",
      overrides = p.overrides or {},
      args = args,
      seed = args.seed,
      engine_version = rawget(_G, "LPO_VERSION") or "dev",
      jit_version = jit and jit.version or "?",
      datasets = {},
      started = os.date("!%Y-%m-%dT%H:%M:%SZ"),
      status = "running",
    }
  end
  mkdir_p(self.dir .. "/stages")
  self:save_meta()
  return self
end

function Run:save_meta() json.write_atomic(self.dir .. "/run.json", json.encode(self.meta) .. "\n") end

--- A path inside the run directory.
function Run:path(name) return self.dir .. "/" .. name end

--- Records a dataset's content hash in run.json (replays check it has not changed).
function Run:record_dataset(name, hash)
  local old = self.meta.datasets[name]
  if old and old ~= hash then
    errors.raise(name, "dataset changed since this run started (hash %s, now %s)", old, hash)
  end
  self.meta.datasets[name] = hash
  self:save_meta()
end

--- Runs fn once per run directory: its JSON-serializable result is stored in
--- stages/NAME.json and returned as-is on later calls and on --resume.
function Run:stage(name, fn)
  local file = self.dir .. "/stages/" .. name .. ".json"
  local text = read_all(file)
  if text then
    local v = json.decode(text, file)
    return v.value
  end
  local value = fn(self)
  json.write_atomic(file, json.encode({ value = value == nil and json.null or value }) .. "\n")
  return value
end

function Run:stage_done(name) return exists(self.dir .. "/stages/" .. name .. ".json") end

local function fmt_value(v)
  if type(v) == "number" then
    if v % 1 == 0 and math.abs(v) < 1e9 then return string.format("%d", v) end
    return string.format("%.4g", v)
  end
  return tostring(v)
end

--- Appends a metrics record to metrics.jsonl (skipping records already written before a
--- resume, identified by their `step`/`round`) and prints one line.
function Run:log(rec, opts)
  opts = opts or {}
  local file = self.dir .. "/" .. (opts.file or "metrics.jsonl")
  local key = (rec.round and ("r" .. rec.round) or "") .. (rec.step and ("s" .. rec.step) or "") .. (rec.kind or "")
  if key ~= "" then
    self.logged = self.logged or {}
    if not self.logged[file] then
      self.logged[file] = {}
      if exists(file) then
        for _, r in ipairs(json.read_lines(file)) do
          self.logged[file][(r.round and ("r" .. r.round) or "") .. (r.step and ("s" .. r.step) or "") .. (r.kind or "")] = true
        end
      end
    end
    if self.logged[file][key] then return end
    self.logged[file][key] = true
  end
  json.append_line(file, rec)
  if not opts.quiet then
    local keys = {}
    for k in pairs(rec) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      local order = { round = 1, step = 2, loss = 3 }
      local oa, ob = order[a] or 9, order[b] or 9
      if oa ~= ob then return oa < ob end
      return a < b
    end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. " " .. fmt_value(rec[k]) end
    print(table.concat(parts, "  "))
  end
end

--- Finishes the run: summary.json, an SVG plot of metrics.jsonl, and the headline printed last.
function Run:finish(headline, summary)
  self.meta.status = "finished"
  self.meta.finished = os.date("!%Y-%m-%dT%H:%M:%SZ")
  self.meta.headline = headline
  self:save_meta()
  json.write_atomic(self.dir .. "/summary.json", json.encode(summary or { headline = headline }) .. "\n")
  local mfile = self.dir .. "/metrics.jsonl"
  if exists(mfile) then
    local ok, err = pcall(function()
      require("lpo.plot").metrics_svg(json.read_lines(mfile), self.dir .. "/metrics.svg")
    end)
    if not ok then io.stderr:write("lpo: plot skipped: ", tostring(type(err) == "table" and err.message or err), "\n") end
  end
  print("run directory: " .. self.dir)
  if headline then print(headline) end
end

return M
