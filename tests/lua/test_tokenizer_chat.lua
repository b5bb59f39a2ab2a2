-- lpo.chat against transformers' apply_chat_template: every conversation of
-- tests/fixtures/tokenizers/chat.jsonl (rendered with Qwen3's own tokenizer_config.json template
-- and with Llama-2's template) must render to exactly the same text in each format listed,
-- and, with Qwen3's tokenizer present, encode to the same ids.
local T = require "lpo.testing"
local json = require "lpo.json"
local chat = require "lpo.chat"
local tokenizer = require "lpo.tokenizer"

local SHARED = (os.getenv("LPO_SHARED") or "../shared") .. "/data/tokenizers/qwen3"
local rows = json.read_lines("tests/fixtures/tokenizers/chat.jsonl")
local qwen
do
  local f = io.open(SHARED .. "/tokenizer.json", "rb")
  if f then f:close(); qwen = tokenizer.load(SHARED) end
end

local counts = {}
for i, row in ipairs(rows) do
  for _, format in ipairs(row.formats) do
    T.case(string.format("chat.jsonl:%d %s as %s", i, row.template, format), function()
      local opts = { format = format, add_generation_prompt = row.add_generation_prompt }
      for k, v in pairs(row.options) do opts[k] = v end
      local text = chat.render(row.messages, opts)
      T.eq(text, row.text, "rendered text")
      counts[format] = (counts[format] or 0) + 1
      if qwen and row.qwen3_ids then
        local ids = qwen:encode(text)
        T.eq(table.concat(ids, ","), table.concat(row.qwen3_ids, ","), "ids of the rendered prompt")
      end
    end)
  end
end

T.case("every format is covered by the fixture", function()
  T.truthy((counts.llama2 or 0) >= 3, "llama2 renders: " .. tostring(counts.llama2))
  if #rows > 4 then  -- the Qwen3 rows exist when the fixture was made with ../shared present
    T.truthy((counts.chatml or 0) >= 3, "chatml renders")
    T.truthy((counts.qwen3 or 0) >= 6, "qwen3 renders")
  end
end)

T.case("detect picks the format from a tokenizer's template", function()
  T.eq(chat.detect(tokenizer.load("tests/fixtures/tokenizers/sp")), "llama2", "llama2 template")
  T.eq(chat.detect(tokenizer.byte()), "chatml", "byte tokenizer")
  if qwen then T.eq(chat.detect(qwen), "qwen3", "qwen3 template") end
  T.eq(chat.detect("{{ messages }}"), nil, "unknown")
end)

T.case("the byte tokenizer encodes ChatML markers as single ids", function()
  local tok = tokenizer.byte()
  local text = chat.render({ { role = "user", content = "hi" } }, { add_generation_prompt = true })
  local ids = tok:encode(text)
  T.eq(ids[1], tok:token_id("<|im_start|>"), "first id")
  T.eq(tok:decode(ids), text, "round trip")
end)

T.case("bad messages are named", function()
  T.raises(function() chat.render({}) end, "messages: expected a non-empty list")
  T.raises(function() chat.render({ { role = "user" } }) end, "messages[1].content: expected a string")
  T.raises(function() chat.render({ { role = "user", content = "a" } }, { format = "vicuna" }) end,
    "unknown format 'vicuna'")
  T.raises(function()
    chat.render({ { role = "user", content = "a" }, { role = "user", content = "b" } }, { format = "llama2" })
  end, "messages[2]: llama2 needs roles alternating")
end)

T.done()
