/* config.c — config.json of the Llama family: parse (with transformers' class defaults,
 * because save_pretrained drops fields equal to them), check, and render back.
 *
 * Both spellings of rotary settings are read: the classic top-level "rope_theta" +
 * "rope_scaling" {"rope_type"|"type", "factor", ...} of hub checkpoints, and the
 * "rope_parameters" object transformers 5 writes. Render writes the classic spelling,
 * which every transformers version reads. */
#include "model/model.h"
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *field(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return (v && !cJSON_IsNull(v)) ? v : NULL;
}

/* Reads an integer field; absent or null keeps *out. */
static int get_int(const cJSON *o, const char *k, int *out, const char *where) {
  const cJSON *v = field(o, k);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2147483647.0)
    return lpo_set_error("%s: field '%s' must be an integer", where, k);
  *out = (int)v->valuedouble;
  return 0;
}

static int get_num(const cJSON *o, const char *k, double *out, const char *where) {
  const cJSON *v = field(o, k);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return lpo_set_error("%s: field '%s' must be a number", where, k);
  *out = v->valuedouble;
  return 0;
}

static int get_bool(const cJSON *o, const char *k, int *out, const char *where) {
  const cJSON *v = field(o, k);
  if (!v) return 0;
  if (!cJSON_IsBool(v)) return lpo_set_error("%s: field '%s' must be true or false", where, k);
  *out = cJSON_IsTrue(v);
  return 0;
}

static int dtype_from_name(const char *s) {
  if (!strcmp(s, "float32")) return LPO_F32;
  if (!strcmp(s, "bfloat16")) return LPO_BF16;
  if (!strcmp(s, "float16")) return LPO_F16;
  return -1;
}

static const char *dtype_to_name(int d) {
  return d == LPO_BF16 ? "bfloat16" : d == LPO_F16 ? "float16" : "float32";
}

/* rope_scaling / rope_parameters: {"rope_type" or "type": ..., "factor": ..., ...}. */
static int parse_rope(lpo_model_config *c, const cJSON *r, const char *key, const char *where) {
  if (!cJSON_IsObject(r)) return lpo_set_error("%s: field '%s' must be an object or null", where, key);
  if (get_num(r, "rope_theta", &c->rope_theta, where)) return -1;
  const cJSON *t = field(r, "rope_type");
  if (!t) t = field(r, "type");
  const char *type = (t && cJSON_IsString(t)) ? t->valuestring : "default";
  if (!strcmp(type, "default")) { c->rope_kind = LPO_ROPE_DEFAULT; return 0; }
  if (!strcmp(type, "linear")) c->rope_kind = LPO_ROPE_LINEAR;
  else if (!strcmp(type, "dynamic")) c->rope_kind = LPO_ROPE_DYNAMIC;
  else if (!strcmp(type, "llama3")) c->rope_kind = LPO_ROPE_LLAMA3;
  else return lpo_set_error("%s: %s type '%s' is not supported (default, linear, dynamic, llama3)", where, key, type);
  c->rope_factor = 0;
  if (get_num(r, "factor", &c->rope_factor, where)) return -1;
  if (!(c->rope_factor >= 1.0)) return lpo_set_error("%s: %s.factor must be a number >= 1", where, key);
  if (c->rope_kind == LPO_ROPE_LLAMA3) {
    c->rope_low_freq_factor = 1.0; c->rope_high_freq_factor = 4.0;
    c->rope_original_max_position = 8192;
    if (get_num(r, "low_freq_factor", &c->rope_low_freq_factor, where) ||
        get_num(r, "high_freq_factor", &c->rope_high_freq_factor, where) ||
        get_int(r, "original_max_position_embeddings", &c->rope_original_max_position, where)) return -1;
    if (!(c->rope_high_freq_factor > c->rope_low_freq_factor) || c->rope_low_freq_factor <= 0 || c->rope_original_max_position <= 0)
      return lpo_set_error("%s: %s needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0", where, key);
  }
  return 0;
}

int lpo_model_config_parse(lpo_model_config *c, const char *json, const char *where) {
  if (!where) where = "config.json";
  cJSON *o = cJSON_Parse(json ? json : "");
  if (!o) {
    const char *at = cJSON_GetErrorPtr();
    return lpo_set_error("%s: not valid JSON near '%.20s'", where, at ? at : "");
  }
  int rc = -1;
  if (!cJSON_IsObject(o)) { lpo_set_error("%s: must be a JSON object", where); goto done; }
  const cJSON *mt = field(o, "model_type");
  if (!mt || !cJSON_IsString(mt)) { lpo_set_error("%s: field 'model_type' is missing (llama or qwen2)", where); goto done; }
  memset(c, 0, sizeof *c);
  if (!strcmp(mt->valuestring, "llama")) {
    /* LlamaConfig defaults */
    *c = (lpo_model_config){ .arch = LPO_ARCH_LLAMA, .vocab_size = 32000, .hidden_size = 4096,
      .intermediate_size = 11008, .num_layers = 32, .num_heads = 32, .num_kv_heads = -1,
      .max_position_embeddings = 2048, .rms_norm_eps = 1e-6, .rope_theta = 10000.0 };
  } else if (!strcmp(mt->valuestring, "qwen2")) {
    /* Qwen2Config defaults; q/k/v always carry biases in Qwen2 */
    *c = (lpo_model_config){ .arch = LPO_ARCH_QWEN2, .vocab_size = 151936, .hidden_size = 4096,
      .intermediate_size = 22016, .num_layers = 32, .num_heads = 32, .num_kv_heads = 32,
      .max_position_embeddings = 32768, .rms_norm_eps = 1e-6, .rope_theta = 10000.0, .qkv_bias = 1 };
  } else {
    lpo_set_error("%s: model_type '%s' is not supported (llama, qwen2)", where, mt->valuestring);
    goto done;
  }
  c->initializer_range = 0.02;
  c->torch_dtype = LPO_F32;
  c->head_dim = -1;
  if (get_int(o, "vocab_size", &c->vocab_size, where) || get_int(o, "hidden_size", &c->hidden_size, where) ||
      get_int(o, "intermediate_size", &c->intermediate_size, where) ||
      get_int(o, "num_hidden_layers", &c->num_layers, where) ||
      get_int(o, "num_attention_heads", &c->num_heads, where) ||
      get_int(o, "num_key_value_heads", &c->num_kv_heads, where) || get_int(o, "head_dim", &c->head_dim, where) ||
      get_int(o, "max_position_embeddings", &c->max_position_embeddings, where) ||
      get_num(o, "rms_norm_eps", &c->rms_norm_eps, where) || get_num(o, "rope_theta", &c->rope_theta, where) ||
      get_bool(o, "tie_word_embeddings", &c->tie_word_embeddings, where) ||
      get_num(o, "initializer_range", &c->initializer_range, where)) goto done;
  if (c->num_kv_heads < 0) c->num_kv_heads = c->num_heads;
  if (c->head_dim < 0) {
    if (c->num_heads <= 0 || c->hidden_size % c->num_heads) {
      lpo_set_error("%s: hidden_size %d is not a multiple of num_attention_heads %d (and no head_dim)", where, c->hidden_size, c->num_heads);
      goto done;
    }
    c->head_dim = c->hidden_size / c->num_heads;
  }
  if (c->arch == LPO_ARCH_LLAMA) {
    int ab = 0, mb = 0;
    if (get_bool(o, "attention_bias", &ab, where) || get_bool(o, "mlp_bias", &mb, where)) goto done;
    c->qkv_bias = c->o_bias = ab;
    if (mb) { lpo_set_error("%s: field 'mlp_bias' = true is not supported", where); goto done; }
  } else {
    int sw = 0;
    if (get_bool(o, "use_sliding_window", &sw, where)) goto done;
    if (sw) { lpo_set_error("%s: field 'use_sliding_window' = true is not supported (full attention only)", where); goto done; }
  }
  const cJSON *act = field(o, "hidden_act");
  if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu"))) {
    lpo_set_error("%s: field 'hidden_act' must be \"silu\"", where);
    goto done;
  }
  const cJSON *rs = field(o, "rope_scaling");
  if (rs && parse_rope(c, rs, "rope_scaling", where)) goto done;
  const cJSON *rp = field(o, "rope_parameters");
  if (rp && parse_rope(c, rp, "rope_parameters", where)) goto done;
  const cJSON *dt = field(o, "torch_dtype");
  if (!dt) dt = field(o, "dtype");
  if (dt && cJSON_IsString(dt) && dtype_from_name(dt->valuestring) >= 0) c->torch_dtype = dtype_from_name(dt->valuestring);
  rc = lpo_model_config_check(c, where);
done:
  cJSON_Delete(o);
  return rc;
}

int lpo_model_config_check(const lpo_model_config *c, const char *where) {
  /* Limits keep every size product far inside int64 and the kernels' int dims. */
  struct { const char *name; int v, lo, hi; } f[] = {
    { "vocab_size", c->vocab_size, 1, 1 << 24 }, { "hidden_size", c->hidden_size, 1, 1 << 16 },
    { "intermediate_size", c->intermediate_size, 1, 1 << 18 }, { "num_hidden_layers", c->num_layers, 1, 1024 },
    { "num_attention_heads", c->num_heads, 1, 1024 }, { "num_key_value_heads", c->num_kv_heads, 1, 1024 },
    { "head_dim", c->head_dim, 2, 1024 }, { "max_position_embeddings", c->max_position_embeddings, 1, 1 << 24 },
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (f[i].v < f[i].lo || f[i].v > f[i].hi)
      return lpo_set_error("%s: field '%s' = %d out of range [%d, %d]", where, f[i].name, f[i].v, f[i].lo, f[i].hi);
  if (c->num_heads % c->num_kv_heads)
    return lpo_set_error("%s: num_key_value_heads %d does not divide num_attention_heads %d", where, c->num_kv_heads, c->num_heads);
  if (c->head_dim % 2) return lpo_set_error("%s: head_dim %d must be even (rotary pairs)", where, c->head_dim);
  if (!(c->rms_norm_eps > 0)) return lpo_set_error("%s: field 'rms_norm_eps' must be > 0", where);
  if (!(c->rope_theta > 0)) return lpo_set_error("%s: field 'rope_theta' must be > 0", where);
  if (!(c->initializer_range >= 0)) return lpo_set_error("%s: field 'initializer_range' must be >= 0", where);
  if (c->rope_kind != LPO_ROPE_DEFAULT && !(c->rope_factor >= 1.0))
    return lpo_set_error("%s: rope_scaling.factor must be >= 1", where);
  return 0;
}

static void set_item(cJSON *o, const char *k, cJSON *v) {
  if (cJSON_GetObjectItemCaseSensitive(o, k)) cJSON_ReplaceItemInObjectCaseSensitive(o, k, v);
  else cJSON_AddItemToObject(o, k, v);
}

/* config.json text: base_json's fields (when given) with ours written over them. */
char *lpo_model_config_render(const lpo_model_config *c, const char *base_json, int dtype) {
  cJSON *o = base_json ? cJSON_Parse(base_json) : NULL;
  if (!o || !cJSON_IsObject(o)) { cJSON_Delete(o); o = cJSON_CreateObject(); }
  int llama = c->arch == LPO_ARCH_LLAMA;
  cJSON *arch = cJSON_CreateArray();
  cJSON_AddItemToArray(arch, cJSON_CreateString(llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM"));
  set_item(o, "architectures", arch);
  set_item(o, "model_type", cJSON_CreateString(llama ? "llama" : "qwen2"));
  set_item(o, "vocab_size", cJSON_CreateNumber(c->vocab_size));
  set_item(o, "hidden_size", cJSON_CreateNumber(c->hidden_size));
  set_item(o, "intermediate_size", cJSON_CreateNumber(c->intermediate_size));
  set_item(o, "num_hidden_layers", cJSON_CreateNumber(c->num_layers));
  set_item(o, "num_attention_heads", cJSON_CreateNumber(c->num_heads));
  set_item(o, "num_key_value_heads", cJSON_CreateNumber(c->num_kv_heads));
  set_item(o, "head_dim", cJSON_CreateNumber(c->head_dim));
  set_item(o, "max_position_embeddings", cJSON_CreateNumber(c->max_position_embeddings));
  set_item(o, "rms_norm_eps", cJSON_CreateNumber(c->rms_norm_eps));
  set_item(o, "initializer_range", cJSON_CreateNumber(c->initializer_range));
  set_item(o, "hidden_act", cJSON_CreateString("silu"));
  set_item(o, "tie_word_embeddings", cJSON_CreateBool(c->tie_word_embeddings));
  if (llama) set_item(o, "attention_bias", cJSON_CreateBool(c->qkv_bias));
  if (!cJSON_GetObjectItemCaseSensitive(o, "rope_parameters")) {
    set_item(o, "rope_theta", cJSON_CreateNumber(c->rope_theta));
    if (c->rope_kind == LPO_ROPE_DEFAULT) set_item(o, "rope_scaling", cJSON_CreateNull());
    else {
      static const char *kinds[] = { "default", "linear", "dynamic", "llama3" };
      cJSON *r = cJSON_CreateObject();
      cJSON_AddItemToObject(r, "rope_type", cJSON_CreateString(kinds[c->rope_kind]));
      cJSON_AddItemToObject(r, "type", cJSON_CreateString(kinds[c->rope_kind]));
      cJSON_AddItemToObject(r, "factor", cJSON_CreateNumber(c->rope_factor));
      if (c->rope_kind == LPO_ROPE_LLAMA3) {
        cJSON_AddItemToObject(r, "low_freq_factor", cJSON_CreateNumber(c->rope_low_freq_factor));
        cJSON_AddItemToObject(r, "high_freq_factor", cJSON_CreateNumber(c->rope_high_freq_factor));
        cJSON_AddItemToObject(r, "original_max_position_embeddings", cJSON_CreateNumber(c->rope_original_max_position));
      }
      set_item(o, "rope_scaling", r);
    }
  }
  set_item(o, "torch_dtype", cJSON_CreateString(dtype_to_name(dtype)));
  if (cJSON_GetObjectItemCaseSensitive(o, "dtype")) set_item(o, "dtype", cJSON_CreateString(dtype_to_name(dtype)));
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  return text;   /* malloc'd by cJSON; NULL on out of memory */
}
