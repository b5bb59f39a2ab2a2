-- lpo tokenize DIR — for inspecting prompts: reads one JSON string per line on stdin and
-- prints each one's ids as a JSON array on its own line, as Hugging Face's
-- encode(text, add_special_tokens=False) gives them (special tokens written in the text are
-- recognized). A bad line stops with an error naming it and a non-zero exit.
local json = require "lpo.json"
local errors = require "lpo.errors"

local M = {}

local USAGE = [[
usage: lpo tokenize DIR|byte [options] < lines
  DIR         a directory with tokenizer.json (or the file itself); "byte" for the byte tokenizer
  --plain     special tokens written in the text stay text (HF split_special_tokens)
  --add-special  add the post-processor's tokens (HF add_special_tokens=True, e.g. Llama's <s>)
  --decode    the other way: JSON arrays of ids in, JSON strings out
input: one JSON string per line (a JSON array of ids with --decode); output: one line each]]

function M.main(args)
  local path
  local opts = { special = true }
  local decode = false
  for _, a in ipairs(args) do
    if a == "--plain" then opts.special = false
    elseif a == "--add-special" then opts.add_special = true
    elseif a == "--decode" then decode = true
    elseif a == "-h" or a == "--help" then print(USAGE); return 0
    elseif a:sub(1, 2) == "--" then io.stderr:write("lpo tokenize: unknown option ", a, "\n", USAGE, "\n"); return 2
    elseif not path then path = a
    else io.stderr:write("lpo tokenize: one DIR only\n", USAGE, "\n"); return 2 end
  end
  if not path then io.stderr:write(USAGE, "\n"); return 2 end
  local T = require "lpo.tokenizer"
  local tok = path == "byte" and T.byte() or T.load(path)
  local out = io.stdout
  local n = 0
  for line in io.stdin:lines() do
    n = n + 1
    local where = "stdin:" .. n
    local ok, v = pcall(json.decode, line)
    if not ok then errors.raise(where, "%s", type(v) == "table" and v.message or tostring(v)) end
    if decode then
      if type(v) ~= "table" then errors.raise(where, "expected a JSON array of ids, got %s", json.encode(v):sub(1, 40)) end
      for i = 1, #v do
        if type(v[i]) ~= "number" or v[i] % 1 ~= 0 then errors.raise(where, "ids[%d] is not an integer", i) end
      end
      local ok2, text = pcall(tok.decode, tok, v)
      if not ok2 then errors.raise(where, "%s", type(text) == "table" and text.message or tostring(text)) end
      out:write(json.encode(text), "\n")
    else
      if type(v) ~= "string" then errors.raise(where, "expected a JSON string, got %s", json.encode(v):sub(1, 40)) end
      local ok2, b, k = pcall(tok.encode_ffi, tok, v, opts)
      if not ok2 then errors.raise(where, "%s", type(b) == "table" and b.message or tostring(b)) end
      local parts = {}
      for i = 0, k - 1 do parts[i + 1] = tostring(b[i]) end
      out:write("[", table.concat(parts, ","), "]\n")
    end
  end
  out:flush()
  return 0
end

return M
