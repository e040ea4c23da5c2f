/* spirt Redis module: a native tensor type whose averaging and optimizer updates run inside the server.
 * Registers the tensor type and every command of command.h's SPIRT_COMMANDS with its key specs and docs. */
#include <stdio.h>
#include <string.h>

#include "command.h"

#define SPIRT_MODULE_VERSION 1
#define MAX_COMMAND_ARGS 24

/* Set once in OnLoad, handed to every command explicitly. */
static CommandEnv env;

/* Redis calls a command with no user data: one entry point per command passes env on. */
#define SPIRT_ENTRY(symbol) \
    static int symbol##_entry(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) { return symbol##_def.run(&env, ctx, argv, argc); }
SPIRT_COMMANDS(SPIRT_ENTRY)
#undef SPIRT_ENTRY

static const struct {
    const CommandDef *def;
    RedisModuleCmdFunc entry;
} registry[] = {
#define SPIRT_REGISTRY(symbol) {&symbol##_def, symbol##_entry},
    SPIRT_COMMANDS(SPIRT_REGISTRY)
#undef SPIRT_REGISTRY
};

/* COMMAND DOCS arguments: the positional ones, with the options (from their parser table) at options_at. */
static int command_args(const CommandDef *def, RedisModuleCommandArg *out) {
    static const RedisModuleCommandArgType option_types[] = {
        [OPT_FLAG] = REDISMODULE_ARG_TYPE_PURE_TOKEN, [OPT_FLOAT] = REDISMODULE_ARG_TYPE_DOUBLE,
        [OPT_INTEGER] = REDISMODULE_ARG_TYPE_INTEGER, [OPT_KEY] = REDISMODULE_ARG_TYPE_KEY,
    };
    int n = 0, npos = 0;
    while (def->positional[npos].name) npos++;
    for (int i = 0; i <= npos; i++) {
        if (i == def->options_at)
            for (const OptionSpec *o = def->options; o && o->name && n < MAX_COMMAND_ARGS; o++)
                out[n++] = (RedisModuleCommandArg){
                    .name = o->name, .type = option_types[o->kind], .key_spec_index = o->kind == OPT_KEY ? o->key_spec : -1,
                    .token = o->name, .flags = o->required ? 0 : REDISMODULE_CMD_ARG_OPTIONAL};
        if (i < npos && n < MAX_COMMAND_ARGS) out[n++] = def->positional[i];
    }
    return n < MAX_COMMAND_ARGS ? n : -1;
}

static int register_command(RedisModuleCtx *ctx, const CommandDef *def, RedisModuleCmdFunc entry) {
    /* keys come from the key specs alone: ACL checks, COMMAND GETKEYS and Cluster routing all use them */
    if (RedisModule_CreateCommand(ctx, def->name, entry, def->flags, 0, 0, 0) == REDISMODULE_ERR) return REDISMODULE_ERR;
    RedisModuleCommandKeySpec key_specs[8] = {{0}};
    size_t nspecs = 0;
    while (def->key_specs[nspecs].begin_search_type) nspecs++;
    memcpy(key_specs, def->key_specs, nspecs * sizeof key_specs[0]);
    RedisModuleCommandArg args[MAX_COMMAND_ARGS + 1] = {{0}};
    if (nspecs >= 8 || command_args(def, args) < 0) return REDISMODULE_ERR;
    const RedisModuleCommandInfo info = {
        .version = REDISMODULE_COMMAND_INFO_VERSION,
        .summary = def->summary,
        .complexity = def->complexity,
        .since = "0.1.0",
        .arity = def->arity,
        .key_specs = key_specs,
        .args = args,
    };
    return RedisModule_SetCommandInfo(RedisModule_GetCommand(ctx, def->name), &info);
}

__attribute__((visibility("default"))) int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (rm_init(ctx, "spirt", SPIRT_MODULE_VERSION) != REDISMODULE_OK) return REDISMODULE_ERR;
    const char *error = "unknown";
    env.k = spirt_kernels_select(&error);
    if (!env.k) {
        RedisModule_Log(ctx, "warning", "spirt: %s", error);
        return REDISMODULE_ERR;
    }
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTIONS_HANDLE_IO_ERRORS);
    if (tensor_type_register(ctx) != REDISMODULE_OK) return REDISMODULE_ERR;
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        if (register_command(ctx, registry[i].def, registry[i].entry) != REDISMODULE_OK) {
            RedisModule_Log(ctx, "warning", "spirt: cannot register %s", registry[i].def->name);
            return REDISMODULE_ERR;
        }
    }
    if (verify_register_info(ctx) != REDISMODULE_OK) return REDISMODULE_ERR;
    RedisModule_Log(ctx, "notice", "spirt: tensor module loaded, %s kernels", env.k->name);
    return REDISMODULE_OK;
}
