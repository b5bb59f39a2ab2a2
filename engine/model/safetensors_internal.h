/* safetensors_internal.h — helpers shared by the safetensors reader and writer. */
#ifndef LPO_SAFETENSORS_INTERNAL_H
#define LPO_SAFETENSORS_INTERNAL_H
#include <stdint.h>

int lpo_st_dtype_parse(const char *s);      /* "F32" -> LPO_F32 ...; -1 when not one of ours */
const char *lpo_st_dtype_str(int dtype);    /* LPO_F32 -> "F32" ... */
/* numel and numel * dtype size; -1 on a negative dim or overflow. */
int lpo_st_numel_bytes(int dtype, int ndim, const int64_t *shape, int64_t *numel, int64_t *nbytes);
#endif
