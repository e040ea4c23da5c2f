/* Tensor data commands: TENSOR.SET, TENSOR.GET and TENSOR.RESTORE (a whole value, as replication, AOF
 * rewrite and the tensor header carry it). */
#include <stdio.h>
#include <string.h>

#include "command.h"

/* ---- TENSOR.SET key dtype SHAPE d1 .. dn BLOB bytes [VERSION v] | TENSOR.SET key PROTO bytes [VERSION v] ---- */
typedef struct {
    long long version;
} SetOptions;

static const OptionSpec set_options[] = {VERSION_OPTION(SetOptions, version), {0}};

static int tensor_set(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)env;
    RedisModule_AutoMemory(ctx);
    RedisModuleKey *key;
    Tensor *old, *t = NULL;
    Lookup l = open_tensor(ctx, argv[1], REDISMODULE_WRITE, &key, &old);
    if (l == WRONG_TYPE) return reply_lookup_error(ctx, l, "");
    SetOptions opt = {VERSION_UNSET};
    char msg[256];
    size_t blob_len;
    const char *blob, *err;
    if (arg_is(argv[2], "PROTO")) {
        if ((err = parse_options(argv, 4, argc, set_options, &opt, msg, sizeof msg))) return RedisModule_ReplyWithError(ctx, err);
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
        if (i + 1 >= argc) return RedisModule_ReplyWithError(ctx, "ERR expected BLOB followed by the data after the shape");
        if ((err = parse_options(argv, i + 2, argc, set_options, &opt, msg, sizeof msg))) return RedisModule_ReplyWithError(ctx, err);
        uint64_t numel;
        size_t nbytes;
        if ((err = tensor_check_shape((DType)dt, ndim, dims, &numel, &nbytes))) return RedisModule_ReplyWithError(ctx, err);
        blob = RedisModule_StringPtrLen(argv[i + 1], &blob_len);
        if (blob_len != nbytes) return RedisModule_ReplyWithError(ctx, "ERR BLOB length does not match shape and dtype");
        t = tensor_alloc((DType)dt, ndim, dims);
        memcpy(t->data, blob, nbytes);
    }
    apply_version(t, opt.version);
    store_new(ctx, "tensor.set", key, argv[1], t);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static RedisModuleCommandArg set_raw[] = {
    {.name = "dtype", .type = REDISMODULE_ARG_TYPE_STRING},
    {.name = "dim", .type = REDISMODULE_ARG_TYPE_INTEGER, .token = "SHAPE", .flags = REDISMODULE_CMD_ARG_MULTIPLE},
    {.name = "data", .type = REDISMODULE_ARG_TYPE_STRING, .token = "BLOB"},
    {0},
};
static RedisModuleCommandArg set_forms[] = {
    {.name = "raw", .type = REDISMODULE_ARG_TYPE_BLOCK, .subargs = set_raw},
    {.name = "payload", .type = REDISMODULE_ARG_TYPE_STRING, .token = "PROTO", .summary = "a protobuf spirt.Tensor"},
    {0},
};
static const RedisModuleCommandKeySpec set_keys[] = {KEY_AT(1, KEY_REPLACE), {0}};
static const RedisModuleCommandArg set_args[] = {
    KEY_ARG("key", 0, 0),
    {.name = "value", .type = REDISMODULE_ARG_TYPE_ONEOF, .subargs = set_forms},
    {0},
};
const CommandDef tensor_set_def = {
    .name = "tensor.set", .run = tensor_set, .flags = "write deny-oom", .arity = -4,
    .summary = "Stores a tensor given as dtype, shape and raw bytes, or as a protobuf spirt.Tensor",
    .complexity = "O(N) in the tensor's bytes", .key_specs = set_keys, .positional = set_args, .options_at = 2,
    .options = set_options,
};

/* ---- TENSOR.GET key [META | BLOB | PROTO] [MEAN] ---- */
typedef enum { FORMAT_BLOB, FORMAT_META, FORMAT_PROTO } GetFormat;

typedef struct {
    int format;
    int mean;
} GetOptions;

static const OptionSpec get_options[] = {
    {.name = "META", .kind = OPT_FLAG, .offset = offsetof(GetOptions, format), .flag = FORMAT_META},
    {.name = "BLOB", .kind = OPT_FLAG, .offset = offsetof(GetOptions, format), .flag = FORMAT_BLOB},
    {.name = "PROTO", .kind = OPT_FLAG, .offset = offsetof(GetOptions, format), .flag = FORMAT_PROTO},
    {.name = "MEAN", .kind = OPT_FLAG, .offset = offsetof(GetOptions, mean), .flag = 1},
    {0},
};

/* dtype, shape, accumulator state (accumulators only), version: name/value pairs */
static void reply_meta(RedisModuleCtx *ctx, const Tensor *t) {
    RedisModule_ReplyWithArray(ctx, t->is_accumulator ? 10 : 6);
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
    RedisModule_ReplyWithSimpleString(ctx, "version");
    RedisModule_ReplyWithLongLong(ctx, (long long)t->version);
}

static int tensor_get(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    GetOptions opt = {FORMAT_BLOB, 0};
    char msg[256];
    const char *err = parse_options(argv, 2, argc, get_options, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    RedisModuleKey *key;
    Tensor *t;
    Lookup l = open_tensor(ctx, argv[1], REDISMODULE_READ, &key, &t);
    if (l != FOUND) return l == MISSING ? RedisModule_ReplyWithNull(ctx) : reply_lookup_error(ctx, l, "");
    if (opt.mean && !t->is_accumulator) return RedisModule_ReplyWithError(ctx, "ERR MEAN applies to accumulators only");
    if (opt.mean && !(t->weight_sum != 0)) return RedisModule_ReplyWithError(ctx, "ERR accumulator is empty (weight sum 0)");
    if (opt.format == FORMAT_META) {
        reply_meta(ctx, t);
        return REDISMODULE_OK;
    }
    const unsigned char *data = t->data;
    float *scaled = NULL;
    if (opt.mean) {
        scaled = RedisModule_Alloc(t->nbytes ? t->nbytes : 1);
        env->k->scale(scaled, (const float *)t->data, mean_factor(t), t->numel);
        data = (const unsigned char *)scaled;
    }
    if (opt.format == FORMAT_BLOB) {
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

static const RedisModuleCommandKeySpec get_keys[] = {KEY_AT(1, KEY_RO), {0}};
static const RedisModuleCommandArg get_args[] = {KEY_ARG("key", 0, 0), {0}};
const CommandDef tensor_get_def = {
    .name = "tensor.get", .run = tensor_get, .flags = "readonly", .arity = -2,
    .summary = "Returns a tensor's raw bytes (default), its metadata or a protobuf; MEAN: an accumulator's mean",
    .complexity = "O(N) in the tensor's bytes", .key_specs = get_keys, .positional = get_args, .options_at = 1,
    .options = get_options,
};

/* ---- TENSOR.RESTORE key header data: a whole value, as replication and AOF rewrite send it ---- */
static int tensor_restore(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)env;
    (void)argc;
    RedisModule_AutoMemory(ctx);
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

static const RedisModuleCommandKeySpec restore_keys[] = {KEY_AT(1, KEY_REPLACE), {0}};
static const RedisModuleCommandArg restore_args[] = {
    KEY_ARG("key", 0, 0),
    {.name = "header", .type = REDISMODULE_ARG_TYPE_STRING},
    {.name = "data", .type = REDISMODULE_ARG_TYPE_STRING},
    {0},
};
const CommandDef tensor_restore_def = {
    .name = "tensor.restore", .run = tensor_restore, .flags = "write deny-oom", .arity = 4,
    .summary = "Stores a whole tensor value (header and data), as replication and AOF rewrite carry it",
    .complexity = "O(N) in the tensor's bytes", .key_specs = restore_keys, .positional = restore_args, .options_at = 3,
};
