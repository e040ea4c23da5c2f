/* Synchronisation: TENSOR.WAIT blocks until every key holds a tensor of at least a version, on Redis's
 * blocked-on-keys machinery (RedisModule_BlockClientOnKeys): no polling, no timer but Redis's own timeout.
 * Every module write signals its key (publish_change), and Redis signals keys that RESTORE, MIGRATE and COPY
 * add, so a waiter wakes when the last of its keys is published. */
#include "command.h"

/* ---- TENSOR.WAIT TIMEOUT ms VERSION v key [key ...] ---- */
#define WAIT_FIRST_KEY 5 /* the two options come first, in either order: keys named like them stay keys */
#define WAIT_MAX_TIMEOUT_MS 1000000000000LL

typedef struct {
    long long timeout, version;
} WaitOptions;

static const OptionSpec wait_options[] = {
    {.name = "TIMEOUT", .kind = OPT_INTEGER, .offset = offsetof(WaitOptions, timeout), .required = 1, .min = 0,
     .max = WAIT_MAX_TIMEOUT_MS, .error = "ERR TIMEOUT must be 0 (no limit) or a number of milliseconds up to 10^12"},
    {.name = "VERSION", .kind = OPT_INTEGER, .offset = offsetof(WaitOptions, version), .required = 1, .min = 0,
     .max = INT64_MAX, .error = "ERR VERSION must be an integer from 0 to 9223372036854775807"},
    {0},
};

typedef enum { WAIT_READY, WAIT_PENDING, WAIT_WRONGTYPE } WaitState;

/* Ready when every key holds a tensor at `version` or later. */
static WaitState wait_state(RedisModuleCtx *ctx, RedisModuleString **keys, int n, uint64_t version) {
    WaitState state = WAIT_READY;
    for (int i = 0; i < n; i++) {
        RedisModuleKey *key;
        Tensor *t;
        Lookup l = open_tensor(ctx, keys[i], REDISMODULE_READ, &key, &t);
        if (l == WRONG_TYPE) return WAIT_WRONGTYPE;
        if (l == MISSING || t->version < version) state = WAIT_PENDING;
    }
    return state;
}

/* Replies when the wait is over: the keys' versions, or WRONGTYPE. REDISMODULE_ERR: keep waiting. */
static int reply_if_done(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, const WaitOptions *opt) {
    RedisModuleString **keys = argv + WAIT_FIRST_KEY;
    const int n = argc - WAIT_FIRST_KEY;
    switch (wait_state(ctx, keys, n, (uint64_t)opt->version)) {
    case WAIT_WRONGTYPE: return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE), REDISMODULE_OK;
    case WAIT_PENDING: return REDISMODULE_ERR;
    default: break;
    }
    RedisModule_ReplyWithArray(ctx, n);
    for (int i = 0; i < n; i++) {
        RedisModuleKey *key;
        Tensor *t;
        open_tensor(ctx, keys[i], REDISMODULE_READ, &key, &t);
        RedisModule_ReplyWithLongLong(ctx, (long long)t->version);
    }
    return REDISMODULE_OK;
}

/* Redis calls this whenever one of the keys is signalled; the arguments are the blocked call's, checked then. */
static int wait_woken(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    WaitOptions opt;
    char msg[64];
    parse_options(argv, 1, WAIT_FIRST_KEY, wait_options, &opt, msg, sizeof msg);
    return reply_if_done(ctx, argv, argc, &opt);
}

static int wait_timed_out(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    return RedisModule_ReplyWithNullArray(ctx);
}

static int tensor_wait(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)env;
    RedisModule_AutoMemory(ctx);
    WaitOptions opt;
    char msg[256];
    const char *err = parse_options(argv, 1, WAIT_FIRST_KEY, wait_options, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    if (reply_if_done(ctx, argv, argc, &opt) == REDISMODULE_OK) return REDISMODULE_OK;
    /* MULTI, Lua and RM_Call cannot block: the current state, which is not ready */
    if (RedisModule_GetContextFlags(ctx) &
        (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA | REDISMODULE_CTX_FLAGS_DENY_BLOCKING))
        return RedisModule_ReplyWithNullArray(ctx);
    RedisModule_BlockClientOnKeys(ctx, wait_woken, wait_timed_out, NULL, opt.timeout, argv + WAIT_FIRST_KEY,
                                  argc - WAIT_FIRST_KEY, NULL);
    return REDISMODULE_OK;
}

/* versions are metadata: read-only, no access to the data */
static const RedisModuleCommandKeySpec wait_keys[] = {KEYS_FROM(WAIT_FIRST_KEY, REDISMODULE_CMD_KEY_RO), {0}};
static const RedisModuleCommandArg wait_args[] = {KEY_ARG("key", 0, REDISMODULE_CMD_ARG_MULTIPLE), {0}};
const CommandDef tensor_wait_def = {
    .name = "tensor.wait", .run = tensor_wait, .flags = "readonly blocking", .arity = -6,
    .summary = "Blocks until every key holds a tensor of at least VERSION; replies their versions, or nil on timeout",
    .complexity = "O(K) per wake: K keys", .key_specs = wait_keys, .positional = wait_args, .options_at = 0,
    .options = wait_options,
};
