/* The sharded exchange (reduce-scatter / all-gather): TENSOR.SPLIT cuts a tensor into N contiguous 1-D
 * shards, TENSOR.CAT joins shards back. Both take the key count before their keys, so options that follow
 * cannot be mistaken for keys, and both validate every key before they write any. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

typedef struct {
    long long version;
} ShardOptions;

static const OptionSpec shard_options[] = {VERSION_OPTION(ShardOptions, version), {0}};

/* N at argv[2] (1 to the number of arguments after it), then N keys, then the options. NULL or an error. */
static const char *parse_counted(RedisModuleString **argv, int argc, long long *n, ShardOptions *opt, char *msg,
                                 size_t msgsize) {
    if (RedisModule_StringToLongLong(argv[2], n) != REDISMODULE_OK || *n < 1 || *n > argc - 3)
        return "ERR N must be an integer from 1 to the number of keys that follow it";
    opt->version = VERSION_UNSET;
    return parse_options(argv, 3 + (int)*n, argc, shard_options, opt, msg, msgsize);
}

/* COMMAND DOCS: a key, the count, the counted keys */
#define COUNTED_ARGS(first_key, count, keys)                                                                    \
    {                                                                                                           \
        KEY_ARG(first_key, 0, 0), {.name = (count), .type = REDISMODULE_ARG_TYPE_INTEGER},                        \
            KEY_ARG(keys, 1, REDISMODULE_CMD_ARG_MULTIPLE), {0},                                                 \
    }

static int compare_names(const void *a, const void *b) {
    size_t la, lb;
    const char *sa = RedisModule_StringPtrLen(*(RedisModuleString *const *)a, &la);
    const char *sb = RedisModule_StringPtrLen(*(RedisModuleString *const *)b, &lb);
    int c = memcmp(sa, sb, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* Whether no two of the n names are the same key (sorted copy: N may be large) */
static int distinct(RedisModuleString **names, long long n) {
    RedisModuleString **sorted = RedisModule_Alloc((size_t)n * sizeof *sorted);
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_names);
    int ok = 1;
    for (long long i = 1; i < n && ok; i++) ok = compare_names(&sorted[i - 1], &sorted[i]) != 0;
    RedisModule_Free(sorted);
    return ok;
}

/* Elements [from, from + len) of t into out's data, an accumulator as its float32 mean. */
static void copy_elements(const spirt_kernels *k, const Tensor *t, uint64_t from, uint64_t len, unsigned char *out) {
    if (t->is_accumulator) k->scale((float *)out, (const float *)t->data + from, mean_factor(t), (size_t)len);
    else memcpy(out, t->data + from * dtype_size(t->dtype), (size_t)(len * dtype_size(t->dtype)));
}

/* ---- TENSOR.SPLIT src N dest1 .. destN [VERSION v]: shard q holds elements [n*q/N, n*(q+1)/N) ---- */
static int tensor_split(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    long long n;
    ShardOptions opt;
    char msg[256];
    const char *err = parse_counted(argv, argc, &n, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    RedisModuleString **dests = argv + 3;
    if (!distinct(dests, n)) return RedisModule_ReplyWithError(ctx, "ERR destination keys must be distinct");
    RedisModuleKey *skey;
    Tensor *src;
    Lookup l = open_tensor(ctx, argv[1], REDISMODULE_READ, &skey, &src);
    if (l != FOUND) return reply_lookup_error(ctx, l, "source");
    if (src->is_accumulator && !(src->weight_sum != 0))
        return RedisModule_ReplyWithError(ctx, "ERR source is an empty accumulator (weight sum 0)");
    RedisModuleKey **dkeys = RedisModule_Alloc((size_t)n * sizeof *dkeys);
    for (long long q = 0; q < n; q++) {
        Tensor *old;
        if (open_tensor(ctx, dests[q], REDISMODULE_WRITE, &dkeys[q], &old) == WRONG_TYPE) {
            RedisModule_Free(dkeys);
            return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
        }
    }
    /* every shard is built before any is stored: a destination may be the source itself */
    Tensor **shards = RedisModule_Alloc((size_t)n * sizeof *shards);
    const uint64_t total = src->numel;
    for (long long q = 0; q < n; q++) {
        const uint64_t from = total * (uint64_t)q / (uint64_t)n, len = total * (uint64_t)(q + 1) / (uint64_t)n - from;
        shards[q] = tensor_alloc(math_dtype(src), 1, &len);
        copy_elements(env->k, src, from, len, shards[q]->data);
        apply_version(shards[q], opt.version);
    }
    for (long long q = 0; q < n; q++) store_new(ctx, "tensor.split", dkeys[q], dests[q], shards[q]);
    RedisModule_Free(shards);
    RedisModule_Free(dkeys);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static const RedisModuleCommandKeySpec split_keys[] = {KEY_AT(1, KEY_RO), KEYS_COUNTED(2, KEY_REPLACE), {0}};
static const RedisModuleCommandArg split_args[] = COUNTED_ARGS("src", "numdests", "dest");
const CommandDef tensor_split_def = {
    .name = "tensor.split", .run = tensor_split, .flags = "write deny-oom", .arity = -4,
    .summary = "Splits a tensor, read as flat, into N contiguous 1-D shards (an accumulator: its float32 mean)",
    .complexity = "O(n) in the source's elements", .key_specs = split_keys, .positional = split_args, .options_at = 3,
    .options = shard_options,
};

/* ---- TENSOR.CAT dest N src1 .. srcN [VERSION v]: the sources, read as flat, one after another ---- */
static int tensor_cat(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    long long n;
    ShardOptions opt;
    char msg[256];
    const char *err = parse_counted(argv, argc, &n, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    RedisModuleString **names = argv + 3;
    RedisModuleKey *dkey;
    Tensor *old;
    /* dest is opened first and reused when it is also a source (see TENSOR.AVG) */
    Lookup dl = open_tensor(ctx, argv[1], REDISMODULE_WRITE, &dkey, &old);
    if (dl == WRONG_TYPE) return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    Tensor **src = RedisModule_Alloc((size_t)n * sizeof *src);
    uint64_t total = 0;
    for (long long j = 0; j < n && !err; j++) {
        RedisModuleKey *key;
        Lookup l = same_key(names[j], argv[1]) ? (src[j] = old, dl) : open_tensor(ctx, names[j], REDISMODULE_READ, &key, &src[j]);
        if (l == WRONG_TYPE) err = REDISMODULE_ERRORMSG_WRONGTYPE;
        else if (l == MISSING) snprintf(msg, sizeof msg, "ERR source %lld does not exist", j + 1), err = msg;
        else if (src[j]->is_accumulator && !(src[j]->weight_sum != 0)) err = "ERR a source is an empty accumulator (weight sum 0)";
        else if (math_dtype(src[j]) != math_dtype(src[0])) err = "ERR sources have different dtypes";
        else total += src[j]->numel;
    }
    uint64_t numel;
    size_t nbytes;
    if (!err) err = tensor_check_shape(math_dtype(src[0]), 1, &total, &numel, &nbytes);
    if (err) {
        RedisModule_Free(src);
        return RedisModule_ReplyWithError(ctx, err);
    }
    Tensor *out = tensor_alloc(math_dtype(src[0]), 1, &total);
    const size_t size = dtype_size(out->dtype);
    for (long long j = 0, at = 0; j < n; at += (long long)src[j]->numel, j++)
        copy_elements(env->k, src[j], 0, src[j]->numel, out->data + (size_t)at * size);
    RedisModule_Free(src);
    apply_version(out, opt.version);
    store_new(ctx, "tensor.cat", dkey, argv[1], out);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static const RedisModuleCommandKeySpec cat_keys[] = {KEY_AT(1, KEY_REPLACE), KEYS_COUNTED(2, KEY_RO), {0}};
static const RedisModuleCommandArg cat_args[] = COUNTED_ARGS("dest", "numsrcs", "src");
const CommandDef tensor_cat_def = {
    .name = "tensor.cat", .run = tensor_cat, .flags = "write deny-oom", .arity = -4,
    .summary = "Concatenates flat sources of one dtype into a 1-D dest (an accumulator: its float32 mean)",
    .complexity = "O(n) in the elements written", .key_specs = cat_keys, .positional = cat_args, .options_at = 3,
    .options = shard_options,
};
