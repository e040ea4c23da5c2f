#include "rm_api.h"

#define RM_DEFINE(ret, name, args) ret(*RedisModule_##name) args = NULL;
RM_API_LIST(RM_DEFINE)
#undef RM_DEFINE

int rm_init(RedisModuleCtx *ctx, const char *name, int version) {
    int (*get_api)(const char *, void *) = (int (*)(const char *, void *))((void **)ctx)[0];
    int missing = 0;
#define RM_RESOLVE(ret, fn, args) \
    if (get_api("RedisModule_" #fn, (void *)&RedisModule_##fn) != REDISMODULE_OK) missing = 1;
    RM_API_LIST(RM_RESOLVE)
#undef RM_RESOLVE
    /* register even on failure: the server expects a named module whenever OnLoad returns */
    if (RedisModule_SetModuleAttribs) RedisModule_SetModuleAttribs(ctx, name, version, REDISMODULE_APIVER_1);
    return missing ? REDISMODULE_ERR : REDISMODULE_OK;
}
