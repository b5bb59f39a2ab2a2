/* lpo_text.h — tokenizers: Hugging Face tokenizer.json (BPE, byte-level or SentencePiece-style)
 * and a byte tokenizer for tiny models trained from scratch.
 *
 * Semantics follow Hugging Face `tokenizers`: lpo_tokenizer_encode(tok, text, len, 1, ...)
 * gives the ids of `tok.encode(text, add_special_tokens=False)`, and lpo_tokenizer_decode gives
 * `tok.decode(ids, skip_special_tokens=False)`. Thread-safety: a tokenizer is immutable after
 * load except for its word cache, which is locked; encode/decode may run on many threads.
 * A stream decoder belongs to one thread. */
#ifndef LPO_TEXT_H
#define LPO_TEXT_H
#include <stdint.h>

/* LPO_CDEF_BEGIN */
typedef struct lpo_tokenizer lpo_tokenizer;
typedef struct lpo_tok_stream lpo_tok_stream;

/* Flags for lpo_tokenizer_encode's `special` argument. Without LPO_TOK_SPECIAL, tokens marked
 * special in tokenizer.json (<|im_end|>, <s>) are encoded as the plain text they spell, as HF's
 * split_special_tokens / encode_special_tokens; added tokens not marked special (Qwen's <think>,
 * <tool_call>) are still matched, as in HF. */
enum {
  LPO_TOK_SPECIAL = 1,      /* special tokens written in the text become their ids */
  LPO_TOK_ADD_SPECIAL = 2   /* add the post-processor's tokens (e.g. Llama's <s>), as HF add_special_tokens */
};

/* Loads DIR/tokenizer.json (and DIR/tokenizer_config.json when present, for bos/eos/pad and the
 * chat template), or a tokenizer.json path. NULL + lpo_last_error() naming the file and field. */
lpo_tokenizer *lpo_tokenizer_load(const char *path_or_dir);
/* Bytes 0..255 are ids 0..255; then <|bos|> 256, <|eos|> 257, <|pad|> 258, <|im_start|> 259,
 * <|im_end|> 260. Decoding gives the exact bytes back (no UTF-8 repair). */
lpo_tokenizer *lpo_tokenizer_byte(void);
void lpo_tokenizer_free(lpo_tokenizer *tok);

/* Encodes len bytes of UTF-8 text (len < 0: NUL-terminated). Writes at most cap ids to out and
 * returns the number of ids of the whole encoding — like snprintf, a result > cap means out was
 * too small (retry with that capacity). -1 + error: invalid UTF-8 (byte offset named), or
 * LPO_TOK_ADD_SPECIAL with a post-processor lpo does not apply. */
int lpo_tokenizer_encode(lpo_tokenizer *tok, const char *text, int64_t len, int special,
                         int32_t *out, int cap);
/* Decodes n ids; writes at most cap bytes, NUL-terminated when the text fits (length < cap), and
 * returns the text's length (> cap-1: retry larger). Ids >= 0 without a token decode to nothing
 * (as HF; e.g. padded embedding rows); a negative id is an error (-1). Invalid UTF-8 becomes
 * U+FFFD as in HF, except for the byte tokenizer, which returns raw bytes. */
int lpo_tokenizer_decode(const lpo_tokenizer *tok, const int32_t *ids, int n, char *out, int cap);

int lpo_tokenizer_vocab_size(const lpo_tokenizer *tok);    /* max id + 1, added tokens included */
/* The id of a token as spelled in tokenizer.json ("<|im_end|>", "Ġhello", "▁the"); -1 if absent. */
int lpo_tokenizer_token_id(const lpo_tokenizer *tok, const char *token);
/* The bytes a token decodes to (not first in a text); NULL for an id without a token. */
const char *lpo_tokenizer_token_bytes(const lpo_tokenizer *tok, int32_t id, int *len);
int lpo_tokenizer_is_special(const lpo_tokenizer *tok, int32_t id);
int lpo_tokenizer_bos_id(const lpo_tokenizer *tok);        /* -1 when unknown */
int lpo_tokenizer_eos_id(const lpo_tokenizer *tok);
int lpo_tokenizer_pad_id(const lpo_tokenizer *tok);
int lpo_tokenizer_add_bos(const lpo_tokenizer *tok);       /* tokenizer_config.json add_bos_token */
const char *lpo_tokenizer_chat_template(const lpo_tokenizer *tok);  /* NULL when none */
const char *lpo_tokenizer_kind(const lpo_tokenizer *tok);  /* "bpe-bytelevel", "bpe", "byte" */
const char *lpo_tokenizer_path(const lpo_tokenizer *tok);

/* Streaming decode for generation: push ids one at a time and get the text that is complete so
 * far (incomplete UTF-8 and byte-fallback runs are held back); flush at the end. The text of all
 * pushes plus the flush equals lpo_tokenizer_decode of all the ids. Reset before a new text
 * (the first token of a text may decode differently, e.g. SentencePiece's leading space). */
lpo_tok_stream *lpo_tok_stream_new(const lpo_tokenizer *tok);
int lpo_tok_stream_push(lpo_tok_stream *s, int32_t id);     /* bytes ready, or -1 */
int lpo_tok_stream_flush(lpo_tok_stream *s);                /* bytes ready (the tail), or -1 */
const char *lpo_tok_stream_text(const lpo_tok_stream *s);   /* those bytes; valid until next call */
void lpo_tok_stream_reset(lpo_tok_stream *s);
void lpo_tok_stream_free(lpo_tok_stream *s);
/* LPO_CDEF_END */
#endif
