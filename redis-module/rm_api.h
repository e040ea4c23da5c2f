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
#define REDISMODULE_KEYTYPE_STRING 1
#define REDISMODULE_CTX_FLAGS_LUA (1 << 0)
#define REDISMODULE_CTX_FLAGS_MULTI (1 << 1)
#define REDISMODULE_CTX_FLAGS_AOF (1 << 6)
#define REDISMODULE_CTX_FLAGS_DENY_BLOCKING (1 << 21)
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
typedef struct RedisModuleCommand RedisModuleCommand;
typedef struct RedisModuleBlockedClient RedisModuleBlockedClient;
typedef struct RedisModuleInfoCtx RedisModuleInfoCtx;

typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
typedef void (*RedisModuleInfoFunc)(RedisModuleInfoCtx *ctx, int for_crash_report);
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

/* RedisModule_SetCommandInfo (Redis >= 7.0): command docs and key specs, version 1 of the structs. */
typedef enum {
    REDISMODULE_ARG_TYPE_STRING,
    REDISMODULE_ARG_TYPE_INTEGER,
    REDISMODULE_ARG_TYPE_DOUBLE,
    REDISMODULE_ARG_TYPE_KEY,
    REDISMODULE_ARG_TYPE_PATTERN,
    REDISMODULE_ARG_TYPE_UNIX_TIME,
    REDISMODULE_ARG_TYPE_PURE_TOKEN,
    REDISMODULE_ARG_TYPE_ONEOF,
    REDISMODULE_ARG_TYPE_BLOCK,
} RedisModuleCommandArgType;

#define REDISMODULE_CMD_ARG_NONE 0
#define REDISMODULE_CMD_ARG_OPTIONAL (1 << 0)
#define REDISMODULE_CMD_ARG_MULTIPLE (1 << 1)

typedef enum {
    REDISMODULE_KSPEC_BS_INVALID = 0, /* terminates a key spec array */
    REDISMODULE_KSPEC_BS_UNKNOWN,
    REDISMODULE_KSPEC_BS_INDEX,
    REDISMODULE_KSPEC_BS_KEYWORD,
} RedisModuleKeySpecBeginSearchType;

typedef enum {
    REDISMODULE_KSPEC_FK_OMITTED = 0, /* a single key */
    REDISMODULE_KSPEC_FK_UNKNOWN,
    REDISMODULE_KSPEC_FK_RANGE,
    REDISMODULE_KSPEC_FK_KEYNUM,
} RedisModuleKeySpecFindKeysType;

#define REDISMODULE_CMD_KEY_RO (1ULL << 0)
#define REDISMODULE_CMD_KEY_RW (1ULL << 1)
#define REDISMODULE_CMD_KEY_OW (1ULL << 2)
#define REDISMODULE_CMD_KEY_RM (1ULL << 3)
#define REDISMODULE_CMD_KEY_ACCESS (1ULL << 4)
#define REDISMODULE_CMD_KEY_UPDATE (1ULL << 5)
#define REDISMODULE_CMD_KEY_INSERT (1ULL << 6)
#define REDISMODULE_CMD_KEY_DELETE (1ULL << 7)
#define REDISMODULE_CMD_KEY_NOT_KEY (1ULL << 8)
#define REDISMODULE_CMD_KEY_INCOMPLETE (1ULL << 9)

typedef struct RedisModuleCommandArg {
    const char *name;
    RedisModuleCommandArgType type;
    int key_spec_index; /* KEY arguments: index of their key spec; -1 otherwise */
    const char *token;
    const char *summary;
    const char *since;
    int flags;
    const char *deprecated_since;
    struct RedisModuleCommandArg *subargs;
} RedisModuleCommandArg;

typedef struct {
    const char *since;
    const char *changes;
} RedisModuleCommandHistoryEntry;

typedef struct {
    const char *notes;
    uint64_t flags;
    RedisModuleKeySpecBeginSearchType begin_search_type;
    union {
        struct {
            int pos;
        } index;
        struct {
            const char *keyword;
            int startfrom;
        } keyword;
    } bs;
    RedisModuleKeySpecFindKeysType find_keys_type;
    union {
        struct {
            int lastkey;
            int keystep;
            int limit;
        } range;
        struct {
            int keynumidx;
            int firstkey;
            int keystep;
        } keynum;
    } fk;
} RedisModuleCommandKeySpec;

typedef struct {
    int version;
    size_t sizeof_historyentry;
    size_t sizeof_keyspec;
    size_t sizeof_arg;
} RedisModuleCommandInfoVersion;

static const RedisModuleCommandInfoVersion RedisModule_CurrentCommandInfoVersion = {
    .version = 1,
    .sizeof_historyentry = sizeof(RedisModuleCommandHistoryEntry),
    .sizeof_keyspec = sizeof(RedisModuleCommandKeySpec),
    .sizeof_arg = sizeof(RedisModuleCommandArg),
};
#define REDISMODULE_COMMAND_INFO_VERSION (&RedisModule_CurrentCommandInfoVersion)

typedef struct {
    const RedisModuleCommandInfoVersion *version;
    const char *summary;
    const char *complexity;
    const char *since;
    RedisModuleCommandHistoryEntry *history;
    const char *tips;
    int arity; /* -N: at least N arguments, the command name included */
    RedisModuleCommandKeySpec *key_specs;
    RedisModuleCommandArg *args;
} RedisModuleCommandInfo;

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
    X(int, ReplyWithNullArray, (RedisModuleCtx *))                                                          \
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
    X(void, KeyAtPosWithFlags, (RedisModuleCtx *, int, int))                                                \
    X(RedisModuleCommand *, GetCommand, (RedisModuleCtx *, const char *))                                   \
    X(int, SetCommandInfo, (RedisModuleCommand *, const RedisModuleCommandInfo *))                          \
    X(void, AutoMemory, (RedisModuleCtx *))                                                                 \
    X(int, GetContextFlags, (RedisModuleCtx *))                                                             \
    X(RedisModuleServerInfoData *, GetServerInfo, (RedisModuleCtx *, const char *))                         \
    X(unsigned long long, ServerInfoGetFieldUnsigned, (RedisModuleServerInfoData *, const char *, int *))   \
    X(void, FreeServerInfo, (RedisModuleCtx *, RedisModuleServerInfoData *))                                \
    X(int, NotifyKeyspaceEvent, (RedisModuleCtx *, int, const char *, RedisModuleString *))                 \
    X(void, SignalKeyAsReady, (RedisModuleCtx *, RedisModuleString *))                                      \
    X(RedisModuleBlockedClient *, BlockClientOnKeys,                                                        \
      (RedisModuleCtx *, RedisModuleCmdFunc, RedisModuleCmdFunc, void (*)(RedisModuleCtx *, void *), long long, \
       RedisModuleString **, int, void *))                                                                  \
    X(char *, StringDMA, (RedisModuleKey *, size_t *, int))                                                 \
    X(int, RegisterInfoFunc, (RedisModuleCtx *, RedisModuleInfoFunc))                                       \
    X(int, InfoAddSection, (RedisModuleInfoCtx *, const char *))                                            \
    X(int, InfoAddFieldULongLong, (RedisModuleInfoCtx *, const char *, unsigned long long))                 \
    X(void, _Assert, (const char *, const char *, int))

#define RM_DECLARE(ret, name, args) extern ret(*RedisModule_##name) args;
RM_API_LIST(RM_DECLARE)
#undef RM_DECLARE

/* Resolves every entry point and registers the module; REDISMODULE_ERR when the server lacks one. */
int rm_init(RedisModuleCtx *ctx, const char *name, int version);

#endif
