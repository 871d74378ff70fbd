/* The architecture-plugin ABI: the only thing an architecture plugin and the engine share.
 *
 * A plugin is a shared library exporting one function, mnemo_plugin_entry, that returns a table
 * describing the plugin and its entry points, including one descriptor per layer. The engine hands
 * each model instance a table of host services (model file access, activation buffers, compute
 * ops, token mixers over the memory the host keeps, probes). Only C types cross: no C++ objects,
 * STL types or exceptions. Both tables start with their ABI version and size so either
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

#define MNEMO_PLUGIN_ABI_MAJOR 2
#define MNEMO_PLUGIN_ABI_MINOR 2

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

/* Activations live in buffers the host's backend owns (host memory on the CPU, device memory
 * elsewhere); a plugin only ever holds handles and 2-D views of them, never their addresses. A
 * view is rows × cols fp32 elements starting `offset` elements into the buffer, `stride`
 * elements from one row to the next (stride >= cols). Views of one buffer may overlap only where
 * an op says so (e.g. norm's y may equal x). */
typedef struct mnemo_buffer mnemo_buffer;
typedef struct mnemo_view {
  mnemo_buffer* buffer; /* null: no view (an optional output the host does not want) */
  int64_t offset;
  int64_t rows;
  int64_t cols;
  int64_t stride;
} mnemo_view;

enum mnemo_norm_kind { MNEMO_NORM_LAYER = 0, MNEMO_NORM_RMS = 1 };
enum mnemo_activation { MNEMO_ACT_GELU_TANH = 0, MNEMO_ACT_GELU_ERF = 1, MNEMO_ACT_SILU = 2, MNEMO_ACT_RELU = 3 };
enum mnemo_rope_mode { MNEMO_ROPE_INTERLEAVED = 0, MNEMO_ROPE_NEOX = 1 };
enum mnemo_model_kind { MNEMO_MODEL_DECODER = 0, MNEMO_MODEL_ENCODER = 1 };
/* How linear_mixer maps q and k before the recurrence (the probe records them after it). */
enum mnemo_feature_map {
  MNEMO_FEATURE_IDENTITY = 0,
  MNEMO_FEATURE_ELU_PLUS_ONE = 1, /* elu(x) + 1: positive features (Katharopoulos et al.) */
  MNEMO_FEATURE_SILU_L2 = 2,      /* silu, then each head's vector L2-normalised (DeltaNet) */
  MNEMO_FEATURE_L2 = 3            /* each head's vector L2-normalised */
};

#define MNEMO_KIND_NAME_MAX 32 /* kind names are at most 31 bytes plus the terminating zero */

/* One layer of the model: its token mixer and what it keeps between steps (docs/ARCHITECTURE.md,
 * "What a model says about itself"). Kinds are names the host registers, never closed enums: a
 * new mixer or mask pattern changes neither this struct nor the ABI. Fields a kind does not use
 * are 0. */
typedef struct mnemo_layer_desc {
  uint32_t struct_size;              /* sizeof(mnemo_layer_desc) as the plugin was built */
  char mixer[MNEMO_KIND_NAME_MAX];   /* "softmax", "linear", "retnet", "gla", "delta", "gated_delta",
                                        "mamba1", "mamba2", ... */
  char memory[MNEMO_KIND_NAME_MAX];  /* "kv_cache", "recurrent_state", "memory_tokens", "none" */
  int32_t n_heads;                   /* query heads (Mamba-1: channel groups shown) */
  int32_t n_kv_heads;                /* key/value heads, n_heads % n_kv_heads == 0 (GQA/MQA) */
  int32_t key_dim;                   /* per head: q/k width (SSM: d_state) */
  int32_t value_dim;                 /* per head: v/o width (SSM: the head's channels) */
  int32_t state_rows, state_cols;    /* recurrent state per head; 0 for a KV cache */
  char mask[MNEMO_KIND_NAME_MAX];    /* softmax: "causal", "none", "window" */
  int32_t window;                    /* mask "window": positions seen, the query's own included */
  float scale;                       /* softmax: usually 1/sqrt(key_dim) */
  int32_t conv_width;                /* SSM: the short causal convolution's width (0: none) */
  int32_t conv_channels;             /* SSM: channels the convolution runs over */
} mnemo_layer_desc;

/* What the model reports after create(). Per-layer shapes are in the layer descriptors; the head
 * fields here are summaries for display, 0 when the model has none (Mamba) or its layers differ. */
typedef struct mnemo_model_info {
  int32_t kind; /* enum mnemo_model_kind */
  int32_t n_layers;
  int32_t d_model;
  int32_t n_heads;    /* optional summary */
  int32_t n_kv_heads; /* optional summary */
  int32_t head_dim;   /* optional summary */
  int32_t d_ff;       /* optional summary */
  int32_t vocab_size;
  int32_t context_length;
  char architecture[32]; /* the architecture served, e.g. "llama" */
} mnemo_model_info;

/* One forward pass over n_tokens new tokens. Each token has an absolute position in the sequence
 * (RoPE, learned position tables, masks) and a segment id: the segment it lies in for a model cut
 * into segments (mnemo_plugin_api::segments; one forward lies within one segment), else 0.
 * Positions need not be consecutive (after an eviction). pos0 == positions[0], for convenience. */
typedef struct mnemo_forward_args {
  const int32_t* tokens;
  int64_t n_tokens;
  const int32_t* positions;   /* [n_tokens] */
  const int32_t* segment_ids; /* [n_tokens] */
  int64_t pos0;
  mnemo_view logits; /* decoders: [1][vocab] for the last token; no buffer when not wanted */
  mnemo_view hidden; /* [n_tokens][d_model] final hidden states (after the final norm), or none */
} mnemo_forward_args;

/* ABI 2.1: the arguments of the recurrent families' mixers (mnemo_host_api::linear_mixer and
 * ssm_scan). The first member is the struct's size as the plugin was built; the host reads no
 * member past it. Views with no buffer and null tensors are "not given". */
typedef struct mnemo_linear_mixer_args {
  uint32_t struct_size;
  /* Raw projections, [t][n_heads * key_dim] (q, k) and [t][n_heads * value_dim] (v). */
  mnemo_view q, k, v;
  int32_t feature_map; /* enum mnemo_feature_map, applied to q and k by the host */
  float scale;         /* multiplies every output (usually key_dim^-1/2) */
  /* "gla": [t][n_heads * key_dim] gate logits, log decay = logsigmoid(gate) / gate_normalizer.
   * "gated_delta": [t][n_heads] raw a, log α = −exp(A_log) · softplus(a + dt_bias). */
  mnemo_view gate;
  float gate_normalizer;
  const mnemo_tensor* A_log;   /* "gated_delta": [n_heads] */
  const mnemo_tensor* dt_bias; /* "gated_delta": [n_heads] */
  /* "retnet": [n_heads] log γ_h, fixed per head. */
  const mnemo_tensor* head_log_decay;
  /* "delta", "gated_delta": [t][n_heads] logits, β = sigmoid(beta). */
  mnemo_view beta;
  mnemo_view out; /* [t][n_heads * value_dim] */
} mnemo_linear_mixer_args;

typedef struct mnemo_ssm_args {
  uint32_t struct_size;
  /* "mamba1": x [t][d_inner], dt [t][d_inner] (dt_proj's output without its bias), dt_bias and
   *           D [d_inner], A_log [d_inner][d_state], B and C [t][n_groups * d_state], z the gate
   *           [t][d_inner] (y · silu(z)), or none.
   * "mamba2": x [t][n_heads * head_dim], dt [t][n_heads] raw, dt_bias, A_log and D [n_heads],
   *           B and C [t][n_groups * d_state]; z must be none (the gated norm is the block's).
   * Δ = softplus(dt + dt_bias), A = −exp(A_log). */
  mnemo_view x, dt;
  const mnemo_tensor* dt_bias;
  const mnemo_tensor* A_log;
  mnemo_view B, C;
  const mnemo_tensor* D;
  mnemo_view z;
  int32_t n_groups;
  mnemo_view out; /* like x */
} mnemo_ssm_args;

/* ABI 2.2: what the rows of the ops that follow are, when they are more than the forward's tokens:
 * the memory rows a recurrent memory transformer adds to a segment ([read memory | tokens | write
 * memory]). A position is the row's place in what the layers keep (masks, RoPE for ops given no
 * positions, the KV slot it fills); the role and id say what the row is, for the probes: a token
 * and its position in the sequence, or a memory slot. */
enum mnemo_row_role { MNEMO_ROW_TOKEN = 0, MNEMO_ROW_MEMORY_READ = 1, MNEMO_ROW_MEMORY_WRITE = 2 };
typedef struct mnemo_rows {
  uint32_t struct_size;
  int64_t n;
  const int32_t* positions; /* [n] */
  const int32_t* roles;     /* [n] enum mnemo_row_role */
  const int32_t* ids;       /* [n] a token: its position in the sequence; a memory row: its slot */
} mnemo_rows;

/* ABI 2.2: how a model that runs its input in segments is cut (recurrent memory transformers,
 * Infini-attention). The host cuts every forward at segment boundaries, so that one forward never
 * crosses one, and empties the layers' KV memory when a segment begins: attention stays within a
 * segment; what crosses segments is the plugin's memory rows or the layers' recurrent state. A
 * segment beginning is not a new sequence (the step counter goes on; reset() starts one). */
typedef struct mnemo_segment_info {
  uint32_t struct_size;
  int32_t segment_length; /* tokens per segment; 0: the model is not cut */
  int32_t memory_rows;    /* rows the plugin adds to a segment besides its tokens (read and write
                             memory): a KV memory holds at most segment_length + memory_rows */
} mnemo_segment_info;

typedef struct mnemo_host mnemo_host; /* the engine's side of one model instance (opaque) */
typedef struct mnemo_model mnemo_model; /* the plugin's model (opaque to the host) */

/* Services the engine gives a plugin. All pointers stay valid for the model's lifetime.
 *
 * Ops run on the host's backend and are timed under an op kind: each op has its own kind
 * ("matmul", "norm", ...); ops that take an `op` argument accept another kind the plugin
 * registered with op_kind() (e.g. "lm_head"), or a negative value for their own. An op that fails
 * records the error (reported when forward returns) and the rest of the step is skipped. */
typedef struct mnemo_host_api {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;

  /* Records why the current call fails; the host reports it with the model file's name. */
  void (*set_error)(mnemo_host* h, const char* message);

  /* --- the model file ------------------------------------------------------------------- */
  const char* (*file_format)(mnemo_host* h); /* "gguf" or "safetensors" */
  /* Metadata lookups: 1 when found, 0 when absent, -1 when present with another type. Keys are
   * GGUF keys ("llama.block_count") or config.json keys ("num_hidden_layers"); a dotted key walks
   * nested objects and, since 2.1, lists by index ("attn.layers.0"). */
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

  /* --- kinds ------------------------------------------------------------------------------ */
  /* The id of the op kind `name` (registered on first use); labels the timings of ops given it. */
  int32_t (*op_kind)(mnemo_host* h, const char* name);

  /* --- activation buffers ----------------------------------------------------------------- */
  /* A fresh contiguous [rows][cols] view of a buffer valid until the current forward() returns
   * (a view with no buffer when out of memory, after set_error). */
  mnemo_view (*scratch)(mnemo_host* h, int64_t rows, int64_t cols);
  /* Copies between a view and plugin memory (row-major rows × cols floats): for the few values a
   * plugin must see, and tests; every op below works on views. */
  mnemo_status (*write)(mnemo_host* h, mnemo_view dst, const float* src);
  mnemo_status (*read)(mnemo_host* h, mnemo_view src, float* dst);

  /* --- compute ops (timed, labelled with the current layer) ------------------------------- */
  void (*set_layer)(mnemo_host* h, int32_t layer); /* -1 outside the blocks */
  /* out row i = row ids[i] of table [vocab][d]; out is [n][d]. MNEMO_ERR_INVALID for an id out of
   * range. ids are plugin memory (token ids, the forward's positions, token types). */
  mnemo_status (*embed)(mnemo_host* h, const mnemo_tensor* table, const int32_t* ids, mnemo_view out);
  /* y[m][n] = x[m][k] · wᵀ (+ bias), w is [n][k] in any supported dtype. */
  void (*matmul)(mnemo_host* h, int32_t op, mnemo_view x, const mnemo_tensor* w, const mnemo_tensor* bias,
                 mnemo_view y);
  /* n products of the same x: y[i] = x · w[i]ᵀ (+ bias[i]), as n matmul calls would give, in one
   * parallel section when x has one row (a decode step's Q/K/V or gate/up). bias may be null or
   * hold nulls. n is at most 8. */
  void (*matmul_many)(mnemo_host* h, int32_t op, mnemo_view x, int32_t n, const mnemo_tensor* const* w,
                      const mnemo_tensor* const* bias, const mnemo_view* y);
  /* Layer or RMS norm of each row; bias may be null. y may equal x. */
  void (*norm)(mnemo_host* h, int32_t kind, mnemo_view x, const mnemo_tensor* w, const mnemo_tensor* b, float eps,
               mnemo_view y);
  /* Rotary embedding in place on x = [t][n_heads * head_dim]; row i rotates by positions[i], or
   * by the forward's positions when positions is null. */
  void (*rope)(mnemo_host* h, mnemo_view x, int32_t n_heads, int32_t head_dim, int32_t n_rot, const int32_t* positions,
               float theta, int32_t mode);
  void (*activate)(mnemo_host* h, int32_t act, mnemo_view x); /* in place */
  /* out = act(gate) * up; out may equal gate or up. */
  void (*gated)(mnemo_host* h, int32_t act, mnemo_view gate, mnemo_view up, mnemo_view out);
  void (*add)(mnemo_host* h, mnemo_view y, mnemo_view x); /* y += x */
  void (*add_bias)(mnemo_host* h, mnemo_view y, const mnemo_tensor* bias); /* each row of y += bias */
  void (*copy)(mnemo_host* h, mnemo_view dst, mnemo_view src); /* same shape; any strides */

  /* --- token mixers (the host owns their memory and publishes their probes) ---------------- */
  /* Softmax attention of this step's tokens for a layer declared "softmax" + "kv_cache": shape,
   * mask and scale come from its descriptor. q is [t][n_heads * key_dim] after RoPE, k and v are
   * [t][n_kv_heads * key_dim]; the host stores k and v in the layer's KV memory at the forward's
   * positions, attends over every resident key the mask shows, and writes out [t][n_heads *
   * value_dim]. */
  mnemo_status (*attention)(mnemo_host* h, int32_t layer, mnemo_view q, mnemo_view k, mnemo_view v, mnemo_view out);
  /* A view of part of a layer's memory ("state": [heads * state_rows][state_cols]; "conv":
   * [conv_channels][conv_width - 1]) for plugins that update it with the ops above; a view with
   * no buffer when the layer keeps no such part. */
  mnemo_view (*memory_view)(mnemo_host* h, int32_t layer, const char* part);

  /* --- probes ---------------------------------------------------------------------------- */
  /* The residual stream [t][d] after block `layer` (rows at the forward's positions). */
  void (*probe_residual)(mnemo_host* h, int32_t layer, mnemo_view x);

  /* --- ABI 2.1: the recurrent families' mixers ------------------------------------------- */
  /* Each runs a layer declared with the matching mixer and "recurrent_state" memory, continues
   * from that memory's state (a prefill runs the chunked form, a decode step the recurrent one)
   * and leaves the state after this step's last token there; reset() clears it. Each publishes
   * the layer's mixer probe (its named factors) when a sink wants it. */
  /* "linear", "retnet", "gla", "delta", "gated_delta": the state is [n_heads][key_dim][value_dim]. */
  mnemo_status (*linear_mixer)(mnemo_host* h, int32_t layer, const mnemo_linear_mixer_args* args);
  /* The layer's short causal convolution over x [t][conv_channels]: weight [conv_channels][1][K]
   * or [conv_channels][K] with K = conv_width, bias [conv_channels] or null, then SiLU when silu;
   * the window of the last K − 1 inputs is the layer's memory ("conv"). */
  mnemo_status (*causal_conv1d)(mnemo_host* h, int32_t layer, mnemo_view x, const mnemo_tensor* weight,
                                const mnemo_tensor* bias, int32_t silu, mnemo_view out);
  /* "mamba1" (selective scan, state [d_inner][d_state]) and "mamba2" (SSD, state
   * [n_heads][head_dim][d_state]). */
  mnemo_status (*ssm_scan)(mnemo_host* h, int32_t layer, const mnemo_ssm_args* args);

  /* --- ABI 2.2: rows other than the forward's tokens --------------------------------------- */
  /* The rows of the ops that follow, until the next call or the end of forward (null: the
   * forward's tokens again). rope and attention take their positions from it; attention stores
   * each row's key at its position with its role and id, and the probes report them. Positions
   * must continue the layers' KV memory in order (slot j holds position j within a segment). */
  mnemo_status (*set_rows)(mnemo_host* h, const mnemo_rows* rows);
  /* The memory rows a plugin carries across segments, [slots][d_model]: what a segment reads when
   * it begins (role MNEMO_ROW_MEMORY_READ) and what its write rows leave for the next one
   * (MNEMO_ROW_MEMORY_WRITE). Published after set_layer(-1), the memory of the whole stack (RMT);
   * while set_layer(l), what the write rows left in layer l's own memory (ARMT: [slots][d_model],
   * each memory row's written value). A probe: it changes nothing and costs nothing unless a sink
   * wants it. */
  void (*probe_memory)(mnemo_host* h, int32_t role, mnemo_view rows);
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
  /* Describes layer `index` (0 .. n_layers-1). The host sets out->struct_size before the call. */
  mnemo_status (*layer)(const mnemo_model* model, int32_t index, mnemo_layer_desc* out);
  mnemo_status (*forward)(mnemo_model* model, const mnemo_forward_args* args);
  /* The next forward starts a new sequence: clear whatever state the plugin keeps itself (the
   * host resets the memory it owns). May be null when the plugin keeps none. */
  void (*reset)(mnemo_model* model);
  /* ABI 2.2: how the model is cut into segments (see mnemo_segment_info); null, or a
   * segment_length of 0, for a model that is not. The host sets out->struct_size first. */
  mnemo_status (*segments)(const mnemo_model* model, mnemo_segment_info* out);
} mnemo_plugin_api;

/* The one exported symbol. The host passes its ABI version; a plugin built for another major
 * returns its table anyway so the host can report both versions. */
typedef const mnemo_plugin_api* (*mnemo_plugin_entry_fn)(uint32_t host_abi_major, uint32_t host_abi_minor);
#define MNEMO_PLUGIN_ENTRY_SYMBOL "mnemo_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* MNEMO_PLUGIN_ABI_H */
