/* One function per TENSOR.* command. Every command validates all of its input before it changes anything,
 * so an error leaves every key as it was; results are replicated as TENSOR.RESTORE so replicas and the AOF
 * hold the same bytes whatever SIMD path computed them, and every change raises a keyspace event. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "spirt_kernels.h"
#include "tensor.h"

#define CHUNK 4096 /* floats converted per step when a dtype needs widening to float32 */

const spirt_kernels *K = NULL;

/* ---- argument helpers ---- */

static int arg_is(RedisModuleString *arg, const char *word) {
    size_t len;
    const char *s = RedisModule_StringPtrLen(arg, &len);
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* The float32 value a number argument is used as: 0 unless that value is finite and a non-zero argument has
 * not underflowed to zero (LR 1e300 -> inf, EPS 1e-50 -> 0 are refused, not used). Ranges are checked on it. */
static int arg_float32(RedisModuleString *arg, float *out) {
    double d;
    if (RedisModule_StringToDouble(arg, &d) != REDISMODULE_OK) return 0;
    *out = (float)d;
    return isfinite(*out) && (*out != 0 || d == 0);
}

static int same_key(RedisModuleString *a, RedisModuleString *b) {
    size_t la, lb;
    const char *sa = RedisModule_StringPtrLen(a, &la), *sb = RedisModule_StringPtrLen(b, &lb);
    return la == lb && memcmp(sa, sb, la) == 0;
}

typedef enum { FOUND, MISSING, WRONG_TYPE } Lookup;

/* Opens a key (auto-closed by AutoMemory) and tells whether it holds a tensor. */
static Lookup open_tensor(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleKey **key, Tensor **t) {
    *key = RedisModule_OpenKey(ctx, name, mode);
    *t = NULL;
    if (!*key || RedisModule_KeyType(*key) == REDISMODULE_KEYTYPE_EMPTY) return MISSING;
    if (RedisModule_ModuleTypeGetType(*key) != TensorType) return WRONG_TYPE;
    *t = RedisModule_ModuleTypeGetValue(*key);
    return FOUND;
}

static int reply_lookup_error(RedisModuleCtx *ctx, Lookup l, const char *role) {
    char msg[128];
    if (l == WRONG_TYPE) return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    snprintf(msg, sizeof msg, "ERR %s key does not exist", role);
    return RedisModule_ReplyWithError(ctx, msg);
}

/* A tensor's effective dtype for math: accumulators are their float32 mean. */
static DType math_dtype(const Tensor *t) { return t->is_accumulator ? DTYPE_FLOAT32 : t->dtype; }
static float mean_factor(const Tensor *t) { return t->is_accumulator ? (float)(1.0 / t->weight_sum) : 1.0f; }

static const char *check_math_input(const Tensor *t, const char *role, char *buf, size_t bufsize) {
    if (!dtype_is_float_math(math_dtype(t))) {
        snprintf(buf, bufsize, "ERR %s has dtype %s; only FLOAT32, FLOAT16 and BFLOAT16 are supported", role,
                 dtype_name(t->dtype));
        return buf;
    }
    if (t->is_accumulator && !(t->weight_sum != 0)) {
        snprintf(buf, bufsize, "ERR %s is an empty accumulator (weight sum 0)", role);
        return buf;
    }
    return NULL;
}

/* Float32 view of elements [off, off+len) of t scaled by factor, converted into tmp when needed. */
static const float *f32_chunk(const Tensor *t, size_t off, size_t len, float factor, float *tmp) {
    const float *src = (const float *)t->data + off;
    switch (t->dtype) {
    case DTYPE_FLOAT16: K->f16_to_f32(tmp, (const uint16_t *)t->data + off, len); src = tmp; break;
    case DTYPE_BFLOAT16: K->bf16_to_f32(tmp, (const uint16_t *)t->data + off, len); src = tmp; break;
    default: break;
    }
    if (factor != 1.0f) {
        K->scale(tmp, src, factor, len);
        src = tmp;
    }
    return src;
}

static void store_f32_chunk(Tensor *t, size_t off, size_t len, const float *src) {
    switch (t->dtype) {
    case DTYPE_FLOAT16: K->f32_to_f16((uint16_t *)t->data + off, src, len); break;
    case DTYPE_BFLOAT16: K->f32_to_bf16((uint16_t *)t->data + off, src, len); break;
    default: memcpy((float *)t->data + off, src, len * sizeof(float)); break;
    }
}

/* Whether anything would receive a replicated command: the AOF, a connected replica, or the backlog a
 * reconnecting replica resumes from (the same test Redis applies before propagating). Building the
 * TENSOR.RESTORE arguments copies the whole tensor, so it is skipped when nobody would read them. */
static int propagation_needed(RedisModuleCtx *ctx) {
    if (RedisModule_GetContextFlags(ctx) & REDISMODULE_CTX_FLAGS_AOF) return 1;
    RedisModuleServerInfoData *info = RedisModule_GetServerInfo(ctx, "replication");
    if (!info) return 1;
    int err1 = 0, err2 = 0;
    unsigned long long replicas = RedisModule_ServerInfoGetFieldUnsigned(info, "connected_slaves", &err1);
    unsigned long long backlog = RedisModule_ServerInfoGetFieldUnsigned(info, "repl_backlog_active", &err2);
    RedisModule_FreeServerInfo(ctx, info);
    return err1 || err2 || replicas > 0 || backlog > 0;
}

/* Announces a changed tensor: a keyspace event (class 'd', named after the command, e.g. tensor.avg) that
 * waiting peers can subscribe to, and the new bytes for replicas and the AOF. */
static void publish_change(RedisModuleCtx *ctx, const char *event, RedisModuleString *key, const Tensor *t) {
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, event, key);
    if (!propagation_needed(ctx)) return;
    unsigned char header[TENSOR_HEADER_MAX];
    size_t len = tensor_header(t, header);
    RedisModule_Replicate(ctx, "TENSOR.RESTORE", "sbb", key, (const char *)header, len, (const char *)t->data,
                          t->nbytes);
}

/* Stores a freshly built tensor at key (freeing what was there) and publishes the change. */
static void store_new(RedisModuleCtx *ctx, const char *event, RedisModuleKey *key, RedisModuleString *name, Tensor *t) {
    RedisModule_ModuleTypeSetValue(key, TensorType, t);
    publish_change(ctx, event, name, t);
}

/* ---- TENSOR.SET key dtype SHAPE d1 .. dn BLOB bytes | TENSOR.SET key PROTO bytes ---- */
int TensorSet_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    if (argc < 4) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key;
    Tensor *old, *t = NULL;
    Lookup l = open_tensor(ctx, argv[1], REDISMODULE_WRITE, &key, &old);
    if (l == WRONG_TYPE) return reply_lookup_error(ctx, l, "");
    size_t blob_len;
    const char *blob, *err;
    if (arg_is(argv[2], "PROTO")) {
        if (argc != 4) return RedisModule_WrongArity(ctx);
        blob = RedisModule_StringPtrLen(argv[3], &blob_len);
        if ((err = tensor_from_proto((const unsigned char *)blob, blob_len, &t))) return RedisModule_ReplyWithError(ctx, err);
    } else {
        size_t len;
        const char *name = RedisModule_StringPtrLen(argv[2], &len);
        int dt = dtype_from_name(name, len);
        if (!dt) return RedisModule_ReplyWithError(ctx, "ERR unknown dtype (FLOAT32, FLOAT64, FLOAT16, BFLOAT16, INT8, INT32)");
        if (!arg_is(argv[3], "SHAPE")) return RedisModule_ReplyWithError(ctx, "ERR expected SHAPE after the dtype");
        uint64_t dims[TENSOR_MAX_DIMS];
        uint32_t ndim = 0;
        int i = 4;
        for (; i < argc && !arg_is(argv[i], "BLOB"); i++) {
            long long d;
            if (RedisModule_StringToLongLong(argv[i], &d) != REDISMODULE_OK || d < 0)
                return RedisModule_ReplyWithError(ctx, "ERR dimensions must be non-negative integers");
            if (ndim == TENSOR_MAX_DIMS) return RedisModule_ReplyWithError(ctx, "ERR too many dimensions (at most 8)");
            dims[ndim++] = (uint64_t)d;
        }
        if (i != argc - 2) return RedisModule_ReplyWithError(ctx, "ERR expected BLOB followed by the data as the last arguments");
        uint64_t numel;
        size_t nbytes;
        if ((err = tensor_check_shape((DType)dt, ndim, dims, &numel, &nbytes))) return RedisModule_ReplyWithError(ctx, err);
        blob = RedisModule_StringPtrLen(argv[argc - 1], &blob_len);
        if (blob_len != nbytes) return RedisModule_ReplyWithError(ctx, "ERR BLOB length does not match shape and dtype");
        t = tensor_alloc((DType)dt, ndim, dims);
        memcpy(t->data, blob, nbytes);
    }
    store_new(ctx, "tensor.set", key, argv[1], t);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---- TENSOR.GET key [META | BLOB | PROTO] [MEAN] ---- */
int TensorGet_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    if (argc < 2 || argc > 4) return RedisModule_WrongArity(ctx);
    enum { META, BLOB, PROTO } format = BLOB;
    int mean = 0;
    for (int i = 2; i < argc; i++) {
        if (arg_is(argv[i], "META")) format = META;
        else if (arg_is(argv[i], "BLOB")) format = BLOB;
        else if (arg_is(argv[i], "PROTO")) format = PROTO;
        else if (arg_is(argv[i], "MEAN")) mean = 1;
        else return RedisModule_ReplyWithError(ctx, "ERR unknown option (META, BLOB, PROTO, MEAN)");
    }
    RedisModuleKey *key;
    Tensor *t;
    Lookup l = open_tensor(ctx, argv[1], REDISMODULE_READ, &key, &t);
    if (l != FOUND) return l == MISSING ? RedisModule_ReplyWithNull(ctx) : reply_lookup_error(ctx, l, "");
    if (mean && !t->is_accumulator) return RedisModule_ReplyWithError(ctx, "ERR MEAN applies to accumulators only");
    if (mean && !(t->weight_sum != 0)) return RedisModule_ReplyWithError(ctx, "ERR accumulator is empty (weight sum 0)");
    if (format == META) {
        RedisModule_ReplyWithArray(ctx, t->is_accumulator ? 8 : 4);
        RedisModule_ReplyWithSimpleString(ctx, "dtype");
        RedisModule_ReplyWithSimpleString(ctx, dtype_name(t->dtype));
        RedisModule_ReplyWithSimpleString(ctx, "shape");
        RedisModule_ReplyWithArray(ctx, t->ndim);
        for (uint32_t i = 0; i < t->ndim; i++) RedisModule_ReplyWithLongLong(ctx, (long long)t->shape[i]);
        if (t->is_accumulator) {
            RedisModule_ReplyWithSimpleString(ctx, "count");
            RedisModule_ReplyWithLongLong(ctx, (long long)t->count);
            RedisModule_ReplyWithSimpleString(ctx, "weight_sum");
            RedisModule_ReplyWithDouble(ctx, t->weight_sum);
        }
        return REDISMODULE_OK;
    }
    const unsigned char *data = t->data;
    float *scaled = NULL;
    if (mean) {
        scaled = RedisModule_Alloc(t->nbytes ? t->nbytes : 1);
        K->scale(scaled, (const float *)t->data, (float)(1.0 / t->weight_sum), t->numel);
        data = (const unsigned char *)scaled;
    }
    if (format == BLOB) {
        RedisModule_ReplyWithStringBuffer(ctx, (const char *)data, t->nbytes);
    } else {
        size_t len;
        unsigned char *proto = tensor_to_proto(t, data, &len);
        RedisModule_ReplyWithStringBuffer(ctx, (const char *)proto, len);
        RedisModule_Free(proto);
    }
    if (scaled) RedisModule_Free(scaled);
    return REDISMODULE_OK;
}

/* ---- TENSOR.AVG dest src1 .. srcN ---- */
int TensorAvg_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    if (argc < 3) return RedisModule_WrongArity(ctx);
    size_t nsrc = (size_t)argc - 2;
    /* dest is opened first and reused when it is also a source: a second handle on the same key would
     * point at the value that storing the result frees */
    RedisModuleKey *dkey;
    Tensor *old;
    Lookup dl = open_tensor(ctx, argv[1], REDISMODULE_WRITE, &dkey, &old);
    if (dl == WRONG_TYPE) return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    Tensor **src = RedisModule_Alloc(nsrc * sizeof(Tensor *));
    const char *err = NULL;
    char msg[160];
    for (size_t j = 0; j < nsrc && !err; j++) {
        RedisModuleKey *k;
        Lookup l = same_key(argv[2 + j], argv[1]) ? (src[j] = old, dl)
                                                   : open_tensor(ctx, argv[2 + j], REDISMODULE_READ, &k, &src[j]);
        if (l == WRONG_TYPE) err = REDISMODULE_ERRORMSG_WRONGTYPE;
        else if (l == MISSING) snprintf(msg, sizeof msg, "ERR source %zu does not exist", j + 1), err = msg;
        else if (!(err = check_math_input(src[j], "source", msg, sizeof msg)) && j > 0) {
            if (math_dtype(src[j]) != math_dtype(src[0])) err = "ERR sources have different dtypes";
            else if (!tensor_same_shape(src[j], src[0])) err = "ERR sources have different shapes";
        }
    }
    if (err) {
        RedisModule_Free(src);
        return RedisModule_ReplyWithError(ctx, err);
    }
    /* a plain dest of the right dtype and shape is overwritten in place (no allocation, no page faults):
     * each output element depends only on the sources' elements at the same index, read before it is stored */
    const int in_place = dl == FOUND && !old->is_accumulator && old->dtype == math_dtype(src[0]) &&
                         tensor_same_shape(old, src[0]);
    Tensor *out = in_place ? old : tensor_alloc(math_dtype(src[0]), src[0]->ndim, src[0]->shape);
    int plain_f32 = out->dtype == DTYPE_FLOAT32;
    for (size_t j = 0; j < nsrc; j++) plain_f32 &= !src[j]->is_accumulator;
    if (plain_f32) {
        const float **ptrs = RedisModule_Alloc(nsrc * sizeof(float *));
        for (size_t j = 0; j < nsrc; j++) ptrs[j] = (const float *)src[j]->data;
        K->weighted_sum((float *)out->data, ptrs, NULL, nsrc, out->numel);
        RedisModule_Free(ptrs);
    } else {
        float acc[CHUNK], tmp[CHUNK];
        const float inv = 1.0f / (float)nsrc;
        for (size_t off = 0; off < out->numel; off += CHUNK) {
            size_t len = out->numel - off < CHUNK ? out->numel - off : CHUNK;
            memset(acc, 0, len * sizeof(float));
            for (size_t j = 0; j < nsrc; j++) K->axpy(acc, inv, f32_chunk(src[j], off, len, mean_factor(src[j]), tmp), len);
            store_f32_chunk(out, off, len, acc);
        }
    }
    RedisModule_Free(src);
    if (in_place) publish_change(ctx, "tensor.avg", argv[1], out);
    else store_new(ctx, "tensor.avg", dkey, argv[1], out);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---- TENSOR.ACCUM acc src [WEIGHT w] ---- */
int TensorAccum_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    if (argc != 3 && argc != 5) return RedisModule_WrongArity(ctx);
    float w = 1.0f;
    if (argc == 5 && (!arg_is(argv[3], "WEIGHT") || !arg_float32(argv[4], &w)))
        return RedisModule_ReplyWithError(ctx, "ERR expected WEIGHT followed by a finite number (as a float32)");
    if (same_key(argv[1], argv[2])) return RedisModule_ReplyWithError(ctx, "ERR accumulator and source must be different keys");
    RedisModuleKey *skey, *akey;
    Tensor *src, *acc;
    char msg[160];
    const char *err;
    Lookup l = open_tensor(ctx, argv[2], REDISMODULE_READ, &skey, &src);
    if (l != FOUND) return reply_lookup_error(ctx, l, "source");
    if ((err = check_math_input(src, "source", msg, sizeof msg))) return RedisModule_ReplyWithError(ctx, err);
    l = open_tensor(ctx, argv[1], REDISMODULE_WRITE, &akey, &acc);
    if (l == WRONG_TYPE) return reply_lookup_error(ctx, l, "");
    const int created = l == MISSING;
    if (!created && !acc->is_accumulator)
        return RedisModule_ReplyWithError(ctx, "ERR destination holds a plain tensor, not an accumulator");
    if (!created && !tensor_same_shape(acc, src))
        return RedisModule_ReplyWithError(ctx, "ERR source shape does not match the accumulator");
    /* the state after this contribution must be one a restart can load: checked before anything changes */
    Tensor next = {.dtype = DTYPE_FLOAT32, .ndim = src->ndim, .nbytes = src->numel * sizeof(float), .is_accumulator = 1};
    memcpy(next.shape, src->shape, sizeof next.shape);
    if (!created) next = *acc;
    next.count += 1;
    next.weight_sum += w;
    if ((err = tensor_validate(&next))) {
        snprintf(msg, sizeof msg, "ERR contribution refused: %s", err + 4);
        return RedisModule_ReplyWithError(ctx, msg);
    }
    if (created) {
        acc = tensor_new(DTYPE_FLOAT32, src->ndim, src->shape);
        acc->is_accumulator = 1;
    }
    const float factor = w * mean_factor(src);
    if (src->dtype == DTYPE_FLOAT32) {
        K->axpy((float *)acc->data, factor, (const float *)src->data, acc->numel);
    } else {
        float tmp[CHUNK];
        for (size_t off = 0; off < acc->numel; off += CHUNK) {
            size_t len = acc->numel - off < CHUNK ? acc->numel - off : CHUNK;
            K->axpy((float *)acc->data + off, factor, f32_chunk(src, off, len, 1.0f, tmp), len);
        }
    }
    acc->count = next.count;
    acc->weight_sum = next.weight_sum;
    if (created) RedisModule_ModuleTypeSetValue(akey, TensorType, acc);
    publish_change(ctx, "tensor.accum", argv[1], acc);
    return RedisModule_ReplyWithLongLong(ctx, (long long)acc->count);
}

/* Optimizer state (velocity, Adam moments): an existing plain FLOAT32 tensor shaped like param, or a new zero one. */
typedef struct {
    RedisModuleString *name;
    RedisModuleKey *key;
    Tensor *t;
    int created;
} StateKey;

static const char *open_state(RedisModuleCtx *ctx, RedisModuleString *name, const Tensor *param, const char *role,
                              StateKey *s, char *msg, size_t msgsize) {
    s->name = name;
    Lookup l = open_tensor(ctx, name, REDISMODULE_WRITE, &s->key, &s->t);
    if (l == WRONG_TYPE) return REDISMODULE_ERRORMSG_WRONGTYPE;
    s->created = l == MISSING;
    if (!s->created && (s->t->dtype != DTYPE_FLOAT32 || s->t->is_accumulator || !tensor_same_shape(s->t, param))) {
        snprintf(msg, msgsize, "ERR %s must be a FLOAT32 tensor shaped like the parameter", role);
        return msg;
    }
    return NULL;
}

static void commit_state(RedisModuleCtx *ctx, const char *event, StateKey *s) {
    if (s->created) RedisModule_ModuleTypeSetValue(s->key, TensorType, s->t);
    publish_change(ctx, event, s->name, s->t);
}

/* Opens param (plain FLOAT32) and grad (float dtype, same shape), replying with an error when either is unfit. */
static int open_param_grad(RedisModuleCtx *ctx, RedisModuleString **argv, RedisModuleKey **pkey, Tensor **param,
                           Tensor **grad) {
    RedisModuleKey *gkey;
    char msg[160];
    const char *err;
    if (same_key(argv[1], argv[2])) return RedisModule_ReplyWithError(ctx, "ERR parameter and gradient must be different keys"), 0;
    Lookup l = open_tensor(ctx, argv[1], REDISMODULE_WRITE, pkey, param);
    if (l != FOUND) return reply_lookup_error(ctx, l, "parameter"), 0;
    if ((*param)->dtype != DTYPE_FLOAT32 || (*param)->is_accumulator)
        return RedisModule_ReplyWithError(ctx, "ERR parameter must be a plain FLOAT32 tensor"), 0;
    l = open_tensor(ctx, argv[2], REDISMODULE_READ, &gkey, grad);
    if (l != FOUND) return reply_lookup_error(ctx, l, "gradient"), 0;
    if ((err = check_math_input(*grad, "gradient", msg, sizeof msg))) return RedisModule_ReplyWithError(ctx, err), 0;
    if (!tensor_same_shape(*param, *grad)) return RedisModule_ReplyWithError(ctx, "ERR gradient shape does not match the parameter"), 0;
    return 1;
}

/* Hands the gradient to fn as float32: in one piece when it is already plain FLOAT32, else widened or scaled
 * CHUNK elements at a time. */
typedef void (*GradChunkFn)(void *state, size_t off, size_t len, const float *g);

static void for_grad_chunks(const Tensor *grad, GradChunkFn fn, void *state) {
    const float factor = mean_factor(grad);
    if (grad->dtype == DTYPE_FLOAT32 && factor == 1.0f) {
        fn(state, 0, grad->numel, (const float *)grad->data);
        return;
    }
    float tmp[CHUNK];
    for (size_t off = 0; off < grad->numel; off += CHUNK) {
        size_t len = grad->numel - off < CHUNK ? grad->numel - off : CHUNK;
        fn(state, off, len, f32_chunk(grad, off, len, factor, tmp));
    }
}

/* getkeys-api: param and grad, then the key after each of the given option words. Only positions below argc
 * exist: a short call (COMMAND GETKEYS, or an ACL check before the arity error) must not name more. */
static void declare_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, const char *const *key_options) {
    for (int pos = 1; pos <= 2 && pos < argc; pos++) RedisModule_KeyAtPos(ctx, pos);
    for (int i = 3; i + 1 < argc; i++)
        for (const char *const *opt = key_options; *opt; opt++)
            if (arg_is(argv[i], *opt)) RedisModule_KeyAtPos(ctx, i + 1);
}

typedef struct {
    float *param, *velocity;
    spirt_sgd_params p;
} SgdState;

static void sgd_chunk(void *state, size_t off, size_t len, const float *g) {
    SgdState *s = state;
    K->sgd(s->param + off, g, s->velocity ? s->velocity + off : NULL, len, &s->p);
}

typedef struct {
    float *param, *m, *v;
    spirt_adam_params p;
} AdamState;

/* Factors the Adam kernel derives from its hyperparameters (native/kernels/simd_body.h): with any of them
 * infinite, every parameter would turn non-finite whatever the gradient, so such arguments are refused. */
static const char *adam_factors_error(const spirt_adam_params *p) {
    const float bc1 = (float)(1.0 / (1.0 - pow((double)p->beta1, (double)p->step)));
    if (!isfinite(p->lr * bc1)) return "ERR LR is too large: its bias-corrected step size overflows float32";
    if (p->decoupled && !isfinite(p->lr * p->weight_decay)) return "ERR LR * WEIGHTDECAY overflows float32";
    return NULL;
}

static void adam_chunk(void *state, size_t off, size_t len, const float *g) {
    AdamState *s = state;
    K->adam(s->param + off, g, s->m + off, s->v + off, len, &s->p);
}

/* ---- TENSOR.SGD param grad LR lr [MOMENTUM m VELOCITY vkey] [DAMPENING d] [NESTEROV] [WEIGHTDECAY wd] ---- */
int TensorSgd_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) {
        static const char *const key_options[] = {"VELOCITY", NULL};
        declare_keys(ctx, argv, argc, key_options);
        return REDISMODULE_OK;
    }
    RedisModule_AutoMemory(ctx);
    if (argc < 5) return RedisModule_WrongArity(ctx);
    int nesterov = 0;
    float lr = NAN, mom = 0, damp = 0, wd = 0;
    RedisModuleString *vel_name = NULL;
    for (int i = 3; i < argc; i++) {
        int has_value = i + 1 < argc;
        if (arg_is(argv[i], "NESTEROV")) nesterov = 1;
        else if (arg_is(argv[i], "LR") && has_value) {
            if (!arg_float32(argv[++i], &lr) || lr < 0) return RedisModule_ReplyWithError(ctx, "ERR LR must be a non-negative number (finite as a float32)");
        } else if (arg_is(argv[i], "MOMENTUM") && has_value) {
            if (!arg_float32(argv[++i], &mom) || mom < 0) return RedisModule_ReplyWithError(ctx, "ERR MOMENTUM must be a non-negative number (finite as a float32)");
        } else if (arg_is(argv[i], "DAMPENING") && has_value) {
            if (!arg_float32(argv[++i], &damp) || damp < 0 || damp > 1) return RedisModule_ReplyWithError(ctx, "ERR DAMPENING must be in [0, 1]");
        } else if (arg_is(argv[i], "WEIGHTDECAY") && has_value) {
            if (!arg_float32(argv[++i], &wd) || wd < 0) return RedisModule_ReplyWithError(ctx, "ERR WEIGHTDECAY must be a non-negative number (finite as a float32)");
        } else if (arg_is(argv[i], "VELOCITY") && has_value) {
            vel_name = argv[++i];
        } else {
            return RedisModule_ReplyWithError(ctx, "ERR syntax error (LR, MOMENTUM, VELOCITY, DAMPENING, NESTEROV, WEIGHTDECAY)");
        }
    }
    if (isnan(lr)) return RedisModule_ReplyWithError(ctx, "ERR LR is required");
    if (mom > 0 && !vel_name) return RedisModule_ReplyWithError(ctx, "ERR MOMENTUM needs a VELOCITY key");
    if (nesterov && !(mom > 0)) return RedisModule_ReplyWithError(ctx, "ERR NESTEROV needs a positive MOMENTUM");
    if (vel_name && (same_key(vel_name, argv[1]) || same_key(vel_name, argv[2])))
        return RedisModule_ReplyWithError(ctx, "ERR VELOCITY must be a key of its own");
    RedisModuleKey *pkey;
    Tensor *param, *grad;
    if (!open_param_grad(ctx, argv, &pkey, &param, &grad)) return REDISMODULE_OK;
    StateKey vel = {0};
    char msg[160];
    const char *err;
    if (vel_name && (err = open_state(ctx, vel_name, param, "VELOCITY", &vel, msg, sizeof msg)))
        return RedisModule_ReplyWithError(ctx, err);
    if (vel.created) vel.t = tensor_new(DTYPE_FLOAT32, param->ndim, param->shape);
    SgdState state = {(float *)param->data, vel.t ? (float *)vel.t->data : NULL,
                      {lr, mom, damp, wd, nesterov, 0}};
    for_grad_chunks(grad, sgd_chunk, &state);
    publish_change(ctx, "tensor.sgd", argv[1], param);
    if (vel.t) commit_state(ctx, "tensor.sgd", &vel);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---- TENSOR.ADAM param grad MKEY m VKEY v LR lr [BETA1 b1] [BETA2 b2] [EPS e] [WEIGHTDECAY wd] [DECOUPLED] STEP t ---- */
int TensorAdam_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) {
        static const char *const key_options[] = {"MKEY", "VKEY", NULL};
        declare_keys(ctx, argv, argc, key_options);
        return REDISMODULE_OK;
    }
    RedisModule_AutoMemory(ctx);
    if (argc < 11) return RedisModule_WrongArity(ctx);
    float lr = NAN, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0;
    long long step = 0;
    int decoupled = 0;
    RedisModuleString *m_name = NULL, *v_name = NULL;
    for (int i = 3; i < argc; i++) {
        int has_value = i + 1 < argc;
        if (arg_is(argv[i], "DECOUPLED")) decoupled = 1;
        else if (arg_is(argv[i], "MKEY") && has_value) m_name = argv[++i];
        else if (arg_is(argv[i], "VKEY") && has_value) v_name = argv[++i];
        else if (arg_is(argv[i], "LR") && has_value) {
            if (!arg_float32(argv[++i], &lr) || lr < 0) return RedisModule_ReplyWithError(ctx, "ERR LR must be a non-negative number (finite as a float32)");
        } else if (arg_is(argv[i], "BETA1") && has_value) {
            if (!arg_float32(argv[++i], &b1) || b1 < 0 || b1 >= 1) return RedisModule_ReplyWithError(ctx, "ERR BETA1 must be in [0, 1) as a float32");
        } else if (arg_is(argv[i], "BETA2") && has_value) {
            if (!arg_float32(argv[++i], &b2) || b2 < 0 || b2 >= 1) return RedisModule_ReplyWithError(ctx, "ERR BETA2 must be in [0, 1) as a float32");
        } else if (arg_is(argv[i], "EPS") && has_value) {
            if (!arg_float32(argv[++i], &eps) || eps <= 0) return RedisModule_ReplyWithError(ctx, "ERR EPS must be a positive number (non-zero as a float32)");
        } else if (arg_is(argv[i], "WEIGHTDECAY") && has_value) {
            if (!arg_float32(argv[++i], &wd) || wd < 0) return RedisModule_ReplyWithError(ctx, "ERR WEIGHTDECAY must be a non-negative number (finite as a float32)");
        } else if (arg_is(argv[i], "STEP") && has_value) {
            if (RedisModule_StringToLongLong(argv[++i], &step) != REDISMODULE_OK || step < 1)
                return RedisModule_ReplyWithError(ctx, "ERR STEP must be an integer >= 1");
        } else {
            return RedisModule_ReplyWithError(ctx, "ERR syntax error (MKEY, VKEY, LR, BETA1, BETA2, EPS, WEIGHTDECAY, DECOUPLED, STEP)");
        }
    }
    if (!m_name || !v_name) return RedisModule_ReplyWithError(ctx, "ERR MKEY and VKEY are required");
    if (isnan(lr)) return RedisModule_ReplyWithError(ctx, "ERR LR is required");
    if (step < 1) return RedisModule_ReplyWithError(ctx, "ERR STEP is required");
    const spirt_adam_params hp = {lr, b1, b2, eps, wd, decoupled, (uint64_t)step};
    const char *bad = adam_factors_error(&hp);
    if (bad) return RedisModule_ReplyWithError(ctx, bad);
    if (same_key(m_name, v_name) || same_key(m_name, argv[1]) || same_key(m_name, argv[2]) ||
        same_key(v_name, argv[1]) || same_key(v_name, argv[2]))
        return RedisModule_ReplyWithError(ctx, "ERR MKEY and VKEY must be keys of their own");
    RedisModuleKey *pkey;
    Tensor *param, *grad;
    if (!open_param_grad(ctx, argv, &pkey, &param, &grad)) return REDISMODULE_OK;
    StateKey m = {0}, v = {0};
    char msg[160];
    const char *err;
    if ((err = open_state(ctx, m_name, param, "MKEY", &m, msg, sizeof msg)) ||
        (err = open_state(ctx, v_name, param, "VKEY", &v, msg, sizeof msg)))
        return RedisModule_ReplyWithError(ctx, err);
    if (m.created) m.t = tensor_new(DTYPE_FLOAT32, param->ndim, param->shape);
    if (v.created) v.t = tensor_new(DTYPE_FLOAT32, param->ndim, param->shape);
    AdamState state = {(float *)param->data, (float *)m.t->data, (float *)v.t->data, hp};
    for_grad_chunks(grad, adam_chunk, &state);
    publish_change(ctx, "tensor.adam", argv[1], param);
    commit_state(ctx, "tensor.adam", &m);
    commit_state(ctx, "tensor.adam", &v);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---- TENSOR.RESTORE key header data: a whole value, as replication and AOF rewrite send it ---- */
int TensorRestore_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    if (argc != 4) return RedisModule_WrongArity(ctx);
    RedisModuleKey *key;
    Tensor *old, *t;
    if (open_tensor(ctx, argv[1], REDISMODULE_WRITE, &key, &old) == WRONG_TYPE)
        return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    size_t hlen, dlen;
    const char *header = RedisModule_StringPtrLen(argv[2], &hlen), *data = RedisModule_StringPtrLen(argv[3], &dlen);
    const char *err = tensor_from_header((const unsigned char *)header, hlen, (const unsigned char *)data, dlen, &t);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    store_new(ctx, "tensor.restore", key, argv[1], t);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}
