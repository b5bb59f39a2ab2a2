-- JSON: round trips, escapes, unicode, errors with positions, atomic JSONL writes.
local T = require "lpo.testing"
local json = require "lpo.json"

T.case("round trip", function()
  local v = { a = 1, b = { 1, 2, 3 }, c = "x\n\"y\"\t\1", d = true, e = 0.1, f = json.array() }
  local s = json.encode(v)
  T.eq(s, '{"a":1,"b":[1,2,3],"c":"x\\n\\"y\\"\\t\\u0001","d":true,"e":0.10000000000000001,"f":[]}', "encoding")
  local back = json.decode(s)
  T.eq(back.c, v.c, "string"); T.eq(back.e, 0.1, "float bits"); T.eq(#back.b, 3, "array")
  T.eq(json.encode(back), s, "re-encoding")
end)

T.case("unicode escapes and surrogates", function()
  T.eq(json.decode('"\\u00e9\\ud83d\\ude00"'), "é😀", "utf8 decode")
  T.eq(json.decode('"é"'), "é", "raw utf8 passes through")
end)

T.case("errors name the position", function()
  T.raises(function() json.decode('{"a": [1, 2,, 3]}', "x.json") end, "x.json: unexpected ',' at line 1 column 13")
  T.raises(function() json.decode('{"a": 1}\n  x', "y.json") end, "trailing characters at line 2 column 3")
  T.raises(function() json.decode('"abc') end, "unterminated string")
end)

T.case("jsonl atomic write and read with line numbers", function()
  local path = os.tmpname()
  json.write_lines(path, { { id = 1 }, { id = 2 } })
  local rows = json.read_lines(path)
  T.eq(#rows, 2, "rows"); T.eq(rows[2].id, 2, "second row")
  local f = io.open(path, "ab"); f:write("{broken\n"); f:close()
  T.raises(function() json.read_lines(path) end, path .. ":3:")
  os.remove(path)
end)

T.done()
