/* What every TENSOR.* command file shares: the command definition (key specs, docs, options), the kernel
 * context, one table-driven keyword option parser, tensor lookup, float32 views, and publishing a change.
 *
 * Commands by concern: cmd_data.c (SET, GET, RESTORE), cmd_average.c (AVG, ACCUM), cmd_aggregate.c (AGG: robust
 * aggregation), cmd_optim.c (SGD, ADAM), cmd_shard.c (SPLIT, CAT: the sharded exchange), cmd_sync.c (WAIT: the
 * barrier on versions), cmd_verify.c (SETSIGNED, VERIFYSTATS: signed gradient messages).
 * Every command validates all of its input before it changes anything, so an error leaves every key as it
 * was; results are replicated as TENSOR.RESTORE so replicas and the AOF hold the same bytes whatever SIMD
 * path computed them, and every change raises a keyspace event. */
#ifndef SPIRT_COMMAND_H
#define SPIRT_COMMAND_H

#include <stddef.h>

#include "rm_api.h"
#include "spirt_kernels.h"
#include "tensor.h"

#define CHUNK 4096 /* floats converted per step when a dtype needs widening to float32 */

/* What a command works with besides its arguments: the kernel table chosen at load (SPIRT_SIMD or the CPU). */
typedef struct CommandEnv {
    const spirt_kernels *k;
} CommandEnv;

typedef int (*CommandFn)(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* ---- keyword options: a table per command, one parser ---- */

typedef enum {
    OPT_FLAG,    /* no value: stores `flag` into an int */
    OPT_FLOAT,   /* a number used as float32: finite, not underflowed to 0, within [lo, hi] */
    OPT_INTEGER, /* an integer within [min, max], into a long long */
    OPT_KEY,     /* a key name, into a RedisModuleString *; located by COMMAND GETKEYS through a keyword key spec */
} OptionKind;

#define OPT_LO_OPEN 1u /* lo itself is refused */
#define OPT_HI_OPEN 2u /* hi itself is refused */

typedef struct OptionSpec {
    const char *name; /* the keyword, matched case-insensitively */
    OptionKind kind;
    size_t offset; /* where the value goes in the command's options struct */
    int required;
    double lo, hi; /* OPT_FLOAT */
    unsigned open;
    long long min, max; /* OPT_INTEGER */
    int flag;           /* OPT_FLAG: the value stored (several flags may share one field) */
    int key_spec;       /* OPT_KEY: index of the key spec that finds it */
    const char *error;  /* the reply when the value is refused */
} OptionSpec;

/* Parses argv[from, to) against specs (terminated by a NULL name) into dest. Each option at most once; the
 * value of a key option must be the first argument after `from` spelled like its keyword, as Redis's keyword
 * key specs find it, so ACL checks and the command always see the same keys. NULL or an error reply (in msg
 * when it is built). */
const char *parse_options(RedisModuleString **argv, int from, int to, const OptionSpec *specs, void *dest, char *msg,
                          size_t msgsize);

/* VERSION v: the version a writing command gives what it writes. Not given (VERSION_UNSET), a command that
 * replaces a value writes 0 and one that updates a value in place keeps its version. */
#define VERSION_UNSET (-1)
#define VERSION_OPTION(options_type, field)                                                                    \
    {.name = "VERSION", .kind = OPT_INTEGER, .offset = offsetof(options_type, field), .min = 0, .max = INT64_MAX, \
     .error = "ERR VERSION must be an integer from 0 to 9223372036854775807"}
/* t's version after a write: v when given, else what it was (0 for a new value) */
void apply_version(Tensor *t, long long v);

/* ---- command definitions (module.c registers them, with their key specs and docs) ---- */

typedef struct CommandDef {
    const char *name;  /* lower case, e.g. "tensor.sgd" */
    CommandFn run;
    const char *flags; /* RedisModule_CreateCommand flags */
    int arity;         /* -N: at least N arguments, the name included (Redis checks it before ACL and getkeys) */
    const char *summary;
    const char *complexity;
    const RedisModuleCommandKeySpec *key_specs; /* every key the command touches; zero-terminated */
    const RedisModuleCommandArg *positional;    /* the arguments that are not keyword options; name NULL ends */
    int options_at;                             /* how many positional arguments precede the options */
    const OptionSpec *options;                  /* or NULL */
} CommandDef;

/* Key specs: one key at a fixed position; keys from a position to the end (step 1); the key after a keyword
 * searched from `from` (the first option), as the option parser requires. */
#define KEY_AT(position, key_flags)                                                                        \
    {                                                                                                      \
        .flags = (key_flags), .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = (position), \
        .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0},                               \
    }
#define KEYS_FROM(position, key_flags)                                                                     \
    {                                                                                                      \
        .flags = (key_flags), .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = (position), \
        .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {-1, 1, 0},                              \
    }
#define KEYS_COUNTED(position, key_flags) /* argv[position] = N, then N keys */                          \
    {                                                                                                      \
        .flags = (key_flags), .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = (position), \
        .find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM, .fk.keynum = {0, 1, 1},                             \
    }
#define KEY_AFTER(word, from, key_flags)                                                                     \
    {                                                                                                        \
        .flags = (key_flags), .begin_search_type = REDISMODULE_KSPEC_BS_KEYWORD, .bs.keyword = {(word), (from)}, \
        .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0},                                 \
    }
/* COMMAND DOCS: a key argument found by key spec `spec` */
#define KEY_ARG(arg_name, spec, arg_flags) \
    {.name = (arg_name), .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = (spec), .flags = (arg_flags)}
#define KEY_RO (REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS)     /* read: its data is used */
#define KEY_UPDATE (REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE) /* read and changed in place */
#define KEY_REPLACE (REDISMODULE_CMD_KEY_OW | REDISMODULE_CMD_KEY_UPDATE) /* overwritten whole */

/* Every command: X(symbol) for each CommandDef symbol##_def, defined in the cmd_*.c files. */
#define SPIRT_COMMANDS(X) \
    X(tensor_set)         \
    X(tensor_get)         \
    X(tensor_restore)     \
    X(tensor_avg)         \
    X(tensor_agg)         \
    X(tensor_accum)       \
    X(tensor_sgd)         \
    X(tensor_adam)        \
    X(tensor_split)       \
    X(tensor_cat)         \
    X(tensor_wait)        \
    X(tensor_setsigned)   \
    X(tensor_verifystats)

/* INFO spirt: the verify section (cmd_verify.c), registered at load */
int verify_register_info(RedisModuleCtx *ctx);

#define SPIRT_DECLARE_COMMAND(symbol) extern const CommandDef symbol##_def;
SPIRT_COMMANDS(SPIRT_DECLARE_COMMAND)
#undef SPIRT_DECLARE_COMMAND

/* ---- arguments and keys ---- */

int arg_is(RedisModuleString *arg, const char *word);
int same_key(RedisModuleString *a, RedisModuleString *b);

typedef enum { FOUND, MISSING, WRONG_TYPE } Lookup;

/* Opens a key (auto-closed by AutoMemory) and tells whether it holds a tensor. */
Lookup open_tensor(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleKey **key, Tensor **t);
/* WRONGTYPE, or "ERR <role> key does not exist" */
int reply_lookup_error(RedisModuleCtx *ctx, Lookup l, const char *role);

/* ---- float32 math on tensors ---- */

/* A tensor's effective dtype for math: accumulators are their float32 mean. */
DType math_dtype(const Tensor *t);
/* 1/weight_sum for an accumulator (its mean), 1 otherwise */
float mean_factor(const Tensor *t);
/* NULL, or (in buf) why t cannot be an input of float math: its dtype, or an empty accumulator */
const char *check_math_input(const Tensor *t, const char *role, char *buf, size_t bufsize);
/* Float32 view of elements [off, off+len) of t scaled by factor, converted into tmp when needed. */
const float *f32_chunk(const spirt_kernels *k, const Tensor *t, size_t off, size_t len, float factor, float *tmp);
/* Stores float32 values into elements [off, off+len) of t in its dtype. */
void store_f32_chunk(const spirt_kernels *k, Tensor *t, size_t off, size_t len, const float *src);
/* out = the element-wise mean of the sources as TENSOR.AVG computes it (cmd_average.c); out may be a source. */
void tensor_mean(const spirt_kernels *k, Tensor *out, Tensor *const *src, size_t nsrc);

/* ---- publishing ---- */

/* Announces a changed tensor: wakes TENSOR.WAIT clients blocked on it, raises a keyspace event (class 'd',
 * e.g. tensor.avg) and sends its bytes to replicas and the AOF, as TENSOR.RESTORE. */
void publish_change(RedisModuleCtx *ctx, const char *event, RedisModuleString *key, const Tensor *t);
/* Stores a freshly built tensor at key (freeing what was there) and publishes the change. */
void store_new(RedisModuleCtx *ctx, const char *event, RedisModuleKey *key, RedisModuleString *name, Tensor *t);

#endif
