-- lpo.tokenizer — Hugging Face tokenizer.json (byte-level and SentencePiece-style BPE) and
-- the byte tokenizer, bound from engine/text through the FFI.
--
--   local tok = require("lpo.tokenizer").load("path/to/model_dir")   -- or .byte()
--   local ids = tok:encode("def f(x):", { special = true })           -- Lua array of ids
--   local text = tok:decode(ids)
--   local d = tok:decoder(); io.write(d:push(id)) ... io.write(d:flush())
--
-- encode follows HF's encode(text, add_special_tokens=False): special tokens written in the
-- text (<|im_end|>) become their ids unless special = false, when they are plain text (use it
-- for untrusted content). add_special = true adds the post-processor's tokens (Llama's <s>).
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local errors = require "lpo.errors"
local C = lffi.load("lpo_text.h")

local M = {}
local Tokenizer = {}
Tokenizer.__index = Tokenizer
local Stream = {}
Stream.__index = Stream

local function fail(what)
  errors.raise(nil, "%s%s", what and (what .. ": ") or "", lffi.last_error())
end

local function maybe(id) return id >= 0 and id or nil end

local function wrap(ptr)
  local p = ffi.gc(ptr, C.lpo_tokenizer_free)
  local tmpl = C.lpo_tokenizer_chat_template(p)
  return setmetatable({
    ptr = p,
    vocab_size = C.lpo_tokenizer_vocab_size(p),
    bos_id = maybe(C.lpo_tokenizer_bos_id(p)),
    eos_id = maybe(C.lpo_tokenizer_eos_id(p)),
    pad_id = maybe(C.lpo_tokenizer_pad_id(p)),
    add_bos = C.lpo_tokenizer_add_bos(p) ~= 0,
    kind = ffi.string(C.lpo_tokenizer_kind(p)),
    path = ffi.string(C.lpo_tokenizer_path(p)),
    chat_template = tmpl ~= nil and ffi.string(tmpl) or nil,
  }, Tokenizer)
end

--- Loads DIR/tokenizer.json (+ tokenizer_config.json) or a tokenizer.json file.
function M.load(path)
  if type(path) ~= "string" then errors.raise(nil, "tokenizer.load: expected a path, got %s", type(path)) end
  local p = C.lpo_tokenizer_load(path)
  if p == nil then fail() end
  return wrap(p)
end

--- The byte tokenizer: ids 0..255 are bytes; <|bos|> 256, <|eos|> 257, <|pad|> 258,
--- <|im_start|> 259, <|im_end|> 260.
function M.byte()
  local p = C.lpo_tokenizer_byte()
  if p == nil then fail("byte tokenizer") end
  return wrap(p)
end

local function live(self)
  if self.ptr == nil then error("tokenizer: used after free()", 3) end
  return self.ptr
end

local function flags(opts)
  local f = 0
  if not opts or opts.special ~= false then f = f + 1 end
  if opts and opts.add_special then f = f + 2 end
  return f
end

-- one growable id buffer, reused across calls (encode is the hot path of data loading)
local buf, buf_cap = nil, 0
local function ids_buffer(n)
  if n > buf_cap then
    buf_cap = math.max(n, 2 * buf_cap, 4096)
    buf = ffi.new("int32_t[?]", buf_cap)
  end
  return buf, buf_cap
end

--- Encodes text into an int32 buffer; returns (buffer, count). The buffer is reused by the
--- next call: copy what you keep.
function Tokenizer:encode_ffi(text, opts)
  local p = live(self)
  if type(text) ~= "string" then errors.raise(nil, "encode: expected a string, got %s", type(text)) end
  local b, cap = ids_buffer(#text + 16)
  local n = C.lpo_tokenizer_encode(p, text, #text, flags(opts), b, cap)
  if n > cap then
    b, cap = ids_buffer(n)
    n = C.lpo_tokenizer_encode(p, text, #text, flags(opts), b, cap)
  end
  if n < 0 then fail() end
  return b, n
end

--- Encodes text; returns a Lua array of ids.
function Tokenizer:encode(text, opts)
  local b, n = self:encode_ffi(text, opts)
  local out = {}
  for i = 0, n - 1 do out[i + 1] = b[i] end
  return out
end

--- Decodes ids (a Lua array, or an int32 cdata buffer and a count). opts.skip_special drops
--- special tokens (eos, im_end ...).
function Tokenizer:decode(ids, n, opts)
  local p = live(self)
  if type(n) == "table" then opts, n = n, nil end
  local arr
  if type(ids) == "table" then
    n = #ids
    arr = ffi.new("int32_t[?]", math.max(n, 1))
    local k = 0
    for i = 1, n do
      local id = ids[i]
      if type(id) ~= "number" then errors.raise(nil, "decode: ids[%d] is a %s, not a number", i, type(id)) end
      if not (opts and opts.skip_special and C.lpo_tokenizer_is_special(p, id) ~= 0) then
        arr[k] = id
        k = k + 1
      end
    end
    n = k
  else
    arr = ids
    if opts and opts.skip_special then
      local copy, k = ffi.new("int32_t[?]", math.max(n, 1)), 0
      for i = 0, n - 1 do
        if C.lpo_tokenizer_is_special(p, arr[i]) == 0 then copy[k] = arr[i]; k = k + 1 end
      end
      arr, n = copy, k
    end
  end
  local cap = n * 8 + 64
  local out = ffi.new("char[?]", cap)
  local len = C.lpo_tokenizer_decode(p, arr, n, out, cap)
  if len >= cap then
    cap = len + 1
    out = ffi.new("char[?]", cap)
    len = C.lpo_tokenizer_decode(p, arr, n, out, cap)
  end
  if len < 0 then fail() end
  return ffi.string(out, len)
end

--- The id of a token as tokenizer.json spells it ("<|im_end|>", "Ġhello"); nil if absent.
function Tokenizer:token_id(s) return maybe(C.lpo_tokenizer_token_id(live(self), s)) end

--- The bytes a token decodes to (in the middle of a text); nil for an unused id.
function Tokenizer:token_bytes(id)
  local len = ffi.new("int[1]")
  local s = C.lpo_tokenizer_token_bytes(live(self), id, len)
  return s ~= nil and ffi.string(s, len[0]) or nil
end

function Tokenizer:is_special(id) return C.lpo_tokenizer_is_special(live(self), id) ~= 0 end

--- Frees the engine tokenizer now (otherwise the garbage collector does).
function Tokenizer:free()
  if self.ptr ~= nil then
    C.lpo_tokenizer_free(ffi.gc(self.ptr, nil))
    self.ptr = nil
  end
end

--- A streaming decoder: d:push(id) returns the text completed by that id ("" while a
--- multi-byte character is incomplete), d:flush() the rest. All pieces concatenated equal
--- tok:decode(all ids).
function Tokenizer:decoder()
  local s = C.lpo_tok_stream_new(live(self))
  if s == nil then fail("decoder") end
  return setmetatable({ ptr = ffi.gc(s, C.lpo_tok_stream_free), tok = self }, Stream)
end

function Stream:push(id)
  local n = C.lpo_tok_stream_push(self.ptr, id)
  if n < 0 then fail("decoder") end
  return ffi.string(C.lpo_tok_stream_text(self.ptr), n)
end

function Stream:flush()
  local n = C.lpo_tok_stream_flush(self.ptr)
  if n < 0 then fail("decoder") end
  return ffi.string(C.lpo_tok_stream_text(self.ptr), n)
end

function Stream:reset() C.lpo_tok_stream_reset(self.ptr) end

-- The byte tokenizer as a Hugging Face tokenizer.json: a byte-level BPE whose vocabulary is the
-- 256 bytes (spelled in GPT-2's byte alphabet) with no merges, so HF encodes to the same ids;
-- lpo loads it back as the byte tokenizer.
local CHATML_TEMPLATE = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + " ..
  "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}" ..
  "{{ '<|im_start|>assistant\\n' }}{% endif %}"
local BYTE_SPECIALS = { "<|bos|>", "<|eos|>", "<|pad|>", "<|im_start|>", "<|im_end|>" }

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64)  -- the alphabet stays below U+0800
end

local function byte_tokenizer_json()
  local json = require "lpo.json"
  local vocab, k = {}, 0
  for b = 0, 255 do
    local visible = (b >= 33 and b <= 126) or (b >= 161 and b <= 172) or b >= 174
    if visible then vocab[utf8_char(b)] = b else vocab[utf8_char(256 + k)] = b; k = k + 1 end
  end
  local added = json.array()
  for i, s in ipairs(BYTE_SPECIALS) do
    added[i] = { id = 255 + i, content = s, single_word = false, lstrip = false, rstrip = false,
                 normalized = false, special = true }
  end
  local bytelevel = { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false }
  return json.encode({
    version = "1.0", truncation = json.null, padding = json.null, added_tokens = added,
    normalizer = json.null, pre_tokenizer = bytelevel, post_processor = json.null, decoder = bytelevel,
    model = { type = "BPE", dropout = json.null, unk_token = json.null, continuing_subword_prefix = json.null,
              end_of_word_suffix = json.null, fuse_unk = false, byte_fallback = false, ignore_merges = false,
              vocab = vocab, merges = json.array() },
  })
end
M.byte_tokenizer_json = byte_tokenizer_json

--- Writes DIR/tokenizer.json and DIR/tokenizer_config.json (atomically) so that load(DIR) — and
--- Hugging Face — give this tokenizer back: the byte tokenizer as an HF file, a loaded one as
--- copies of its files.
function Tokenizer:save(dir)
  live(self)
  local json = require "lpo.json"
  if self.kind == "byte" then
    json.write_atomic(dir .. "/tokenizer.json", byte_tokenizer_json() .. "\n")
    json.write_atomic(dir .. "/tokenizer_config.json", json.encode({
      tokenizer_class = "PreTrainedTokenizerFast", bos_token = "<|bos|>", eos_token = "<|eos|>",
      pad_token = "<|pad|>", add_bos_token = false, add_eos_token = false,
      chat_template = self.chat_template or CHATML_TEMPLATE }) .. "\n")
    return
  end
  local src_dir = self.path:match("^(.*)/[^/]*$") or "."
  for _, name in ipairs({ "tokenizer.json", "tokenizer_config.json" }) do
    local src = name == "tokenizer.json" and self.path or (src_dir .. "/" .. name)
    local f = io.open(src, "rb")
    if f then
      local text = f:read("*a")
      f:close()
      json.write_atomic(dir .. "/" .. name, text)
    elseif name == "tokenizer.json" then
      errors.raise(nil, "tokenizer.save: cannot read %s", src)
    end
  end
end

Tokenizer.__tostring = function(self)
  return string.format("tokenizer(%s, %d ids, %s)", self.kind, self.vocab_size, self.path)
end

require("lpo.doc").module(M, "lpo.tokenizer", {
  __module = "Tokenizers: load(dir_or_file) for Hugging Face tokenizer.json, byte() for tiny models",
  load = { "load(dir_or_file) -> tok", "Loads tokenizer.json (+ tokenizer_config.json). tok:encode(text, {special=true, add_special=false}) -> ids; tok:decode(ids, {skip_special=false}) -> text; tok:decoder() -> stream with :push(id), :flush(); tok:token_id(s); tok.vocab_size, tok.bos_id, tok.eos_id, tok.pad_id." },
  byte = { "byte() -> tok", "Byte tokenizer: ids 0..255 are bytes; <|bos|> 256, <|eos|> 257, <|pad|> 258, <|im_start|> 259, <|im_end|> 260." },
})

return M
