-- Killing a run at random points (sampling, execution, training, checkpointing) and
-- resuming it with `lpo run --resume DIR` ends with exactly the metrics of an uninterrupted
-- run (wall-clock tokens_per_s aside), and a replay with the same seed is bitwise identical.
local T = require "lpo.testing"
local json = require "lpo.json"
local lpo = T.lpo()
local recipe = "tests/fixtures/recipes/tiny_round.lua"

local function metrics(dir)
  local out = {}
  for _, r in ipairs(json.read_lines(dir .. "/metrics.jsonl")) do
    r.tokens_per_s = nil
    out[#out + 1] = json.encode(r)
  end
  return table.concat(out, "\n")
end

local function finished(dir)
  local f = io.open(dir .. "/run.json")
  if not f then return false end
  local s = f:read("*a"); f:close()
  return s:find('"status":"finished"', 1, true) ~= nil
end

local base = os.tmpname(); os.remove(base)
local ref, replay, killed = base .. "-ref", base .. "-replay", base .. "-killed"

T.case("uninterrupted run and its replay are bitwise identical", function()
  local _, rc = T.sh(lpo .. " run " .. recipe .. " --dir " .. ref .. " >/dev/null 2>&1")
  T.eq(rc, 0, "reference run")
  _, rc = T.sh(lpo .. " run " .. recipe .. " --dir " .. replay .. " >/dev/null 2>&1")
  T.eq(rc, 0, "replay")
  T.eq(metrics(replay), metrics(ref), "replayed metrics")
  local a = io.open(ref .. "/pairs-r1.jsonl"):read("*a")
  T.eq(io.open(replay .. "/pairs-r1.jsonl"):read("*a"), a, "replayed pairs")
end)

T.case("killed at random points and resumed: same metrics", function()
  -- Kill times spread over the run (it takes about 1-3 s here); a fixed list keeps the test
  -- reproducible, and every resume must make progress.
  local delays = { 0.15, 0.3, 0.45, 0.6, 0.8, 0.25, 1.0, 0.5, 0.7, 1.2, 0.9, 1.5 }
  local kills, attempts = 0, 0
  local cmd = lpo .. " run " .. recipe .. " --dir " .. killed
  for _, d in ipairs(delays) do
    attempts = attempts + 1
    local _, rc = T.sh(string.format("timeout -s KILL %.2f %s >/dev/null 2>&1", d, cmd))
    if rc == 137 then kills = kills + 1 end
    if finished(killed) then break end
    cmd = lpo .. " run --resume " .. killed
  end
  if not finished(killed) then
    local _, rc = T.sh(cmd .. " >/dev/null 2>&1")
    T.eq(rc, 0, "final resume")
  end
  T.truthy(kills >= 3, "the run was killed at least 3 times (" .. kills .. ")")
  T.eq(metrics(killed), metrics(ref), "metrics after kills and resumes")
  T.eq(io.open(killed .. "/pairs-r1.jsonl"):read("*a"), io.open(ref .. "/pairs-r1.jsonl"):read("*a"), "pairs")
  local n = #json.read_lines(killed .. "/results-r1.jsonl")
  T.eq(n, #json.read_lines(ref .. "/results-r1.jsonl"), "no duplicated results")
end)

os.execute("rm -rf " .. ref .. " " .. replay .. " " .. killed)
T.done()
