/* Robust aggregation: TENSOR.AGG dest RULE [rule options] [VERSION v] src1 .. srcN, with the rules
 *   MEAN                          the element-wise mean, as TENSOR.AVG computes it
 *   MEDIAN                        the coordinate-wise median (the two middle values halved for even N)
 *   TRIMMED k                     per coordinate, the mean without the k smallest and k largest values (2k < N)
 *   KRUM f [MULTI m]              (Multi-)Krum against f Byzantine sources (N >= 2f + 3): the mean of the m
 *                                 sources nearest their N - f - 2 nearest others; replies their indices
 *   CCLIP tau [ITERS l] [CENTER key]  centered clipping around key's value (zeros without CENTER), l steps
 * The math is native/kernels/robust.c's (the same bits on every SIMD path), in float32: sources of another float
 * dtype, and accumulators (their mean), are widened first and the result rounded once into the sources' dtype. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "command.h"

#define AGG_MAX_ITERS 1000

typedef enum { RULE_MEAN, RULE_MEDIAN, RULE_TRIMMED, RULE_KRUM, RULE_CCLIP, RULE_COUNT } Rule;

typedef struct {
    long long multi;
    long long iters;
    RedisModuleString *center;
    long long version;
} AggOptions;

#define MULTI_OPTION                                                                                  \
    {.name = "MULTI", .kind = OPT_INTEGER, .offset = offsetof(AggOptions, multi), .min = 1, .max = INT32_MAX, \
     .error = "ERR MULTI must be an integer from 1 to N - f"}
#define ITERS_OPTION                                                                                         \
    {.name = "ITERS", .kind = OPT_INTEGER, .offset = offsetof(AggOptions, iters), .min = 1, .max = AGG_MAX_ITERS, \
     .error = "ERR ITERS must be an integer from 1 to 1000"}
#define CENTER_OPTION {.name = "CENTER", .kind = OPT_KEY, .offset = offsetof(AggOptions, center), .key_spec = 2}

static const OptionSpec version_only[] = {VERSION_OPTION(AggOptions, version), {0}};
static const OptionSpec krum_options[] = {MULTI_OPTION, VERSION_OPTION(AggOptions, version), {0}};
static const OptionSpec cclip_options[] = {ITERS_OPTION, CENTER_OPTION, VERSION_OPTION(AggOptions, version), {0}};
/* COMMAND DOCS lists every rule's options together */
static const OptionSpec doc_options[] = {MULTI_OPTION, ITERS_OPTION, CENTER_OPTION, VERSION_OPTION(AggOptions, version), {0}};

static const struct {
    const char *name;
    int has_param; /* TRIMMED k, KRUM f, CCLIP tau */
    const OptionSpec *options;
} rules[RULE_COUNT] = {
    [RULE_MEAN] = {"MEAN", 0, version_only},       [RULE_MEDIAN] = {"MEDIAN", 0, version_only},
    [RULE_TRIMMED] = {"TRIMMED", 1, version_only}, [RULE_KRUM] = {"KRUM", 1, krum_options},
    [RULE_CCLIP] = {"CCLIP", 1, cclip_options},
};

/* Where the parts of a call are: options from argv[options_at], sources from argv[first]. */
typedef struct {
    int rule; /* -1: not a rule */
    int options_at, first;
} AggLayout;

/* the index of the option arg names in specs, or -1 */
static int option_index(const OptionSpec *specs, RedisModuleString *arg) {
    for (const OptionSpec *s = specs; s->name; s++)
        if (arg_is(arg, s->name)) return (int)(s - specs);
    return -1;
}

/* Every option takes a value; the option words are read as options, each once, while a source follows their
 * value. So a call that writes each of its rule's options out (src/store/commands/agg.ts writes MULTI, ITERS and
 * VERSION every time) names its sources exactly, whatever they are called. Key specs cannot say where the sources
 * begin: COMMAND GETKEYS, ACL and Cluster ask tensor_agg, which uses this. */
static AggLayout agg_layout(RedisModuleString **argv, int argc) {
    AggLayout l = {-1, 3, 3};
    for (int r = 0; r < RULE_COUNT; r++)
        if (arg_is(argv[2], rules[r].name)) l.rule = r;
    if (l.rule < 0) return l;
    l.options_at = l.first = 3 + rules[l.rule].has_param;
    for (unsigned seen = 0; l.first + 2 < argc; l.first += 2) {
        const int o = option_index(rules[l.rule].options, argv[l.first]);
        if (o < 0 || (seen & (1u << o))) break;
        seen |= 1u << o;
    }
    return l;
}

/* The rule's parameter (TRIMMED k, KRUM f, CCLIP tau), checked against the number of sources. NULL or an error. */
static const char *parse_param(Rule rule, RedisModuleString *arg, size_t nsrc, long long *count, float *tau, char *msg,
                               size_t msgsize) {
    if (rule == RULE_CCLIP) {
        double d;
        if (RedisModule_StringToDouble(arg, &d) != REDISMODULE_OK) d = NAN;
        *tau = (float)d;
        if (!(isfinite(*tau) && *tau >= 0 && (*tau != 0 || d == 0)))
            return "ERR CCLIP tau must be a finite number >= 0 (as a float32)";
        return NULL;
    }
    const char *name = rule == RULE_TRIMMED ? "TRIMMED k" : "KRUM f";
    if (RedisModule_StringToLongLong(arg, count) != REDISMODULE_OK || *count < 0)
        return snprintf(msg, msgsize, "ERR %s must be an integer >= 0", name), msg;
    /* count <= nsrc first, so that 2 * count cannot overflow */
    if (rule == RULE_TRIMMED && ((size_t)*count > nsrc || 2 * (size_t)*count >= nsrc))
        return snprintf(msg, msgsize, "ERR TRIMMED k=%lld drops 2k of %zu sources: needs 2k < N", *count, nsrc), msg;
    if (rule == RULE_KRUM && ((size_t)*count > nsrc || 2 * (size_t)*count + 3 > nsrc))
        return snprintf(msg, msgsize, "ERR KRUM f=%lld needs N >= 2f+3 sources, got %zu", *count, nsrc), msg;
    return NULL;
}

/* t's values as float32 (an accumulator's mean): its own data, or a copy in *owned that the caller frees. */
static const float *f32_view(const spirt_kernels *kern, const Tensor *t, float **owned) {
    *owned = NULL;
    if (t->dtype == DTYPE_FLOAT32 && !t->is_accumulator) return (const float *)t->data;
    *owned = RedisModule_Alloc(t->numel ? t->numel * sizeof(float) : sizeof(float));
    return f32_chunk(kern, t, 0, t->numel, mean_factor(t), *owned);
}

/* result = the rule's aggregate of the sources (a kernel's return code: 0, SPIRT_AGG_ENOMEM, ...) */
static int aggregate_f32(const spirt_kernels *kern, Rule rule, float *result, Tensor *const *src, size_t nsrc,
                         const Tensor *center, long long count, float tau, const AggOptions *opt, uint32_t *selected) {
    const size_t n = src[0]->numel;
    float **owned = RedisModule_Alloc((nsrc + 1) * sizeof(float *));
    owned[nsrc] = NULL;
    const float **views = RedisModule_Alloc(nsrc * sizeof(float *));
    for (size_t j = 0; j < nsrc; j++) views[j] = f32_view(kern, src[j], &owned[j]);
    int rc;
    switch (rule) {
    case RULE_MEDIAN: rc = spirt_agg_median(kern, result, views, nsrc, n); break;
    case RULE_TRIMMED: rc = spirt_agg_trimmed_mean(kern, result, views, nsrc, n, (size_t)count); break;
    case RULE_KRUM: rc = spirt_agg_krum(kern, result, views, nsrc, n, (size_t)count, (size_t)opt->multi, selected); break;
    default: /* RULE_CCLIP: the center may be result itself (dest, written in place) */
        rc = spirt_agg_centered_clip(kern, result, views, nsrc, n, tau, (unsigned)opt->iters,
                                     center ? f32_view(kern, center, &owned[nsrc]) : NULL);
        break;
    }
    for (size_t j = 0; j <= nsrc; j++) RedisModule_Free(owned[j]);
    RedisModule_Free(owned);
    RedisModule_Free(views);
    return rc;
}

static int tensor_agg(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    const AggLayout lay = agg_layout(argv, argc);
    if (RedisModule_IsKeysPositionRequest(ctx)) {
        RedisModule_KeyAtPosWithFlags(ctx, 1, KEY_REPLACE);
        for (int i = lay.options_at; i + 1 < lay.first; i += 2)
            if (arg_is(argv[i], "CENTER")) RedisModule_KeyAtPosWithFlags(ctx, i + 1, KEY_RO);
        for (int i = lay.first; i < argc; i++) RedisModule_KeyAtPosWithFlags(ctx, i, KEY_RO);
        return REDISMODULE_OK;
    }
    RedisModule_AutoMemory(ctx);
    if (lay.rule < 0) return RedisModule_ReplyWithError(ctx, "ERR unknown rule: use MEAN, MEDIAN, TRIMMED k, KRUM f or CCLIP tau");
    const Rule rule = (Rule)lay.rule;
    if (lay.first >= argc) return RedisModule_ReplyWithError(ctx, "ERR TENSOR.AGG needs at least one source");
    const size_t nsrc = (size_t)(argc - lay.first);
    AggOptions opt = {.multi = 1, .iters = 1, .center = NULL, .version = VERSION_UNSET};
    long long count = 0;
    float tau = 0;
    char msg[256];
    const char *err = rules[rule].has_param ? parse_param(rule, argv[3], nsrc, &count, &tau, msg, sizeof msg) : NULL;
    if (!err) err = parse_options(argv, lay.options_at, lay.first, rules[rule].options, &opt, msg, sizeof msg);
    if (!err && rule == RULE_KRUM && (size_t)opt.multi > nsrc - (size_t)count)
        snprintf(msg, sizeof msg, "ERR MULTI must be an integer from 1 to N - f = %zu", nsrc - (size_t)count), err = msg;
    if (err) return RedisModule_ReplyWithError(ctx, err);

    RedisModuleString *dest = argv[1], **sources = argv + lay.first;
    /* dest is opened first and reused when it is also a source or the center: a second handle on the same key
     * would point at the value that storing the result frees */
    RedisModuleKey *dkey, *key;
    Tensor *old, *center = NULL;
    const Lookup dl = open_tensor(ctx, dest, REDISMODULE_WRITE, &dkey, &old);
    if (dl == WRONG_TYPE) return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    Tensor **src = RedisModule_Alloc(nsrc * sizeof(Tensor *));
    int dest_is_source = 0;
    for (size_t j = 0; j < nsrc && !err; j++) {
        const int is_dest = same_key(sources[j], dest);
        const Lookup l = is_dest ? (src[j] = old, dl) : open_tensor(ctx, sources[j], REDISMODULE_READ, &key, &src[j]);
        dest_is_source |= is_dest;
        if (l == WRONG_TYPE) err = REDISMODULE_ERRORMSG_WRONGTYPE;
        else if (l == MISSING) snprintf(msg, sizeof msg, "ERR source %zu does not exist", j + 1), err = msg;
        else if (!(err = check_math_input(src[j], "source", msg, sizeof msg)) && j > 0) {
            if (math_dtype(src[j]) != math_dtype(src[0])) err = "ERR sources have different dtypes";
            else if (!tensor_same_shape(src[j], src[0])) err = "ERR sources have different shapes";
        }
    }
    if (!err && opt.center) {
        const Lookup l = same_key(opt.center, dest) ? (center = old, dl)
                                                    : open_tensor(ctx, opt.center, REDISMODULE_READ, &key, &center);
        if (l == WRONG_TYPE) err = REDISMODULE_ERRORMSG_WRONGTYPE;
        else if (l == MISSING) err = "ERR CENTER key does not exist";
        else if (!(err = check_math_input(center, "CENTER", msg, sizeof msg)) && !tensor_same_shape(center, src[0]))
            err = "ERR CENTER has a different shape than the sources";
    }
    if (err) {
        RedisModule_Free(src);
        return RedisModule_ReplyWithError(ctx, err);
    }

    /* A plain dest of the right dtype and shape is overwritten in place (no allocation, no page faults) unless it
     * is a source: the robust rules read every source whole while they write (the center may be dest: the
     * kernel starts from it) */
    const DType dtype = math_dtype(src[0]);
    const int in_place = dl == FOUND && !dest_is_source && !old->is_accumulator && old->dtype == dtype &&
                         tensor_same_shape(old, src[0]);
    Tensor *out = in_place ? old : tensor_alloc(dtype, src[0]->ndim, src[0]->shape);
    uint32_t *selected = rule == RULE_KRUM ? RedisModule_Alloc((size_t)opt.multi * sizeof(uint32_t)) : NULL;
    int rc = 0;
    if (rule == RULE_MEAN) {
        tensor_mean(env->k, out, src, nsrc);
    } else if (dtype == DTYPE_FLOAT32) {
        rc = aggregate_f32(env->k, rule, (float *)out->data, src, nsrc, center, count, tau, &opt, selected);
    } else { /* computed in float32, rounded once into the dtype */
        float *result = RedisModule_Alloc(out->numel ? out->numel * sizeof(float) : sizeof(float));
        rc = aggregate_f32(env->k, rule, result, src, nsrc, center, count, tau, &opt, selected);
        if (!rc) store_f32_chunk(env->k, out, 0, out->numel, result);
        RedisModule_Free(result);
    }
    RedisModule_Free(src);
    if (rc) { /* the kernels allocate before they write: dest is as it was */
        if (!in_place) tensor_free(out);
        RedisModule_Free(selected);
        return RedisModule_ReplyWithError(ctx, rc == SPIRT_AGG_ENOMEM ? "ERR out of memory for the aggregation's scratch space"
                                                                      : "ERR the aggregation rule refused its arguments");
    }
    out->version = 0; /* a new value, even when written in place */
    apply_version(out, opt.version);
    if (in_place) publish_change(ctx, "tensor.agg", dest, out);
    else store_new(ctx, "tensor.agg", dkey, dest, out);
    if (rule != RULE_KRUM) return RedisModule_ReplyWithSimpleString(ctx, "OK");
    RedisModule_ReplyWithArray(ctx, opt.multi);
    for (long long r = 0; r < opt.multi; r++) RedisModule_ReplyWithLongLong(ctx, selected[r]);
    RedisModule_Free(selected);
    return REDISMODULE_OK;
}

/* the sources follow the rule's parameter and options, and CENTER is an option of CCLIP alone: incomplete
 * specs, so Redis asks the command (getkeys-api) */
static const RedisModuleCommandKeySpec agg_keys[] = {
    KEY_AT(1, KEY_REPLACE),
    {.flags = KEY_RO | REDISMODULE_CMD_KEY_INCOMPLETE, .begin_search_type = REDISMODULE_KSPEC_BS_UNKNOWN,
     .find_keys_type = REDISMODULE_KSPEC_FK_UNKNOWN},
    KEY_AFTER("CENTER", 4, KEY_RO | REDISMODULE_CMD_KEY_INCOMPLETE),
    {0},
};
static RedisModuleCommandArg trimmed_param[] = {{.name = "k", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1}, {0}};
static RedisModuleCommandArg krum_param[] = {{.name = "f", .type = REDISMODULE_ARG_TYPE_INTEGER, .key_spec_index = -1}, {0}};
static RedisModuleCommandArg cclip_param[] = {{.name = "tau", .type = REDISMODULE_ARG_TYPE_DOUBLE, .key_spec_index = -1}, {0}};
static RedisModuleCommandArg rule_choices[] = {
    {.name = "mean", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "MEAN"},
    {.name = "median", .type = REDISMODULE_ARG_TYPE_PURE_TOKEN, .key_spec_index = -1, .token = "MEDIAN"},
    {.name = "trimmed", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1, .token = "TRIMMED", .subargs = trimmed_param},
    {.name = "krum", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1, .token = "KRUM", .subargs = krum_param},
    {.name = "cclip", .type = REDISMODULE_ARG_TYPE_BLOCK, .key_spec_index = -1, .token = "CCLIP", .subargs = cclip_param},
    {0},
};
static const RedisModuleCommandArg agg_args[] = {
    KEY_ARG("dest", 0, 0),
    {.name = "rule", .type = REDISMODULE_ARG_TYPE_ONEOF, .key_spec_index = -1, .subargs = rule_choices},
    KEY_ARG("src", 1, REDISMODULE_CMD_ARG_MULTIPLE),
    {0},
};
const CommandDef tensor_agg_def = {
    .name = "tensor.agg", .run = tensor_agg, .flags = "write deny-oom getkeys-api", .arity = -4,
    .summary = "Stores a robust aggregate of the sources at dest: MEAN, MEDIAN, TRIMMED k, KRUM f [MULTI m] (replies "
               "the selected source indices) or CCLIP tau [ITERS l] [CENTER key]",
    .complexity = "O(N*M*log(M)^2) for MEDIAN and TRIMMED, O(N*M^2) for KRUM, O(N*M*l) for CCLIP: N elements, M sources",
    .key_specs = agg_keys, .positional = agg_args, .options_at = 2, .options = doc_options,
};
