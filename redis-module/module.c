/* spirt Redis module: a native tensor type whose averaging and optimizer updates run inside the server. */
#include "commands.h"
#include "tensor.h"

#define SPIRT_MODULE_VERSION 1

__attribute__((visibility("default"))) int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (rm_init(ctx, "spirt", SPIRT_MODULE_VERSION) != REDISMODULE_OK) return REDISMODULE_ERR;
    const char *error = "unknown";
    K = spirt_kernels_select(&error);
    if (!K) {
        RedisModule_Log(ctx, "warning", "spirt: %s", error);
        return REDISMODULE_ERR;
    }
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTIONS_HANDLE_IO_ERRORS);
    if (tensor_type_register(ctx) != REDISMODULE_OK) return REDISMODULE_ERR;
    static const struct {
        const char *name;
        RedisModuleCmdFunc fn;
        const char *flags;
        int first, last, step;
    } commands[] = {
        {"tensor.set", TensorSet_Command, "write deny-oom", 1, 1, 1},
        {"tensor.get", TensorGet_Command, "readonly", 1, 1, 1},
        {"tensor.avg", TensorAvg_Command, "write deny-oom", 1, -1, 1},
        {"tensor.accum", TensorAccum_Command, "write deny-oom", 1, 2, 1},
        {"tensor.sgd", TensorSgd_Command, "write deny-oom getkeys-api", 1, 2, 1},
        {"tensor.adam", TensorAdam_Command, "write deny-oom getkeys-api", 1, 2, 1},
        {"tensor.restore", TensorRestore_Command, "write deny-oom", 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (RedisModule_CreateCommand(ctx, commands[i].name, commands[i].fn, commands[i].flags, commands[i].first,
                                      commands[i].last, commands[i].step) == REDISMODULE_ERR)
            return REDISMODULE_ERR;
    RedisModule_Log(ctx, "notice", "spirt: tensor module loaded, %s kernels", K->name);
    return REDISMODULE_OK;
}
