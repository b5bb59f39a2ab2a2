/* tok_byte.c — the byte tokenizer for tiny models trained from scratch: ids 0..255 are the
 * bytes themselves, then a few special tokens (ChatML's among them, so lpo.chat prompts work
 * unchanged). Any byte string round-trips exactly; no normalization, no UTF-8 repair.
 *
 * Saved in a checkpoint it is an ordinary tokenizer.json that Hugging Face loads with the same
 * ids (a byte-level BPE with the 256 bytes and no merges, see lpo.tokenizer's save); loading
 * such a file gives this tokenizer back (tok_byte_equivalent). */
#include "text_internal.h"
#include <stdio.h>
#include <stdlib.h>

static const char *const SPECIALS[] = {"<|bos|>", "<|eos|>", "<|pad|>", "<|im_start|>", "<|im_end|>"};
enum { N_SPECIALS = 5 };

static int build(lpo_tokenizer *t) {
  if (tok_alloc_ids(t, 256 + N_SPECIALS) || tok_strmap_init(&t->vocab, 256) ||
      tok_strmap_init(&t->added_map, N_SPECIALS))
    return -1;
  for (int b = 0; b < 256; b++) {
    char c = (char)b;
    uint32_t off = tok_arena_put(t, &c, 1);
    if (off == UINT32_MAX || tok_strmap_put(&t->vocab, t->arena, off, 1, b) < 0) return -1;
    t->entries[b] = (tok_entry){.key_off = off, .key_len = 1, .dec_off = off, .dec_len = 1, .flags = TOKF_PRESENT};
    t->byte_ids[b] = b;
  }
  if (!(t->added = calloc(N_SPECIALS, sizeof *t->added))) return lpo_set_error("byte tokenizer: out of memory");
  for (int i = 0; i < N_SPECIALS; i++) {
    int32_t id = 256 + i;
    uint32_t len = (uint32_t)strlen(SPECIALS[i]);
    uint32_t off = tok_arena_put(t, SPECIALS[i], len);
    if (off == UINT32_MAX || tok_strmap_put(&t->added_map, t->arena, off, len, id) < 0) return -1;
    t->entries[id] = (tok_entry){.dec_off = off, .dec_len = len, .flags = TOKF_PRESENT | TOKF_ADDED | TOKF_SPECIAL};
    t->added[i] = (tok_added){.id = id, .off = off, .len = len, .special = 1};
  }
  t->n_added = N_SPECIALS;
  /* all specials start with '<' and are listed so that longer names come first */
  for (int b = 0; b < 256; b++) t->added_first[b] = -1;
  for (int i = 0; i < N_SPECIALS; i++)
    for (int j = i + 1; j < N_SPECIALS; j++)
      if (t->added[j].len > t->added[i].len) { tok_added x = t->added[i]; t->added[i] = t->added[j]; t->added[j] = x; }
  t->added_first['<'] = 0;
  t->bos_id = 256;
  t->eos_id = 257;
  t->pad_id = 258;
  return 0;
}

lpo_tokenizer *lpo_tokenizer_byte(void) {
  lpo_tokenizer *t = calloc(1, sizeof *t);
  if (!t) { lpo_set_error("byte tokenizer: out of memory"); return NULL; }
  pthread_mutex_init(&t->cache_lock, NULL);
  t->kind = TOK_KIND_BYTE;
  t->has_decoder = 1;     /* the decoder is the identity on bytes */
  t->dec_lossy = 0;
  t->fuse_at = 0;
  t->post_ok = 1;
  t->unk_id = -1;
  snprintf(t->path, sizeof t->path, "(byte tokenizer)");
  if (build(t)) { lpo_tokenizer_free(t); return NULL; }
  tok_account(t);
  return t;
}

/* Whether a loaded tokenizer.json is exactly the byte tokenizer's (as lpo.tokenizer saves it). */
int tok_byte_equivalent(const lpo_tokenizer *t) {
  if (t->kind != TOK_KIND_BPE || !t->byte_level || t->n_merges != 0 || t->n_ids != 256 + N_SPECIALS) return 0;
  if (t->n_norms != 0 || t->n_pres != 1 || t->pres[0].use_regex || t->pres[0].add_prefix_space) return 0;
  if (t->n_decs != 1 || t->decs[0].kind != DEC_BYTELEVEL || t->n_added != N_SPECIALS || t->n_pre_ids || t->n_post_ids) return 0;
  for (int b = 0; b < 256; b++)
    if (t->byte_ids[b] != b) return 0;
  for (int i = 0; i < N_SPECIALS; i++) {
    int32_t id = tok_strmap_get(&t->added_map, t->arena, SPECIALS[i], strlen(SPECIALS[i]));
    if (id != 256 + i || !(t->entries[id].flags & TOKF_SPECIAL)) return 0;
  }
  for (int i = 0; i < t->n_added; i++)
    if (t->added[i].lstrip || t->added[i].rstrip || t->added[i].single_word || t->added[i].normalized) return 0;
  return 1;
}
