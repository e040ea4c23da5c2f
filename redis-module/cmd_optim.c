/* Optimizer commands: TENSOR.SGD and TENSOR.ADAM update a FLOAT32 parameter in place from a gradient, with
 * their state (velocity, Adam moments) in keys of their own beside it. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "command.h"

/* Optimizer state (velocity, Adam moments): an existing plain FLOAT32 tensor shaped like param, or a new zero one. */
typedef struct {
    RedisModuleString *name;
    RedisModuleKey *key;
    Tensor *t;
    int created;
} StateKey;

static const char *open_state(RedisModuleCtx *ctx, RedisModuleString *name, const Tensor *param, const char *role,
                              StateKey *s, char *msg, size_t msgsize) {
    s->name = name;
    Lookup l = open_tensor(ctx, name, REDISMODULE_WRITE, &s->key, &s->t);
    if (l == WRONG_TYPE) return REDISMODULE_ERRORMSG_WRONGTYPE;
    s->created = l == MISSING;
    if (!s->created && (s->t->dtype != DTYPE_FLOAT32 || s->t->is_accumulator || !tensor_same_shape(s->t, param))) {
        snprintf(msg, msgsize, "ERR %s must be a FLOAT32 tensor shaped like the parameter", role);
        return msg;
    }
    return NULL;
}

static void commit_state(RedisModuleCtx *ctx, const char *event, StateKey *s, long long version) {
    apply_version(s->t, version);
    if (s->created) RedisModule_ModuleTypeSetValue(s->key, TensorType, s->t);
    publish_change(ctx, event, s->name, s->t);
}

/* Opens param (plain FLOAT32) and grad (float dtype, same shape), replying with an error when either is unfit. */
static int open_param_grad(RedisModuleCtx *ctx, RedisModuleString **argv, RedisModuleKey **pkey, Tensor **param,
                           Tensor **grad) {
    RedisModuleKey *gkey;
    char msg[160];
    const char *err;
    if (same_key(argv[1], argv[2])) return RedisModule_ReplyWithError(ctx, "ERR parameter and gradient must be different keys"), 0;
    Lookup l = open_tensor(ctx, argv[1], REDISMODULE_WRITE, pkey, param);
    if (l != FOUND) return reply_lookup_error(ctx, l, "parameter"), 0;
    if ((*param)->dtype != DTYPE_FLOAT32 || (*param)->is_accumulator)
        return RedisModule_ReplyWithError(ctx, "ERR parameter must be a plain FLOAT32 tensor"), 0;
    l = open_tensor(ctx, argv[2], REDISMODULE_READ, &gkey, grad);
    if (l != FOUND) return reply_lookup_error(ctx, l, "gradient"), 0;
    if ((err = check_math_input(*grad, "gradient", msg, sizeof msg))) return RedisModule_ReplyWithError(ctx, err), 0;
    if (!tensor_same_shape(*param, *grad)) return RedisModule_ReplyWithError(ctx, "ERR gradient shape does not match the parameter"), 0;
    return 1;
}

/* Hands the gradient to fn as float32: in one piece when it is already plain FLOAT32, else widened or scaled
 * CHUNK elements at a time. */
typedef void (*GradChunkFn)(void *state, size_t off, size_t len, const float *g);

static void for_grad_chunks(const spirt_kernels *k, const Tensor *grad, GradChunkFn fn, void *state) {
    const float factor = mean_factor(grad);
    if (grad->dtype == DTYPE_FLOAT32 && factor == 1.0f) {
        fn(state, 0, grad->numel, (const float *)grad->data);
        return;
    }
    float tmp[CHUNK];
    for (size_t off = 0; off < grad->numel; off += CHUNK) {
        size_t len = grad->numel - off < CHUNK ? grad->numel - off : CHUNK;
        fn(state, off, len, f32_chunk(k, grad, off, len, factor, tmp));
    }
}

/* GT makes a step idempotent: a retried step (same VERSION) or a late one (lower) changes nothing and replies
 * nil, so an orchestrator may retry an update whose reply it lost without applying it twice. */
#define GT_OPTION(options_type, field) {.name = "GT", .kind = OPT_FLAG, .offset = offsetof(options_type, field), .flag = 1}

static int already_applied(const Tensor *param, int gt, long long version) {
    return gt && param->version >= (uint64_t)version;
}

/* The key arguments of both optimizers come first: param and grad, then options from here on. */
#define OPTIONS_FROM 3

/* ---- TENSOR.SGD param grad LR lr [MOMENTUM m VELOCITY vkey] [DAMPENING d] [NESTEROV] [WEIGHTDECAY wd]
 *      [VERSION v [GT]] ---- */
typedef struct {
    float lr, momentum, dampening, weight_decay;
    int nesterov, gt;
    RedisModuleString *velocity;
    long long version;
} SgdOptions;

static const OptionSpec sgd_options[] = {
    {.name = "LR", .kind = OPT_FLOAT, .offset = offsetof(SgdOptions, lr), .required = 1, .lo = 0, .hi = FLT_MAX,
     .error = "ERR LR must be a non-negative number (finite as a float32)"},
    {.name = "MOMENTUM", .kind = OPT_FLOAT, .offset = offsetof(SgdOptions, momentum), .lo = 0, .hi = FLT_MAX,
     .error = "ERR MOMENTUM must be a non-negative number (finite as a float32)"},
    {.name = "VELOCITY", .kind = OPT_KEY, .offset = offsetof(SgdOptions, velocity), .key_spec = 2},
    {.name = "DAMPENING", .kind = OPT_FLOAT, .offset = offsetof(SgdOptions, dampening), .lo = 0, .hi = 1,
     .error = "ERR DAMPENING must be in [0, 1]"},
    {.name = "NESTEROV", .kind = OPT_FLAG, .offset = offsetof(SgdOptions, nesterov), .flag = 1},
    {.name = "WEIGHTDECAY", .kind = OPT_FLOAT, .offset = offsetof(SgdOptions, weight_decay), .lo = 0, .hi = FLT_MAX,
     .error = "ERR WEIGHTDECAY must be a non-negative number (finite as a float32)"},
    VERSION_OPTION(SgdOptions, version),
    GT_OPTION(SgdOptions, gt),
    {0},
};

typedef struct {
    const spirt_kernels *k;
    float *param, *velocity;
    spirt_sgd_params p;
} SgdState;

static void sgd_chunk(void *state, size_t off, size_t len, const float *g) {
    SgdState *s = state;
    s->k->sgd(s->param + off, g, s->velocity ? s->velocity + off : NULL, len, &s->p);
}

static int tensor_sgd(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    SgdOptions opt = {.version = VERSION_UNSET};
    char msg[256];
    const char *err = parse_options(argv, OPTIONS_FROM, argc, sgd_options, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    if (opt.gt && opt.version == VERSION_UNSET) return RedisModule_ReplyWithError(ctx, "ERR GT needs a VERSION");
    if (opt.momentum > 0 && !opt.velocity) return RedisModule_ReplyWithError(ctx, "ERR MOMENTUM needs a VELOCITY key");
    if (opt.nesterov && !(opt.momentum > 0)) return RedisModule_ReplyWithError(ctx, "ERR NESTEROV needs a positive MOMENTUM");
    if (opt.velocity && (same_key(opt.velocity, argv[1]) || same_key(opt.velocity, argv[2])))
        return RedisModule_ReplyWithError(ctx, "ERR VELOCITY must be a key of its own");
    RedisModuleKey *pkey;
    Tensor *param, *grad;
    if (!open_param_grad(ctx, argv, &pkey, &param, &grad)) return REDISMODULE_OK;
    StateKey vel = {0};
    if (opt.velocity && (err = open_state(ctx, opt.velocity, param, "VELOCITY", &vel, msg, sizeof msg)))
        return RedisModule_ReplyWithError(ctx, err);
    /* after every check, before anything is allocated or written */
    if (already_applied(param, opt.gt, opt.version)) return RedisModule_ReplyWithNull(ctx);
    if (vel.created) vel.t = tensor_new(DTYPE_FLOAT32, param->ndim, param->shape);
    /* a velocity key that does not exist yet is the buffer's first step: PyTorch's buf = g, undampened */
    SgdState state = {env->k, (float *)param->data, vel.t ? (float *)vel.t->data : NULL,
                      {opt.lr, opt.momentum, opt.dampening, opt.weight_decay, opt.nesterov, vel.created}};
    for_grad_chunks(env->k, grad, sgd_chunk, &state);
    apply_version(param, opt.version);
    publish_change(ctx, "tensor.sgd", argv[1], param);
    if (vel.t) commit_state(ctx, "tensor.sgd", &vel, opt.version);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static const RedisModuleCommandKeySpec sgd_keys[] = {
    KEY_AT(1, KEY_UPDATE), KEY_AT(2, KEY_RO), KEY_AFTER("VELOCITY", OPTIONS_FROM, KEY_UPDATE), {0},
};
static const RedisModuleCommandArg param_grad_args[] = {KEY_ARG("param", 0, 0), KEY_ARG("grad", 1, 0), {0}};
const CommandDef tensor_sgd_def = {
    .name = "tensor.sgd", .run = tensor_sgd, .flags = "write deny-oom", .arity = -5,
    .summary = "One SGD step on param in place (PyTorch's formula), momentum buffer in the VELOCITY key",
    .complexity = "O(N)", .key_specs = sgd_keys, .positional = param_grad_args, .options_at = 2, .options = sgd_options,
};

/* ---- TENSOR.ADAM param grad MKEY m VKEY v LR lr [BETA1 b1] [BETA2 b2] [EPS e] [WEIGHTDECAY wd] [DECOUPLED]
 *      STEP t [VERSION v [GT]] ---- */
typedef struct {
    RedisModuleString *m, *v;
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled, gt;
    long long step, version;
} AdamOptions;

static const OptionSpec adam_options[] = {
    {.name = "MKEY", .kind = OPT_KEY, .offset = offsetof(AdamOptions, m), .required = 1, .key_spec = 2},
    {.name = "VKEY", .kind = OPT_KEY, .offset = offsetof(AdamOptions, v), .required = 1, .key_spec = 3},
    {.name = "LR", .kind = OPT_FLOAT, .offset = offsetof(AdamOptions, lr), .required = 1, .lo = 0, .hi = FLT_MAX,
     .error = "ERR LR must be a non-negative number (finite as a float32)"},
    {.name = "BETA1", .kind = OPT_FLOAT, .offset = offsetof(AdamOptions, beta1), .lo = 0, .hi = 1, .open = OPT_HI_OPEN,
     .error = "ERR BETA1 must be in [0, 1) as a float32"},
    {.name = "BETA2", .kind = OPT_FLOAT, .offset = offsetof(AdamOptions, beta2), .lo = 0, .hi = 1, .open = OPT_HI_OPEN,
     .error = "ERR BETA2 must be in [0, 1) as a float32"},
    {.name = "EPS", .kind = OPT_FLOAT, .offset = offsetof(AdamOptions, eps), .lo = 0, .hi = FLT_MAX, .open = OPT_LO_OPEN,
     .error = "ERR EPS must be a positive number (non-zero as a float32)"},
    {.name = "WEIGHTDECAY", .kind = OPT_FLOAT, .offset = offsetof(AdamOptions, weight_decay), .lo = 0, .hi = FLT_MAX,
     .error = "ERR WEIGHTDECAY must be a non-negative number (finite as a float32)"},
    {.name = "DECOUPLED", .kind = OPT_FLAG, .offset = offsetof(AdamOptions, decoupled), .flag = 1},
    {.name = "STEP", .kind = OPT_INTEGER, .offset = offsetof(AdamOptions, step), .required = 1, .min = 1, .max = INT64_MAX,
     .error = "ERR STEP must be an integer >= 1"},
    VERSION_OPTION(AdamOptions, version),
    GT_OPTION(AdamOptions, gt),
    {0},
};

typedef struct {
    const spirt_kernels *k;
    float *param, *m, *v;
    spirt_adam_params p;
} AdamState;

/* Factors the Adam kernel derives from its hyperparameters (native/kernels/simd_body.h): with any of them
 * infinite, every parameter would turn non-finite whatever the gradient, so such arguments are refused. */
static const char *adam_factors_error(const spirt_adam_params *p) {
    const float bc1 = (float)(1.0 / (1.0 - pow((double)p->beta1, (double)p->step)));
    if (!isfinite(p->lr * bc1)) return "ERR LR is too large: its bias-corrected step size overflows float32";
    if (p->decoupled && !isfinite(p->lr * p->weight_decay)) return "ERR LR * WEIGHTDECAY overflows float32";
    return NULL;
}

static void adam_chunk(void *state, size_t off, size_t len, const float *g) {
    AdamState *s = state;
    s->k->adam(s->param + off, g, s->m + off, s->v + off, len, &s->p);
}

static int tensor_adam(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_AutoMemory(ctx);
    AdamOptions opt = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .version = VERSION_UNSET};
    char msg[256];
    const char *err = parse_options(argv, OPTIONS_FROM, argc, adam_options, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    if (opt.gt && opt.version == VERSION_UNSET) return RedisModule_ReplyWithError(ctx, "ERR GT needs a VERSION");
    const spirt_adam_params hp = {opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay, opt.decoupled, (uint64_t)opt.step};
    if ((err = adam_factors_error(&hp))) return RedisModule_ReplyWithError(ctx, err);
    if (same_key(opt.m, opt.v) || same_key(opt.m, argv[1]) || same_key(opt.m, argv[2]) || same_key(opt.v, argv[1]) ||
        same_key(opt.v, argv[2]))
        return RedisModule_ReplyWithError(ctx, "ERR MKEY and VKEY must be keys of their own");
    RedisModuleKey *pkey;
    Tensor *param, *grad;
    if (!open_param_grad(ctx, argv, &pkey, &param, &grad)) return REDISMODULE_OK;
    StateKey m = {0}, v = {0};
    if ((err = open_state(ctx, opt.m, param, "MKEY", &m, msg, sizeof msg)) ||
        (err = open_state(ctx, opt.v, param, "VKEY", &v, msg, sizeof msg)))
        return RedisModule_ReplyWithError(ctx, err);
    if (already_applied(param, opt.gt, opt.version)) return RedisModule_ReplyWithNull(ctx);
    if (m.created) m.t = tensor_new(DTYPE_FLOAT32, param->ndim, param->shape);
    if (v.created) v.t = tensor_new(DTYPE_FLOAT32, param->ndim, param->shape);
    AdamState state = {env->k, (float *)param->data, (float *)m.t->data, (float *)v.t->data, hp};
    for_grad_chunks(env->k, grad, adam_chunk, &state);
    apply_version(param, opt.version);
    publish_change(ctx, "tensor.adam", argv[1], param);
    commit_state(ctx, "tensor.adam", &m, opt.version);
    commit_state(ctx, "tensor.adam", &v, opt.version);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static const RedisModuleCommandKeySpec adam_keys[] = {
    KEY_AT(1, KEY_UPDATE), KEY_AT(2, KEY_RO), KEY_AFTER("MKEY", OPTIONS_FROM, KEY_UPDATE),
    KEY_AFTER("VKEY", OPTIONS_FROM, KEY_UPDATE), {0},
};
const CommandDef tensor_adam_def = {
    .name = "tensor.adam", .run = tensor_adam, .flags = "write deny-oom", .arity = -11,
    .summary = "One Adam (or AdamW: DECOUPLED) step on param in place, moments in the MKEY and VKEY keys",
    .complexity = "O(N)", .key_specs = adam_keys, .positional = param_grad_args, .options_at = 2, .options = adam_options,
};
