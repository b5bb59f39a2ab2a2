-- lpo.json — JSON and JSON Lines for artifacts, configs and CLI output.
-- Encoding is deterministic (object keys sorted) so artifacts hash the same across runs;
-- numbers print with %.17g so floats round-trip bitwise. Decoding reports line:column.
-- json.null stands for JSON null inside arrays/objects; arrays carry a marker so that
-- empty arrays survive a round trip.
local errors = require "lpo.errors"
local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end })
local array_mt = { __jsontype = "array" }
function M.array(t) return setmetatable(t or {}, array_mt) end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  local mt = getmetatable(t)
  if mt and mt.__jsontype == "array" then return true end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
  end
  return true
end

local function encode(v, out, depth)
  local t = type(v)
  if v == nil or v == M.null then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json: cannot encode " .. tostring(v), 0) end
    if v % 1 == 0 and math.abs(v) < 2^53 then out[#out + 1] = string.format("%d", v)
    else out[#out + 1] = string.format("%.17g", v) end
  elseif t == "string" then out[#out + 1] = encode_string(v)
  elseif t == "cdata" and tonumber(v) then
    out[#out + 1] = tostring(tonumber(v))
  elseif t == "table" then
    if depth > 100 then error("json: nesting too deep (cycle?)", 0) end
    if is_array(v) or (next(v) == nil and getmetatable(v) == array_mt) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" and type(k) ~= "number" then error("json: object key of type " .. type(k), 0) end
        keys[#keys + 1] = tostring(k)
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error("json: cannot encode a " .. t, 0)
  end
end

--- Encodes a Lua value as compact JSON with sorted keys.
function M.encode(v)
  local out = {}
  encode(v, out, 0)
  return table.concat(out)
end

-- Decoder ---------------------------------------------------------------------------
local function decode_error(s, pos, msg, where)
  local line, col = 1, 1
  for i = 1, pos - 1 do
    if s:byte(i) == 10 then line, col = line + 1, 1 else col = col + 1 end
  end
  error({ lpo_user_error = true, message = string.format("%s%s at line %d column %d",
    where and (where .. ": ") or "", msg, line, col) }, 0)
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
                     0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local decode_value
local function skip(s, pos) return s:find("[^ \t\r\n]", pos) or #s + 1 end

local function decode_string(s, pos, where)
  local parts, i = {}, pos + 1
  while true do
    local j = s:find('["\\%z\1-\31]', i)  -- JSON forbids only U+0000-U+001F raw (DEL is allowed)
    if not j then decode_error(s, pos, "unterminated string", where) end
    parts[#parts + 1] = s:sub(i, j - 1)
    local c = s:sub(j, j)
    if c == '"' then return table.concat(parts), j + 1 end
    if c ~= "\\" then decode_error(s, j, "control character in string", where) end
    local e = s:sub(j + 1, j + 1)
    local simple = ({ b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" })[e]
    if simple then parts[#parts + 1] = simple; i = j + 2
    elseif e == "u" then
      local hex = s:match("^%x%x%x%x", j + 2)
      if not hex then decode_error(s, j, "bad \\u escape", where) end
      local cp = tonumber(hex, 16)
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = s:match("^\\u(%x%x%x%x)", i)
        local lcp = lo and tonumber(lo, 16)
        if lcp and lcp >= 0xDC00 and lcp <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 1024 + (lcp - 0xDC00)
          i = i + 6
        else cp = 0xFFFD end
      elseif cp >= 0xDC00 and cp <= 0xDFFF then cp = 0xFFFD end
      parts[#parts + 1] = utf8_char(cp)
    else decode_error(s, j, "bad escape \\" .. e, where) end
  end
end

decode_value = function(s, pos, where, depth)
  pos = skip(s, pos)
  local c = s:sub(pos, pos)
  if depth > 200 then decode_error(s, pos, "nesting too deep", where) end
  if c == "{" then
    local obj = {}
    pos = skip(s, pos + 1)
    if s:sub(pos, pos) == "}" then return obj, pos + 1 end
    while true do
      if s:sub(pos, pos) ~= '"' then decode_error(s, pos, "expected a string key", where) end
      local k
      k, pos = decode_string(s, pos, where)
      pos = skip(s, pos)
      if s:sub(pos, pos) ~= ":" then decode_error(s, pos, "expected ':'", where) end
      local v
      v, pos = decode_value(s, pos + 1, where, depth + 1)
      obj[k] = v
      pos = skip(s, pos)
      local d = s:sub(pos, pos)
      if d == "}" then return obj, pos + 1 end
      if d ~= "," then decode_error(s, pos, "expected ',' or '}'", where) end
      pos = skip(s, pos + 1)
    end
  elseif c == "[" then
    local arr, n = M.array(), 0
    pos = skip(s, pos + 1)
    if s:sub(pos, pos) == "]" then return arr, pos + 1 end
    while true do
      local v
      v, pos = decode_value(s, pos, where, depth + 1)
      n = n + 1
      arr[n] = v
      pos = skip(s, pos)
      local d = s:sub(pos, pos)
      if d == "]" then return arr, pos + 1 end
      if d ~= "," then decode_error(s, pos, "expected ',' or ']'", where) end
      pos = pos + 1
    end
  elseif c == '"' then return decode_string(s, pos, where)
  elseif s:sub(pos, pos + 3) == "true" then return true, pos + 4
  elseif s:sub(pos, pos + 4) == "false" then return false, pos + 5
  elseif s:sub(pos, pos + 3) == "null" then return M.null, pos + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if num and #num > 0 and tonumber(num) then return tonumber(num), pos + #num end
    decode_error(s, pos, c == "" and "unexpected end of input" or ("unexpected '" .. c .. "'"), where)
  end
end

--- Decodes JSON text; `where` (a file name) prefixes error messages.
function M.decode(s, where)
  local v, pos = decode_value(s, 1, where, 0)
  pos = skip(s, pos)
  if pos <= #s then decode_error(s, pos, "trailing characters", where) end
  return v
end

--- Reads a JSON file.
function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raise(nil, "cannot open %s: %s", path, err) end
  local s = f:read("*a")
  f:close()
  return M.decode(s, path)
end

--- Reads a JSON Lines file into a list; errors name path:line. Blank lines are skipped.
function M.read_lines(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raise(nil, "cannot open %s: %s", path, err) end
  local out, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if line:match("%S") then
      local ok, v = pcall(M.decode, line)
      if not ok then
        f:close()
        errors.raise(path .. ":" .. n, "%s", type(v) == "table" and v.message or tostring(v))
      end
      out[#out + 1] = v
    end
  end
  f:close()
  return out
end

--- Writes text to path atomically: a temporary file in the same directory, fsync'd
--- (via os.execute-free flush+close), then renamed over the target.
function M.write_atomic(path, text)
  local tmp = path .. ".tmp" .. tostring(os.time()) .. tostring(math.random(1e9))
  local f, err = io.open(tmp, "wb")
  if not f then errors.raise(nil, "cannot write %s: %s", tmp, err) end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then os.remove(tmp); errors.raise(nil, "cannot rename %s to %s: %s", tmp, path, rerr) end
end

--- Writes a list as JSON Lines atomically.
function M.write_lines(path, list)
  local out = {}
  for i, v in ipairs(list) do out[i] = M.encode(v) end
  M.write_atomic(path, table.concat(out, "\n") .. (#out > 0 and "\n" or ""))
end

--- Appends one record to a JSON Lines file (one write call, so a crash leaves whole lines).
function M.append_line(path, v)
  local f, err = io.open(path, "ab")
  if not f then errors.raise(nil, "cannot append to %s: %s", path, err) end
  f:write(M.encode(v), "\n")
  f:close()
end

require("lpo.doc").module(M, "lpo.json", {
  __module = "JSON and JSON Lines: encode, decode, read_file, read_lines, write_lines, append_line",
  encode = { "encode(value) -> string", "Compact JSON with sorted keys; floats round-trip (%.17g)." },
  decode = { "decode(text [, where]) -> value", "Parses JSON; errors give where, line and column." },
  read_lines = { "read_lines(path) -> list", "Reads JSON Lines; a bad line raises path:line: message." },
  write_lines = { "write_lines(path, list)", "Writes JSON Lines atomically (temp file + rename)." },
  append_line = { "append_line(path, value)", "Appends one JSON line in a single write." },
  write_atomic = { "write_atomic(path, text)", "Writes a file atomically (temp file + rename)." },
})

return M
