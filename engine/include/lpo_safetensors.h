/* lpo_safetensors.h — reading and writing Hugging Face safetensors checkpoints.
 *
 * Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON { name: {dtype, shape, data_offsets:[begin,end]}, ...,
 * "__metadata__": {string: string} }, then the data section; offsets are relative to
 * the start of the data section. A sharded checkpoint is a model.safetensors.index.json
 * { "metadata": {...}, "weight_map": { tensor: shard file } } beside its shards.
 *
 * Opening validates every header completely before any tensor is trusted: header
 * length, JSON shape, dtype, shape (<= 8 dims, no overflow), offsets (inside the data
 * section, end-begin == numel*size, no overlap), duplicate names across shards, and the
 * index's weight_map against the shard headers. Files are memory-mapped read-only; the
 * mapped bytes are accounted on device 0. Every error names the file and the tensor.
 *
 * Writing is atomic (temp file + fsync + rename), tensors sorted by name, header padded
 * with spaces to a multiple of 8 bytes (as the reference implementation does), metadata
 * {"format":"pt"} by default so transformers accepts the file. */
#ifndef LPO_SAFETENSORS_H
#define LPO_SAFETENSORS_H
#include "lpo.h"

/* LPO_CDEF_BEGIN */
typedef struct lpo_st lpo_st;            /* an opened checkpoint: one file or all shards of an index */
lpo_st *lpo_st_open(const char *path);   /* a .safetensors file, a model.safetensors.index.json, or a dir holding either; validates every header first; NULL + error naming file and tensor */
void lpo_st_close(lpo_st *st);
int lpo_st_count(const lpo_st *st);
const char *lpo_st_name(const lpo_st *st, int i);
int lpo_st_find(const lpo_st *st, const char *name);          /* index, or -1 (no error set) */
int lpo_st_dtype(const lpo_st *st, int i);                    /* lpo_dtype */
int lpo_st_shape(const lpo_st *st, int i, int64_t shape[8]);  /* returns ndim */
int lpo_st_read_f32(const lpo_st *st, const char *name, float *dst, int ndim, const int64_t *shape); /* f32/bf16/f16 -> f32; -1 + error naming the tensor if missing or shape differs */
typedef struct lpo_st_tensor { const char *name; int dtype; int ndim; int64_t shape[8]; const void *data; } lpo_st_tensor;
int lpo_st_write(const char *path, const lpo_st_tensor *t, int n, const char *metadata_json);  /* atomic (temp + fsync + rename) */
int lpo_st_write_sharded(const char *dir, const lpo_st_tensor *t, int n, int64_t max_shard_bytes, const char *metadata_json); /* model.safetensors, or model-0000k-of-0000n.safetensors shards + model.safetensors.index.json (HF naming and index format) */

/* ---- extras ---- */
int64_t lpo_st_numel(const lpo_st *st, int i);                /* product of the shape (1 for a scalar) */
int64_t lpo_st_nbytes(const lpo_st *st, int i);               /* numel * dtype size */
const void *lpo_st_data(const lpo_st *st, int i);             /* the raw little-endian bytes, mapped read-only; valid until close */
const char *lpo_st_file(const lpo_st *st, int i);             /* the file holding tensor i */
/* Reads tensor `name` as raw bytes of its own dtype (no conversion): -1 + error naming the
 * tensor if missing, the dtype differs or the shape differs. For i32/i64 and exact copies. */
int lpo_st_read_raw(const lpo_st *st, const char *name, void *dst, int dtype, int ndim, const int64_t *shape);
/* The value of key in the __metadata__ of the (first) file, or NULL. */
const char *lpo_st_metadata(const lpo_st *st, const char *key);
/* LPO_CDEF_END */
#endif
