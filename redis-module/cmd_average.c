/* Averaging and accumulation: TENSOR.AVG (the element-wise mean of tensors) and TENSOR.ACCUM (a weighted
 * running sum with its count and weight sum, whose mean other commands read). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "command.h"

/* The float32 nearest d toward zero, with its last bit set when that is inexact (round to odd). Rounded once
 * more to float16 or bfloat16 (at least 2 bits shorter) it gives the correctly rounded value of d, where two
 * roundings to nearest could meet a tie that d was not on. NaN becomes the canonical quiet NaN. */
static float round_to_odd_f32(double d) {
    if (isnan(d)) return NAN;
    float f = (float)d;
    if ((double)f == d) return f;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if (fabs((double)f) > fabs(d)) bits -= 1; /* rounded away from zero (to inf, too): one step back */
    bits |= 1;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The mean of FLOAT16/BFLOAT16 sources, each element correctly rounded: summed in double (exact for float16 up
 * to 8191 sources, and for bfloat16 values within about 2^40 of each other), divided by n, rounded once into
 * the dtype. Plain C on top of exact widenings and RNE narrowings: the same bits on every path and CPU. */
static void half_mean(const spirt_kernels *k, Tensor *out, Tensor *const *src, size_t nsrc) {
    float wide[CHUNK];
    double sum[CHUNK];
    for (size_t off = 0; off < out->numel; off += CHUNK) {
        const size_t len = out->numel - off < CHUNK ? out->numel - off : CHUNK;
        memset(sum, 0, len * sizeof(double));
        for (size_t j = 0; j < nsrc; j++) {
            const float *x = f32_chunk(k, src[j], off, len, 1.0f, wide);
            for (size_t i = 0; i < len; i++) sum[i] += x[i];
        }
        for (size_t i = 0; i < len; i++) wide[i] = round_to_odd_f32(sum[i] / (double)nsrc);
        store_f32_chunk(k, out, off, len, wide);
    }
}

/* out = the element-wise mean of the sources (an accumulator counts as its mean), in out's dtype: float32 by
 * the weighted_sum kernel, or the axpy kernel when accumulators are among the sources; halves by half_mean.
 * out may be one of the sources: each element is read from every source before it is stored. */
void tensor_mean(const spirt_kernels *k, Tensor *out, Tensor *const *src, size_t nsrc) {
    int plain_f32 = out->dtype == DTYPE_FLOAT32;
    for (size_t j = 0; j < nsrc; j++) plain_f32 &= !src[j]->is_accumulator;
    if (out->dtype != DTYPE_FLOAT32) {
        half_mean(k, out, src, nsrc);
    } else if (plain_f32) {
        const float **ptrs = RedisModule_Alloc(nsrc * sizeof(float *));
        for (size_t j = 0; j < nsrc; j++) ptrs[j] = (const float *)src[j]->data;
        k->weighted_sum((float *)out->data, ptrs, NULL, nsrc, out->numel);
        RedisModule_Free(ptrs);
    } else { /* float32 sources, accumulators among them: their means */
        float acc[CHUNK], tmp[CHUNK];
        const float inv = 1.0f / (float)nsrc;
        for (size_t off = 0; off < out->numel; off += CHUNK) {
            size_t len = out->numel - off < CHUNK ? out->numel - off : CHUNK;
            memset(acc, 0, len * sizeof(float));
            for (size_t j = 0; j < nsrc; j++) k->axpy(acc, inv, f32_chunk(k, src[j], off, len, mean_factor(src[j]), tmp), len);
            store_f32_chunk(k, out, off, len, acc);
        }
    }
}

/* ---- TENSOR.AVG dest [VERSION v] src1 .. srcN ---- */
typedef struct {
    long long version;
} AvgOptions;

static const OptionSpec avg_options[] = {VERSION_OPTION(AvgOptions, version), {0}};

/* The index of the first source. VERSION is the option only with a version and at least one source after it,
 * so the older form keeps its meaning unless its first source is named VERSION and more follow (then write
 * VERSION 0 before the sources). Key specs cannot say this: COMMAND GETKEYS and ACL ask tensor_avg. */
static int avg_first_source(RedisModuleString **argv, int argc) { return argc >= 5 && arg_is(argv[2], "VERSION") ? 4 : 2; }

static int tensor_avg(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    const spirt_kernels *k = env->k;
    const int first = avg_first_source(argv, argc);
    if (RedisModule_IsKeysPositionRequest(ctx)) {
        RedisModule_KeyAtPosWithFlags(ctx, 1, KEY_REPLACE);
        for (int i = first; i < argc; i++) RedisModule_KeyAtPosWithFlags(ctx, i, KEY_RO);
        return REDISMODULE_OK;
    }
    RedisModule_AutoMemory(ctx);
    AvgOptions opt = {VERSION_UNSET};
    char msg[256];
    const char *err = parse_options(argv, 2, first, avg_options, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    RedisModuleString *dest = argv[1], **sources = argv + first;
    const size_t nsrc = (size_t)(argc - first);
    /* dest is opened first and reused when it is also a source: a second handle on the same key would
     * point at the value that storing the result frees */
    RedisModuleKey *dkey;
    Tensor *old;
    Lookup dl = open_tensor(ctx, dest, REDISMODULE_WRITE, &dkey, &old);
    if (dl == WRONG_TYPE) return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    Tensor **src = RedisModule_Alloc(nsrc * sizeof(Tensor *));
    for (size_t j = 0; j < nsrc && !err; j++) {
        RedisModuleKey *key;
        Lookup l = same_key(sources[j], dest) ? (src[j] = old, dl)
                                              : open_tensor(ctx, sources[j], REDISMODULE_READ, &key, &src[j]);
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
    tensor_mean(k, out, src, nsrc);
    RedisModule_Free(src);
    out->version = 0; /* a new value, even when written in place */
    apply_version(out, opt.version);
    if (in_place) publish_change(ctx, "tensor.avg", dest, out);
    else store_new(ctx, "tensor.avg", dkey, dest, out);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* the sources start at 2, or at 4 after VERSION v: incomplete as a spec, so Redis asks the getkeys-api */
static const RedisModuleCommandKeySpec avg_keys[] = {
    KEY_AT(1, KEY_REPLACE), KEYS_FROM(2, KEY_RO | REDISMODULE_CMD_KEY_INCOMPLETE), {0},
};
static const RedisModuleCommandArg avg_args[] = {KEY_ARG("dest", 0, 0), KEY_ARG("src", 1, REDISMODULE_CMD_ARG_MULTIPLE), {0}};
const CommandDef tensor_avg_def = {
    .name = "tensor.avg", .run = tensor_avg, .flags = "write deny-oom getkeys-api", .arity = -3,
    .summary = "Stores the element-wise mean of the sources (an accumulator counts as its mean) at dest",
    .complexity = "O(N*M): N elements, M sources", .key_specs = avg_keys, .positional = avg_args, .options_at = 1,
    .options = avg_options,
};

/* ---- TENSOR.ACCUM acc src [WEIGHT w] [VERSION v] ---- */
typedef struct {
    float weight;
    long long version;
} AccumOptions;

static const OptionSpec accum_options[] = {
    {.name = "WEIGHT", .kind = OPT_FLOAT, .offset = offsetof(AccumOptions, weight), .lo = -FLT_MAX, .hi = FLT_MAX,
     .error = "ERR expected WEIGHT followed by a finite number (as a float32)"},
    VERSION_OPTION(AccumOptions, version),
    {0},
};

static int tensor_accum(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    const spirt_kernels *k = env->k;
    RedisModule_AutoMemory(ctx);
    AccumOptions opt = {1.0f, VERSION_UNSET};
    char msg[256];
    const char *err = parse_options(argv, 3, argc, accum_options, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    if (same_key(argv[1], argv[2])) return RedisModule_ReplyWithError(ctx, "ERR accumulator and source must be different keys");
    RedisModuleKey *skey, *akey;
    Tensor *src, *acc;
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
    next.weight_sum += opt.weight;
    if ((err = tensor_validate(&next))) {
        snprintf(msg, sizeof msg, "ERR contribution refused: %s", err + 4);
        return RedisModule_ReplyWithError(ctx, msg);
    }
    if (created) {
        acc = tensor_new(DTYPE_FLOAT32, src->ndim, src->shape);
        acc->is_accumulator = 1;
    }
    const float factor = opt.weight * mean_factor(src);
    if (src->dtype == DTYPE_FLOAT32) {
        k->axpy((float *)acc->data, factor, (const float *)src->data, acc->numel);
    } else {
        float tmp[CHUNK];
        for (size_t off = 0; off < acc->numel; off += CHUNK) {
            size_t len = acc->numel - off < CHUNK ? acc->numel - off : CHUNK;
            k->axpy((float *)acc->data + off, factor, f32_chunk(k, src, off, len, 1.0f, tmp), len);
        }
    }
    acc->count = next.count;
    acc->weight_sum = next.weight_sum;
    apply_version(acc, opt.version);
    if (created) RedisModule_ModuleTypeSetValue(akey, TensorType, acc);
    publish_change(ctx, "tensor.accum", argv[1], acc);
    return RedisModule_ReplyWithLongLong(ctx, (long long)acc->count);
}

static const RedisModuleCommandKeySpec accum_keys[] = {KEY_AT(1, KEY_UPDATE), KEY_AT(2, KEY_RO), {0}};
static const RedisModuleCommandArg accum_args[] = {KEY_ARG("acc", 0, 0), KEY_ARG("src", 1, 0), {0}};
const CommandDef tensor_accum_def = {
    .name = "tensor.accum", .run = tensor_accum, .flags = "write deny-oom", .arity = -3,
    .summary = "acc += WEIGHT * src into a float32 accumulator (created when missing); replies its count",
    .complexity = "O(N)", .key_specs = accum_keys, .positional = accum_args, .options_at = 2, .options = accum_options,
};
