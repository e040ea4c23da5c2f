/* The subset of the Redis Module API that spirt uses, declared from the documented ABI: the first field of
 * the module context is the GetApi function, which resolves every other entry point by name. */
#ifndef SPIRT_RM_API_H
#define SPIRT_RM_API_H

#include <stddef.h>
#include <stdint.h>

#define REDISMODULE_OK 0
#define REDISMODULE_ERR 1
#define REDISMODULE_APIVER_1 1
#define REDISMODULE_READ (1 << 0)
#define REDISMODULE_WRITE (1 << 1)
#define REDISMODULE_KEYTYPE_EMPTY 0
#define REDISMODULE_CTX_FLAGS_AOF (1 << 6)
#define REDISMODULE_NOTIFY_MODULE (1 << 13) /* 'd' in notify-keyspace-events: module key type events */
#define REDISMODULE_OPTIONS_HANDLE_IO_ERRORS (1 << 0)
#define REDISMODULE_TYPE_METHOD_VERSION 3 /* copy callback: Redis >= 6.2 */
#define REDISMODULE_ERRORMSG_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleKey RedisModuleKey;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleIO RedisModuleIO;
typedef struct RedisModuleType RedisModuleType;
typedef struct RedisModuleDigest RedisModuleDigest;
typedef struct RedisModuleServerInfoData RedisModuleServerInfoData;

typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
typedef void *(*RedisModuleTypeLoadFunc)(RedisModuleIO *rdb, int encver);
typedef void (*RedisModuleTypeSaveFunc)(RedisModuleIO *rdb, void *value);
typedef void (*RedisModuleTypeRewriteFunc)(RedisModuleIO *aof, RedisModuleString *key, void *value);
typedef size_t (*RedisModuleTypeMemUsageFunc)(const void *value);
typedef void (*RedisModuleTypeDigestFunc)(RedisModuleDigest *digest, void *value);
typedef void (*RedisModuleTypeFreeFunc)(void *value);
typedef size_t (*RedisModuleTypeFreeEffortFunc)(RedisModuleString *key, const void *value);
typedef void (*RedisModuleTypeUnlinkFunc)(RedisModuleString *key, const void *value);
typedef void *(*RedisModuleTypeCopyFunc)(RedisModuleString *fromkey, RedisModuleString *tokey, const void *value);

typedef struct RedisModuleTypeMethods {
    uint64_t version;
    RedisModuleTypeLoadFunc rdb_load;
    RedisModuleTypeSaveFunc rdb_save;
    RedisModuleTypeRewriteFunc aof_rewrite;
    RedisModuleTypeMemUsageFunc mem_usage;
    RedisModuleTypeDigestFunc digest;
    RedisModuleTypeFreeFunc free;
    void *aux_load;
    void *aux_save;
    int aux_save_triggers;
    RedisModuleTypeFreeEffortFunc free_effort;
    RedisModuleTypeUnlinkFunc unlink;
    RedisModuleTypeCopyFunc copy;
    void *defrag;
} RedisModuleTypeMethods;

#define RM_API_LIST(X)                                                                                     \
    X(void *, Alloc, (size_t bytes))                                                                         \
    X(void, Free, (void *ptr))                                                                               \
    X(int, CreateCommand, (RedisModuleCtx *, const char *, RedisModuleCmdFunc, const char *, int, int, int)) \
    X(void, SetModuleAttribs, (RedisModuleCtx *, const char *, int, int))                                   \
    X(void, SetModuleOptions, (RedisModuleCtx *, int))                                                      \
    X(int, WrongArity, (RedisModuleCtx *))                                                                  \
    X(int, ReplyWithLongLong, (RedisModuleCtx *, long long))                                                \
    X(int, ReplyWithError, (RedisModuleCtx *, const char *))                                                \
    X(int, ReplyWithSimpleString, (RedisModuleCtx *, const char *))                                         \
    X(int, ReplyWithArray, (RedisModuleCtx *, long))                                                        \
    X(int, ReplyWithStringBuffer, (RedisModuleCtx *, const char *, size_t))                                 \
    X(int, ReplyWithDouble, (RedisModuleCtx *, double))                                                     \
    X(int, ReplyWithNull, (RedisModuleCtx *))                                                               \
    X(void *, OpenKey, (RedisModuleCtx *, RedisModuleString *, int))                                        \
    X(void, CloseKey, (RedisModuleKey *))                                                                   \
    X(int, KeyType, (RedisModuleKey *))                                                                     \
    X(int, ModuleTypeSetValue, (RedisModuleKey *, RedisModuleType *, void *))                               \
    X(RedisModuleType *, ModuleTypeGetType, (RedisModuleKey *))                                             \
    X(void *, ModuleTypeGetValue, (RedisModuleKey *))                                                       \
    X(RedisModuleType *, CreateDataType, (RedisModuleCtx *, const char *, int, RedisModuleTypeMethods *))   \
    X(const char *, StringPtrLen, (const RedisModuleString *, size_t *))                                    \
    X(int, StringToLongLong, (const RedisModuleString *, long long *))                                      \
    X(int, StringToDouble, (const RedisModuleString *, double *))                                           \
    X(void, SaveUnsigned, (RedisModuleIO *, uint64_t))                                                      \
    X(uint64_t, LoadUnsigned, (RedisModuleIO *))                                                            \
    X(void, SaveDouble, (RedisModuleIO *, double))                                                          \
    X(double, LoadDouble, (RedisModuleIO *))                                                                \
    X(void, SaveStringBuffer, (RedisModuleIO *, const char *, size_t))                                      \
    X(char *, LoadStringBuffer, (RedisModuleIO *, size_t *))                                                \
    X(int, IsIOError, (RedisModuleIO *))                                                                    \
    X(void, EmitAOF, (RedisModuleIO *, const char *, const char *, ...))                                    \
    X(void, DigestAddStringBuffer, (RedisModuleDigest *, const char *, size_t))                             \
    X(void, DigestAddLongLong, (RedisModuleDigest *, long long))                                            \
    X(void, DigestEndSequence, (RedisModuleDigest *))                                                       \
    X(int, Replicate, (RedisModuleCtx *, const char *, const char *, ...))                                  \
    X(void, Log, (RedisModuleCtx *, const char *, const char *, ...))                                       \
    X(int, IsKeysPositionRequest, (RedisModuleCtx *))                                                       \
    X(void, KeyAtPos, (RedisModuleCtx *, int))                                                              \
    X(void, AutoMemory, (RedisModuleCtx *))                                                                 \
    X(int, GetContextFlags, (RedisModuleCtx *))                                                             \
    X(RedisModuleServerInfoData *, GetServerInfo, (RedisModuleCtx *, const char *))                         \
    X(unsigned long long, ServerInfoGetFieldUnsigned, (RedisModuleServerInfoData *, const char *, int *))   \
    X(void, FreeServerInfo, (RedisModuleCtx *, RedisModuleServerInfoData *))                                \
    X(int, NotifyKeyspaceEvent, (RedisModuleCtx *, int, const char *, RedisModuleString *))                 \
    X(void, _Assert, (const char *, const char *, int))

#define RM_DECLARE(ret, name, args) extern ret(*RedisModule_##name) args;
RM_API_LIST(RM_DECLARE)
#undef RM_DECLARE

/* Resolves every entry point and registers the module; REDISMODULE_ERR when the server lacks one. */
int rm_init(RedisModuleCtx *ctx, const char *name, int version);

#endif
