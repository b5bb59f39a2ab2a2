-- lpo.chat — chat templates: a list of {role=, content=} messages to the prompt text a model
-- was trained on. Formats (each matches Hugging Face's apply_chat_template with the model's
-- own template; tests/fixtures/tokenizers/chat.jsonl holds transformers' renders):
--   "chatml"  <|im_start|>role\ncontent<|im_end|>\n ...  (Qwen2.5 without its default system
--             prompt; Qwen3 whenever no assistant turn follows the last user turn; our tiny
--             byte-tokenizer models)
--   "qwen3"   Qwen3's template: think blocks on assistant turns after the last user turn,
--             reasoning_content, tool turns, enable_thinking = false
--   "llama2"  <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s>...
-- The rendered text carries special tokens as text: encode it with {special = true}.
local errors = require "lpo.errors"
local M = {}

local function check(messages)
  if type(messages) ~= "table" or #messages == 0 then
    errors.raise("chat.render", "messages: expected a non-empty list of {role=, content=}")
  end
  for i, m in ipairs(messages) do
    if type(m) ~= "table" then errors.raise("chat.render", "messages[%d]: expected a table", i) end
    if type(m.role) ~= "string" then errors.raise("chat.render", "messages[%d].role: expected a string", i) end
    if type(m.content) ~= "string" then errors.raise("chat.render", "messages[%d].content: expected a string", i) end
  end
end

-- Python's str.strip(), lstrip(), rstrip() on whitespace or on a given set of characters.
local function strip(s, chars)
  local set = chars and ("[" .. chars:gsub("[%]%%%-%^]", "%%%0") .. "]") or "[%s\28-\31]"
  return (s:gsub("^" .. set .. "+", ""):gsub(set .. "+$", ""))
end
local function lstrip(s, chars) return (s:gsub("^[" .. chars .. "]+", "")) end
local function rstrip(s, chars) return (s:gsub("[" .. chars .. "]+$", "")) end

local function chatml(messages, opts)
  local out = {}
  for _, m in ipairs(messages) do
    out[#out + 1] = "<|im_start|>" .. m.role .. "\n" .. m.content .. "<|im_end|>\n"
  end
  if opts.add_generation_prompt then out[#out + 1] = "<|im_start|>assistant\n" end
  return table.concat(out)
end

local function split_last(s, sep)   -- s.split(sep)[-1]
  local last = 1
  while true do
    local a, b = s:find(sep, last, true)
    if not a then return s:sub(last) end
    last = b + 1
  end
end
local function split_first(s, sep)  -- s.split(sep)[0]
  local a = s:find(sep, 1, true)
  return a and s:sub(1, a - 1) or s
end

local function qwen3(messages, opts)
  local out = {}
  local n = #messages
  if messages[1].role == "system" then
    out[#out + 1] = "<|im_start|>system\n" .. messages[1].content .. "<|im_end|>\n"
  end
  -- the last user turn that is not a tool response (0-based, as the template counts)
  local last_query = n - 1
  for i = n, 1, -1 do
    local m = messages[i]
    local c = m.content
    if m.role == "user" and not (c:sub(1, 15) == "<tool_response>" and c:sub(-16) == "</tool_response>") then
      last_query = i - 1
      break
    end
  end
  for i, m in ipairs(messages) do
    local i0 = i - 1
    if m.role == "user" or (m.role == "system" and i > 1) then
      out[#out + 1] = "<|im_start|>" .. m.role .. "\n" .. m.content .. "<|im_end|>\n"
    elseif m.role == "assistant" then
      if m.tool_calls then errors.raise("chat.render", "messages[%d].tool_calls: not supported", i) end
      local content, reasoning = m.content, ""
      if m.reasoning_content ~= nil then
        reasoning = m.reasoning_content
      elseif content:find("</think>", 1, true) then
        reasoning = lstrip(split_last(rstrip(split_first(content, "</think>"), "\n"), "<think>"), "\n")
        content = lstrip(split_last(content, "</think>"), "\n")
      end
      if i0 > last_query and (i == n or reasoning ~= "") then
        out[#out + 1] = "<|im_start|>" .. m.role .. "\n<think>\n" .. strip(reasoning, "\n") .. "\n</think>\n\n" ..
                        lstrip(content, "\n")
      else
        out[#out + 1] = "<|im_start|>" .. m.role .. "\n" .. content
      end
      out[#out + 1] = "<|im_end|>\n"
    elseif m.role == "tool" then
      if i == 1 or messages[i - 1].role ~= "tool" then out[#out + 1] = "<|im_start|>user" end
      out[#out + 1] = "\n<tool_response>\n" .. m.content .. "\n</tool_response>"
      if i == n or messages[i + 1].role ~= "tool" then out[#out + 1] = "<|im_end|>\n" end
    end
  end
  if opts.add_generation_prompt then
    out[#out + 1] = "<|im_start|>assistant\n"
    if opts.enable_thinking == false then out[#out + 1] = "<think>\n\n</think>\n\n" end
  end
  return table.concat(out)
end

local function llama2(messages, opts)
  local bos, eos = opts.bos_token or "<s>", opts.eos_token or "</s>"
  local system, first = nil, 1
  if messages[1].role == "system" then system, first = messages[1].content, 2 end
  local out = {}
  for i = first, #messages do
    local m, k = messages[i], i - first
    if (m.role == "user") ~= (k % 2 == 0) then
      errors.raise("chat.render", "messages[%d]: llama2 needs roles alternating user/assistant/user/...", i)
    end
    local content = m.content
    if k == 0 and system then content = "<<SYS>>\n" .. system .. "\n<</SYS>>\n\n" .. content end
    if m.role == "user" then
      out[#out + 1] = bos .. "[INST] " .. strip(content) .. " [/INST]"
    else
      out[#out + 1] = " " .. strip(content) .. " " .. eos
    end
  end
  return table.concat(out)
end

local formats = { chatml = chatml, qwen3 = qwen3, llama2 = llama2 }

--- Renders messages. opts: format ("chatml" default), add_generation_prompt, and for qwen3
--- enable_thinking; for llama2 bos_token / eos_token (default <s> / </s>).
function M.render(messages, opts)
  opts = opts or {}
  local f = formats[opts.format or "chatml"]
  if not f then
    errors.raise("chat.render", "unknown format '%s' (chatml, qwen3, llama2)", tostring(opts.format))
  end
  check(messages)
  return f(messages, opts)
end

--- Guesses the format from a tokenizer (its chat_template) or a template string; nil if unknown.
function M.detect(tok_or_template)
  local t = tok_or_template
  if type(t) == "table" then
    if t.kind == "byte" then return "chatml" end
    t = t.chat_template
  end
  if type(t) ~= "string" then return nil end
  if t:find("<|im_start|>", 1, true) then
    return t:find("</think>", 1, true) and "qwen3" or "chatml"
  end
  if t:find("[INST]", 1, true) then return "llama2" end
  return nil
end

require("lpo.doc").module(M, "lpo.chat", {
  __module = "Chat templates: render(messages, {format=chatml|qwen3|llama2, add_generation_prompt=true}), detect(tok)",
  render = { "render(messages, opts) -> text", "Renders {role=, content=} messages; opts.format = chatml (default), qwen3, llama2; opts.add_generation_prompt; opts.enable_thinking (qwen3)." },
  detect = { "detect(tok_or_template) -> format", "The format matching a tokenizer's chat_template (chatml, qwen3, llama2), or nil." },
})

return M
