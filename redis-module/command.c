/* Helpers shared by the command files: arguments, the option parser, tensor lookup, float32 views, publishing. */
#include "command.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- arguments ---- */

int arg_is(RedisModuleString *arg, const char *word) {
    size_t len;
    const char *s = RedisModule_StringPtrLen(arg, &len);
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

int same_key(RedisModuleString *a, RedisModuleString *b) {
    size_t la, lb;
    const char *sa = RedisModule_StringPtrLen(a, &la), *sb = RedisModule_StringPtrLen(b, &lb);
    return la == lb && memcmp(sa, sb, la) == 0;
}

/* The float32 value a number argument is used as: 0 unless that value is finite and a non-zero argument has
 * not underflowed to zero (LR 1e300 -> inf, EPS 1e-50 -> 0 are refused, not used). Ranges are checked on it. */
static int arg_float32(RedisModuleString *arg, float *out) {
    double d;
    if (RedisModule_StringToDouble(arg, &d) != REDISMODULE_OK) return 0;
    *out = (float)d;
    return isfinite(*out) && (*out != 0 || d == 0);
}

static int float_in_range(const OptionSpec *s, float v) {
    return (s->open & OPT_LO_OPEN ? v > s->lo : v >= s->lo) && (s->open & OPT_HI_OPEN ? v < s->hi : v <= s->hi);
}

/* ---- the option parser ---- */

static const char *syntax_error(RedisModuleString *arg, const OptionSpec *specs, char *msg, size_t msgsize) {
    size_t len, n;
    const char *word = RedisModule_StringPtrLen(arg, &len);
    char shown[33]; /* printable characters only: an error reply must not carry CR/LF */
    for (n = 0; n < len && n < sizeof shown - 1; n++) shown[n] = word[n] >= 0x20 && word[n] < 0x7f ? word[n] : '?';
    shown[n] = 0;
    n = (size_t)snprintf(msg, msgsize, "ERR syntax error: '%s' is not an option here (", shown);
    for (const OptionSpec *s = specs; s && s->name && n < msgsize; s++)
        n += (size_t)snprintf(msg + n, msgsize - n, "%s%s", s == specs ? "" : ", ", s->name);
    if (n < msgsize) snprintf(msg + n, msgsize - n, ")");
    return msg;
}

static const OptionSpec *find_option(const OptionSpec *specs, RedisModuleString *arg) {
    for (const OptionSpec *s = specs; s && s->name; s++)
        if (arg_is(arg, s->name)) return s;
    return NULL;
}

const char *parse_options(RedisModuleString **argv, int from, int to, const OptionSpec *specs, void *dest, char *msg,
                          size_t msgsize) {
    unsigned seen = 0;
    for (int i = from; i < to; i++) {
        const OptionSpec *s = find_option(specs, argv[i]);
        if (!s) return syntax_error(argv[i], specs, msg, msgsize);
        const unsigned bit = 1u << (s - specs);
        char *field = (char *)dest + s->offset;
        if (seen & bit) return snprintf(msg, msgsize, "ERR %s is given more than once", s->name), msg;
        seen |= bit;
        if (s->kind == OPT_FLAG) {
            for (const OptionSpec *other = specs; other->name; other++) /* flags sharing a field are a choice */
                if (other != s && other->offset == s->offset && (seen & (1u << (other - specs))))
                    return snprintf(msg, msgsize, "ERR %s and %s exclude each other", other->name, s->name), msg;
            *(int *)field = s->flag;
            continue;
        }
        if (++i == to) return snprintf(msg, msgsize, "ERR %s needs a value", s->name), msg;
        long long integer;
        float f;
        switch (s->kind) {
        case OPT_FLOAT:
            if (!arg_float32(argv[i], &f) || !float_in_range(s, f)) return s->error;
            *(float *)field = f;
            break;
        case OPT_INTEGER:
            if (RedisModule_StringToLongLong(argv[i], &integer) != REDISMODULE_OK || integer < s->min || integer > s->max)
                return s->error;
            *(long long *)field = integer;
            break;
        default: /* OPT_KEY: Redis's keyword search takes the first argument spelled like the keyword */
            for (int j = from; j < i - 1; j++)
                if (arg_is(argv[j], s->name))
                    return snprintf(msg, msgsize, "ERR an argument before %s is spelled %s: which key it names is ambiguous",
                                    s->name, s->name), msg;
            *(RedisModuleString **)field = argv[i];
            break;
        }
    }
    for (const OptionSpec *s = specs; s && s->name; s++)
        if (s->required && !(seen & (1u << (s - specs)))) return snprintf(msg, msgsize, "ERR %s is required", s->name), msg;
    return NULL;
}

void apply_version(Tensor *t, long long v) {
    if (v != VERSION_UNSET) t->version = (uint64_t)v;
}

/* ---- keys ---- */

Lookup open_tensor(RedisModuleCtx *ctx, RedisModuleString *name, int mode, RedisModuleKey **key, Tensor **t) {
    *key = RedisModule_OpenKey(ctx, name, mode);
    *t = NULL;
    if (!*key || RedisModule_KeyType(*key) == REDISMODULE_KEYTYPE_EMPTY) return MISSING;
    if (RedisModule_ModuleTypeGetType(*key) != TensorType) return WRONG_TYPE;
    *t = RedisModule_ModuleTypeGetValue(*key);
    return FOUND;
}

int reply_lookup_error(RedisModuleCtx *ctx, Lookup l, const char *role) {
    char msg[128];
    if (l == WRONG_TYPE) return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    snprintf(msg, sizeof msg, "ERR %s key does not exist", role);
    return RedisModule_ReplyWithError(ctx, msg);
}

/* ---- float32 math ---- */

DType math_dtype(const Tensor *t) { return t->is_accumulator ? DTYPE_FLOAT32 : t->dtype; }

float mean_factor(const Tensor *t) { return t->is_accumulator ? (float)(1.0 / t->weight_sum) : 1.0f; }

const char *check_math_input(const Tensor *t, const char *role, char *buf, size_t bufsize) {
    if (!dtype_is_float_math(math_dtype(t))) {
        snprintf(buf, bufsize, "ERR %s has dtype %s; only FLOAT32, FLOAT16 and BFLOAT16 are supported", role,
                 dtype_name(t->dtype));
        return buf;
    }
    if (t->is_accumulator && !(t->weight_sum != 0)) {
        snprintf(buf, bufsize, "ERR %s is an empty accumulator (weight sum 0)", role);
        return buf;
    }
    return NULL;
}

const float *f32_chunk(const spirt_kernels *k, const Tensor *t, size_t off, size_t len, float factor, float *tmp) {
    const float *src = (const float *)t->data + off;
    switch (t->dtype) {
    case DTYPE_FLOAT16: k->f16_to_f32(tmp, (const uint16_t *)t->data + off, len); src = tmp; break;
    case DTYPE_BFLOAT16: k->bf16_to_f32(tmp, (const uint16_t *)t->data + off, len); src = tmp; break;
    default: break;
    }
    if (factor != 1.0f) {
        k->scale(tmp, src, factor, len);
        src = tmp;
    }
    return src;
}

void store_f32_chunk(const spirt_kernels *k, Tensor *t, size_t off, size_t len, const float *src) {
    switch (t->dtype) {
    case DTYPE_FLOAT16: k->f32_to_f16((uint16_t *)t->data + off, src, len); break;
    case DTYPE_BFLOAT16: k->f32_to_bf16((uint16_t *)t->data + off, src, len); break;
    default: memcpy((float *)t->data + off, src, len * sizeof(float)); break;
    }
}

/* ---- publishing ---- */

/* Whether anything would receive a replicated command: the AOF, a connected replica, or the backlog a
 * reconnecting replica resumes from (the same test Redis applies before propagating). Building the
 * TENSOR.RESTORE arguments copies the whole tensor, so it is skipped when nobody would read them. */
static int propagation_needed(RedisModuleCtx *ctx) {
    if (RedisModule_GetContextFlags(ctx) & REDISMODULE_CTX_FLAGS_AOF) return 1;
    RedisModuleServerInfoData *info = RedisModule_GetServerInfo(ctx, "replication");
    if (!info) return 1;
    int err1 = 0, err2 = 0;
    unsigned long long replicas = RedisModule_ServerInfoGetFieldUnsigned(info, "connected_slaves", &err1);
    unsigned long long backlog = RedisModule_ServerInfoGetFieldUnsigned(info, "repl_backlog_active", &err2);
    RedisModule_FreeServerInfo(ctx, info);
    return err1 || err2 || replicas > 0 || backlog > 0;
}

void publish_change(RedisModuleCtx *ctx, const char *event, RedisModuleString *key, const Tensor *t) {
    RedisModule_SignalKeyAsReady(ctx, key);
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, event, key);
    if (!propagation_needed(ctx)) return;
    unsigned char header[TENSOR_HEADER_MAX];
    size_t len = tensor_header(t, header);
    RedisModule_Replicate(ctx, "TENSOR.RESTORE", "sbb", key, (const char *)header, len, (const char *)t->data,
                          t->nbytes);
}

void store_new(RedisModuleCtx *ctx, const char *event, RedisModuleKey *key, RedisModuleString *name, Tensor *t) {
    RedisModule_ModuleTypeSetValue(key, TensorType, t);
    publish_change(ctx, event, name, t);
}
