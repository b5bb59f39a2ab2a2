-- lpo.checkpoint — a policy and its tokenizer from one Hugging Face model directory:
-- tokenizer.json when present, else the byte tokenizer when config.json says
-- "lpo_tokenizer": "byte" (the tiny models lpo trains from scratch).
local json = require "lpo.json"
local errors = require "lpo.errors"

local M = {}

local function exists(p) local f = io.open(p, "rb"); if f then f:close() return true end return false end

--- Loads (model, tokenizer) from dir.
function M.load(dir)
  if not exists(dir .. "/config.json") then errors.raise(dir, "not a model directory (no config.json)") end
  local model = require("lpo.model").load(dir)
  local tokenizer = M.tokenizer(dir)
  return model, tokenizer
end

--- The tokenizer that belongs to a model directory.
function M.tokenizer(dir)
  local T = require "lpo.tokenizer"
  if exists(dir .. "/tokenizer.json") then return T.load(dir) end
  local cfg = json.read_file(dir .. "/config.json")
  if cfg.lpo_tokenizer == "byte" then return T.byte() end
  errors.raise(dir, "no tokenizer.json and config.json has no \"lpo_tokenizer\": \"byte\"")
end

return M
