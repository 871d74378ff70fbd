/* The architecture-plugin ABI: the only thing an architecture plugin and the engine share.
 *
 * A plugin is a shared library exporting one function, mnemo_plugin_entry, that returns a table
 * describing the plugin and its entry points. The engine hands each model instance a table of
 * host services (model file access, compute ops, KV cache, probes). Only C types cross: no C++
 * objects, STL types or exceptions. Both tables start with their ABI version and size so either
 * side can check what the other was built against.
 *
 * Versioning: MNEMO_PLUGIN_ABI_MAJOR changes when a change breaks existing plugins (the host
 * refuses a plugin of another major and names both versions); MINOR grows when entries are added
 * at the end of a table (a newer side checks struct_size before using them).
 *
 * Threading: the host calls a model from one thread at a time; host ops use the engine's thread
 * pool internally. */
#ifndef MNEMO_PLUGIN_ABI_H
#define MNEMO_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_PLUGIN_ABI_MAJOR 1
#define MNEMO_PLUGIN_ABI_MINOR 1

#if defined(_WIN32)
#define MNEMO_PLUGIN_EXPORT __declspec(dllexport)
#else
#define MNEMO_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

typedef enum mnemo_status {
  MNEMO_OK = 0,
  MNEMO_ERR_INVALID = 1,     /* bad arguments or a malformed model (message via set_error) */
  MNEMO_ERR_UNSUPPORTED = 2, /* a variant of the architecture this plugin does not implement */
  MNEMO_ERR_MISSING = 3,     /* a required tensor or metadata key is absent */
  MNEMO_ERR_INTERNAL = 4
} mnemo_status;

/* A weight tensor as stored in the model file. dtype is a GGML type id (mnemo::DType); shape is
 * outermost first; data is read-only and lives as long as the model. */
typedef struct mnemo_tensor {
  const void* data;
  uint32_t dtype;
  int32_t ndim;
  int64_t shape[4];
  uint64_t nbytes;
} mnemo_tensor;

enum mnemo_norm_kind { MNEMO_NORM_LAYER = 0, MNEMO_NORM_RMS = 1 };
enum mnemo_activation { MNEMO_ACT_GELU_TANH = 0, MNEMO_ACT_GELU_ERF = 1, MNEMO_ACT_SILU = 2, MNEMO_ACT_RELU = 3 };
enum mnemo_rope_mode { MNEMO_ROPE_INTERLEAVED = 0, MNEMO_ROPE_NEOX = 1 };
enum mnemo_mask_kind { MNEMO_MASK_NONE = 0, MNEMO_MASK_CAUSAL = 1, MNEMO_MASK_WINDOW = 2 };
enum mnemo_model_kind { MNEMO_MODEL_DECODER = 0, MNEMO_MODEL_ENCODER = 1 };

/* Ops are timed per call; the host labels each timing with the op kind and the layer set here. */
enum mnemo_op_kind {
  MNEMO_OP_EMBED = 0, MNEMO_OP_NORM = 1, MNEMO_OP_MATMUL = 2, MNEMO_OP_ROPE = 3,
  MNEMO_OP_ATTENTION = 4, MNEMO_OP_ACTIVATION = 5, MNEMO_OP_ADD = 6, MNEMO_OP_LM_HEAD = 7,
  MNEMO_OP_COUNT = 8
};

/* How one attention layer is shaped and masked. */
typedef struct mnemo_attention_desc {
  int32_t n_heads;
  int32_t n_kv_heads; /* < n_heads for GQA/MQA */
  int32_t head_dim;
  int32_t mask;       /* enum mnemo_mask_kind */
  int32_t window;     /* MNEMO_MASK_WINDOW only */
  float scale;        /* usually 1/sqrt(head_dim) */
} mnemo_attention_desc;

/* Shapes the model reports after create(); the host sizes its KV cache and buffers from them. */
typedef struct mnemo_model_info {
  int32_t kind; /* enum mnemo_model_kind */
  int32_t n_layers;
  int32_t d_model;
  int32_t n_heads;
  int32_t n_kv_heads;
  int32_t head_dim;
  int32_t d_ff;
  int32_t vocab_size;
  int32_t context_length;
  char architecture[32]; /* the architecture served, e.g. "llama" */
} mnemo_model_info;

/* One forward pass over n_tokens new tokens at absolute positions pos0 .. pos0+n_tokens-1.
 * The KV cache already holds positions 0 .. pos0-1. */
typedef struct mnemo_forward_args {
  const int32_t* tokens;
  int64_t n_tokens;
  int64_t pos0;
  float* logits;        /* decoders: [vocab] for the last token, or null */
  float* hidden;        /* [n_tokens][d_model] final hidden states (after the final norm), or null */
} mnemo_forward_args;

typedef struct mnemo_host mnemo_host; /* the engine's side of one model instance (opaque) */
typedef struct mnemo_model mnemo_model; /* the plugin's model (opaque to the host) */

/* Services the engine gives a plugin. All pointers stay valid for the model's lifetime. Float
 * buffers are row-major fp32. */
typedef struct mnemo_host_api {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;

  /* Records why the current call fails; the host reports it with the model file's name. */
  void (*set_error)(mnemo_host* h, const char* message);

  /* --- the model file ------------------------------------------------------------------- */
  const char* (*file_format)(mnemo_host* h); /* "gguf" or "safetensors" */
  /* Metadata lookups: 1 when found, 0 when absent, -1 when present with another type. Keys are
   * GGUF keys ("llama.block_count") or config.json keys ("num_hidden_layers"). */
  int (*meta_int)(mnemo_host* h, const char* key, int64_t* out);
  int (*meta_float)(mnemo_host* h, const char* key, double* out);
  int (*meta_bool)(mnemo_host* h, const char* key, int* out);
  /* The returned string lives as long as the model. */
  int (*meta_string)(mnemo_host* h, const char* key, const char** out);
  /* 1 and fills *out when the tensor exists, else 0. */
  int (*tensor)(mnemo_host* h, const char* name, mnemo_tensor* out);
  /* A tensor the plugin computes once at load time (e.g. a transposed copy): an fp32 buffer of
   * `numel` elements owned by the host, returned as a tensor of the given shape. */
  float* (*alloc_weight)(mnemo_host* h, int32_t ndim, const int64_t* shape, mnemo_tensor* out);
  /* Converts a whole tensor of any supported dtype to fp32 (out holds numel floats). */
  mnemo_status (*dequantize)(mnemo_host* h, const mnemo_tensor* t, float* out);

  /* --- per-forward scratch ---------------------------------------------------------------- */
  /* n floats, 64-byte aligned, valid until the current forward() returns. */
  float* (*scratch)(mnemo_host* h, uint64_t n);

  /* --- compute ops (timed, labelled with the current layer) ------------------------------- */
  void (*set_layer)(mnemo_host* h, int32_t layer); /* -1 outside the blocks */
  /* out[i] = row ids[i] of table [vocab][d]. Returns MNEMO_ERR_INVALID for an id out of range. */
  mnemo_status (*embed)(mnemo_host* h, const mnemo_tensor* table, const int32_t* ids, int64_t n, float* out);
  /* y[m][n] = x[m][k] · wᵀ (+ bias), w is [n][k] in any supported dtype. op labels the timing
   * (MNEMO_OP_MATMUL or MNEMO_OP_LM_HEAD). */
  void (*matmul)(mnemo_host* h, int32_t op, const float* x, int64_t m, int64_t k, const mnemo_tensor* w,
                 const mnemo_tensor* bias, float* y);
  /* Layer or RMS norm of each row of n; bias may be null. y may equal x. */
  void (*norm)(mnemo_host* h, int32_t kind, const float* x, const mnemo_tensor* w, const mnemo_tensor* b,
               int64_t rows, int64_t n, float eps, float* y);
  void (*rope)(mnemo_host* h, float* x, int64_t t, int64_t n_heads, int64_t head_dim, int64_t n_rot,
               int64_t pos0, float theta, int32_t mode);
  void (*activate)(mnemo_host* h, int32_t act, float* x, int64_t n);
  /* out = act(gate) * up */
  void (*gated)(mnemo_host* h, int32_t act, const float* gate, const float* up, float* out, int64_t n);
  void (*add)(mnemo_host* h, float* y, const float* x, int64_t n); /* y += x */
  /* Adds bias [n] to each of `rows` rows of y. */
  void (*add_bias)(mnemo_host* h, float* y, const mnemo_tensor* bias, int64_t rows, int64_t n);

  /* Self-attention of this step's t tokens for `layer`. q is [t][n_heads][head_dim] after RoPE,
   * k and v are [t][n_kv_heads][head_dim]; the host appends k and v to the layer's KV cache at
   * positions pos0.., attends q over every resident position under the mask, writes out
   * [t][n_heads][head_dim], and publishes the attention and KV probes. */
  mnemo_status (*attention)(mnemo_host* h, int32_t layer, const mnemo_attention_desc* desc, const float* q,
                            const float* k, const float* v, int64_t t, int64_t pos0, float* out);

  /* --- probes ---------------------------------------------------------------------------- */
  /* The residual stream [t][d] after block `layer` (t rows starting at position pos0). */
  void (*probe_residual)(mnemo_host* h, int32_t layer, const float* x, int64_t t, int64_t d, int64_t pos0);

  /* --- ABI 1.1 ---------------------------------------------------------------------------- */
  /* n products of the same x: y[i] = x · w[i]ᵀ (+ bias[i]), as n matmul calls would give, in one
   * parallel section when m == 1 (a decode step's Q/K/V or gate/up). bias may be null, or hold
   * nulls. n is at most 8. */
  void (*matmul_many)(mnemo_host* h, int32_t op, const float* x, int64_t m, int64_t k, int32_t n,
                      const mnemo_tensor* const* w, const mnemo_tensor* const* bias, float* const* y);
} mnemo_host_api;

/* What a plugin exports. */
typedef struct mnemo_plugin_api {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;
  const char* id;                  /* "transformer" */
  const char* version;             /* the plugin's own semantic version */
  const char* const* architectures; /* architectures served, null-terminated list */

  /* Builds a model from the file behind `host`. options_json is a JSON object (may be "{}").
   * On failure returns non-zero after host->set_error. */
  mnemo_status (*create)(const mnemo_host_api* host_api, mnemo_host* host, const char* options_json,
                         mnemo_model** out);
  void (*destroy)(mnemo_model* model);
  void (*info)(const mnemo_model* model, mnemo_model_info* out);
  mnemo_status (*forward)(mnemo_model* model, const mnemo_forward_args* args);
} mnemo_plugin_api;

/* The one exported symbol. The host passes its ABI version; a plugin built for another major
 * returns its table anyway so the host can report both versions. */
typedef const mnemo_plugin_api* (*mnemo_plugin_entry_fn)(uint32_t host_abi_major, uint32_t host_abi_minor);
#define MNEMO_PLUGIN_ENTRY_SYMBOL "mnemo_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* MNEMO_PLUGIN_ABI_H */
