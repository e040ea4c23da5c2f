/* Signed gradients: TENSOR.SETSIGNED stores the tensor of a spirt.GradientMessage only when its Ed25519
 * signature verifies under a pinned public key, its data matches the signed SHA-256 digest, and its step and
 * view are the expected ones and newer than what the key holds; TENSOR.VERIFYSTATS (and INFO spirt) count
 * the outcomes. libcrypto is opened with dlopen at first use, so the module has no link-time dependency on it.
 *
 * Signed bytes (src/security/signing.ts signedPayload builds the same), integers little-endian:
 * "spirt-grad-v1" | u32 len | peer_id | u64 epoch | u64 step | u64 view | u32 num_batches | u32 dtype |
 * u32 ndim | u64 dim x ndim | sha256(tensor data). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

#define SIGNED_TAG "spirt-grad-v1"
#define PUBLIC_KEY_BYTES 32
#define SIGNATURE_BYTES 64
#define DIGEST_BYTES 32
#define EVP_PKEY_ED25519 1087 /* NID_ED25519 */

/* ---- libcrypto, resolved at first use ---- */

static struct {
    int loaded;
    void *(*pkey_new_raw_public_key)(int type, void *engine, const unsigned char *key, size_t len);
    void (*pkey_free)(void *pkey);
    void *(*md_ctx_new)(void);
    void (*md_ctx_free)(void *ctx);
    int (*digest_verify_init)(void *ctx, void **pctx, const void *md, void *engine, void *pkey);
    int (*digest_verify)(void *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs, size_t tbslen);
    int (*digest)(const void *data, size_t count, unsigned char *md, unsigned int *size, const void *type, void *engine);
    const void *(*sha256)(void);
} crypto;

/* NULL once every function is resolved, else the reply saying why not. SPIRT_LIBCRYPTO names another
 * library file (tests use it to check the reply when libcrypto is missing). */
static const char *crypto_load(char *msg, size_t msgsize) {
    if (crypto.loaded) return NULL;
    const char *name = getenv("SPIRT_LIBCRYPTO");
    if (!name || !*name) name = "libcrypto.so.3";
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(msg, msgsize, "ERR signature verification needs OpenSSL 3's libcrypto (%s): %s", name, why ? why : "not found");
        for (char *c = msg; *c; c++) /* an error reply must stay on one line */
            if (*c == '\r' || *c == '\n') *c = ' ';
        return msg;
    }
    static const char *const symbols[] = {"EVP_PKEY_new_raw_public_key", "EVP_PKEY_free", "EVP_MD_CTX_new",
                                          "EVP_MD_CTX_free", "EVP_DigestVerifyInit", "EVP_DigestVerify",
                                          "EVP_Digest", "EVP_sha256"};
    void *found[sizeof symbols / sizeof symbols[0]];
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        if (!(found[i] = dlsym(lib, symbols[i]))) {
            dlclose(lib);
            snprintf(msg, msgsize, "ERR %s lacks %s: OpenSSL 3's libcrypto is needed", name, symbols[i]);
            return msg;
        }
    }
    /* the library stays open for the server's life */
    memcpy(&crypto.pkey_new_raw_public_key, &found[0], sizeof found[0]);
    memcpy(&crypto.pkey_free, &found[1], sizeof found[1]);
    memcpy(&crypto.md_ctx_new, &found[2], sizeof found[2]);
    memcpy(&crypto.md_ctx_free, &found[3], sizeof found[3]);
    memcpy(&crypto.digest_verify_init, &found[4], sizeof found[4]);
    memcpy(&crypto.digest_verify, &found[5], sizeof found[5]);
    memcpy(&crypto.digest, &found[6], sizeof found[6]);
    memcpy(&crypto.sha256, &found[7], sizeof found[7]);
    crypto.loaded = 1;
    return NULL;
}

static int sha256(const unsigned char *data, size_t len, unsigned char out[DIGEST_BYTES]) {
    unsigned int n = 0;
    return crypto.digest(data, len, out, &n, crypto.sha256(), NULL) == 1 && n == DIGEST_BYTES;
}

static int ed25519_verify(const unsigned char *key, const unsigned char *sig, const unsigned char *msg, size_t len) {
    void *pkey = crypto.pkey_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, PUBLIC_KEY_BYTES);
    if (!pkey) return 0;
    void *ctx = crypto.md_ctx_new();
    int ok = ctx && crypto.digest_verify_init(ctx, NULL, NULL, NULL, pkey) == 1 &&
             crypto.digest_verify(ctx, sig, SIGNATURE_BYTES, msg, len) == 1;
    if (ctx) crypto.md_ctx_free(ctx);
    crypto.pkey_free(pkey);
    return ok;
}

/* ---- outcome counters (since the server started) ---- */

typedef enum { VERIFIED, UNSIGNED, TAMPERED, WRONG_SIGNER, REPLAY, MALFORMED, OUTCOMES } Outcome;
static const char *const outcome_names[OUTCOMES] = {"verified", "unsigned", "tampered", "wrong_signer", "replay", "malformed"};
static unsigned long long outcome_counts[OUTCOMES];

static int refuse(RedisModuleCtx *ctx, Outcome why, const char *msg) {
    outcome_counts[why]++;
    return RedisModule_ReplyWithError(ctx, msg);
}

static void verify_info(RedisModuleInfoCtx *ctx, int for_crash_report) {
    (void)for_crash_report;
    RedisModule_InfoAddSection(ctx, "verify");
    for (int i = 0; i < OUTCOMES; i++) RedisModule_InfoAddFieldULongLong(ctx, outcome_names[i], outcome_counts[i]);
}

int verify_register_info(RedisModuleCtx *ctx) { return RedisModule_RegisterInfoFunc(ctx, verify_info); }

/* ---- spirt.GradientMessage: 1 peer_id, 2 epoch, 3 step, 4 num_batches, 5 tensor, 6 signature, 7 view,
 * 8 digest. Like protobufjs: the last occurrence of a field counts and unknown fields are skipped. ---- */

typedef struct {
    const unsigned char *peer, *tensor, *signature, *digest;
    uint64_t peer_len, tensor_len, signature_len, digest_len;
    uint64_t epoch, step, view, num_batches;
    int has_tensor, has_signature, has_digest;
} GradientMessage;

static const char *parse_gradient(const unsigned char *buf, size_t len, GradientMessage *m) {
    ProtoReader r = {buf, buf + len};
    memset(m, 0, sizeof *m);
    while (r.p < r.end) {
        uint32_t field, wire;
        uint64_t v;
        if (proto_tag(&r, &field, &wire)) return "ERR gradient message is truncated or malformed";
        if (field == 0) return "ERR gradient message has field number 0";
        const int varint = field == 2 || field == 3 || field == 4 || field == 7;
        const int bytes = field == 1 || field == 5 || field == 6 || field == 8;
        if ((varint && wire != 0) || (bytes && wire != 2)) return "ERR gradient message has a field of the wrong wire type";
        if (varint) {
            if (proto_varint(&r, 10, &v)) return "ERR gradient message is truncated or malformed";
            if (field == 2) m->epoch = v;
            else if (field == 3) m->step = v;
            else if (field == 4) m->num_batches = (uint32_t)v; /* a uint32: the low 32 bits count */
            else m->view = v;
        } else if (bytes) {
            if (proto_length(&r, &v)) return "ERR gradient message is truncated or malformed";
            const unsigned char *at = r.p;
            r.p += v;
            if (field == 1) m->peer = at, m->peer_len = v;
            else if (field == 5) m->tensor = at, m->tensor_len = v, m->has_tensor = 1;
            else if (field == 6) m->signature = at, m->signature_len = v, m->has_signature = 1;
            else m->digest = at, m->digest_len = v, m->has_digest = 1;
        } else if (proto_skip(&r, wire, field, 0)) {
            return "ERR gradient message is truncated or malformed";
        }
    }
    if (!m->has_tensor) return "ERR gradient message has no tensor";
    if (m->num_batches == 0) return "ERR gradient message has num_batches 0";
    return NULL;
}

/* The signed bytes (layout at the top of this file), allocated; *len their length. */
static unsigned char *signed_payload(const GradientMessage *m, const Tensor *t, const unsigned char *digest, size_t *len) {
    const size_t tag = sizeof SIGNED_TAG - 1;
    *len = tag + 4 + m->peer_len + 3 * 8 + 3 * 4 + 8 * t->ndim + DIGEST_BYTES;
    unsigned char *out = RedisModule_Alloc(*len), *p = out;
    const uint32_t peer_len = (uint32_t)m->peer_len, num_batches = (uint32_t)m->num_batches, dtype = (uint32_t)t->dtype,
                   ndim = t->ndim;
    memcpy(p, SIGNED_TAG, tag), p += tag;
    memcpy(p, &peer_len, 4), p += 4;
    if (m->peer_len) memcpy(p, m->peer, m->peer_len), p += m->peer_len;
    memcpy(p, &m->epoch, 8), p += 8;
    memcpy(p, &m->step, 8), p += 8;
    memcpy(p, &m->view, 8), p += 8;
    memcpy(p, &num_batches, 4), p += 4;
    memcpy(p, &dtype, 4), p += 4;
    memcpy(p, &ndim, 4), p += 4;
    memcpy(p, t->shape, 8 * t->ndim), p += 8 * t->ndim;
    memcpy(p, digest, DIGEST_BYTES);
    return out;
}

/* ---- TENSOR.SETSIGNED key MESSAGE bytes SIGNER pubkey-key PEER id STEP s VIEW v [EPOCH e] [VERSION ver] ---- */

typedef struct {
    long long step, view, epoch, version;
} SetSignedOptions;

static const OptionSpec setsigned_options[] = {
    {.name = "STEP", .kind = OPT_INTEGER, .offset = offsetof(SetSignedOptions, step), .min = 0, .max = INT64_MAX,
     .required = 1, .error = "ERR STEP must be an integer from 0 to 9223372036854775807"},
    {.name = "VIEW", .kind = OPT_INTEGER, .offset = offsetof(SetSignedOptions, view), .min = 0, .max = INT64_MAX,
     .required = 1, .error = "ERR VIEW must be an integer from 0 to 9223372036854775807"},
    {.name = "EPOCH", .kind = OPT_INTEGER, .offset = offsetof(SetSignedOptions, epoch), .min = 0, .max = INT64_MAX,
     .error = "ERR EPOCH must be an integer from 0 to 9223372036854775807"},
    VERSION_OPTION(SetSignedOptions, version),
    {0},
};

/* Whether the pinned key at `name` is a string of 32 bytes; copies it into key. NULL, or the error reply. */
static const char *read_public_key(RedisModuleCtx *ctx, RedisModuleString *name, unsigned char key[PUBLIC_KEY_BYTES]) {
    RedisModuleKey *k = RedisModule_OpenKey(ctx, name, REDISMODULE_READ);
    if (!k || RedisModule_KeyType(k) == REDISMODULE_KEYTYPE_EMPTY) return "ERR SIGNER key does not exist";
    if (RedisModule_KeyType(k) != REDISMODULE_KEYTYPE_STRING) return REDISMODULE_ERRORMSG_WRONGTYPE;
    size_t len;
    const char *raw = RedisModule_StringDMA(k, &len, REDISMODULE_READ);
    if (!raw || len != PUBLIC_KEY_BYTES) return "ERR SIGNER key does not hold a raw 32-byte Ed25519 public key";
    memcpy(key, raw, PUBLIC_KEY_BYTES);
    return NULL;
}

static int tensor_setsigned(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)env;
    RedisModule_AutoMemory(ctx);
    if (!arg_is(argv[2], "MESSAGE") || !arg_is(argv[4], "SIGNER") || !arg_is(argv[6], "PEER"))
        return RedisModule_ReplyWithError(ctx, "ERR syntax: TENSOR.SETSIGNED key MESSAGE bytes SIGNER pubkey-key PEER id STEP s VIEW v [EPOCH e] [VERSION ver]");
    SetSignedOptions opt = {-1, -1, -1, VERSION_UNSET};
    char msg[320];
    const char *err = parse_options(argv, 8, argc, setsigned_options, &opt, msg, sizeof msg);
    if (err) return RedisModule_ReplyWithError(ctx, err);
    if ((err = crypto_load(msg, sizeof msg))) return RedisModule_ReplyWithError(ctx, err);
    RedisModuleKey *key;
    Tensor *old;
    if (open_tensor(ctx, argv[1], REDISMODULE_WRITE, &key, &old) == WRONG_TYPE)
        return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    unsigned char public_key[PUBLIC_KEY_BYTES];
    if ((err = read_public_key(ctx, argv[5], public_key))) return RedisModule_ReplyWithError(ctx, err);

    size_t len, peer_len;
    const unsigned char *buf = (const unsigned char *)RedisModule_StringPtrLen(argv[3], &len);
    const char *peer = RedisModule_StringPtrLen(argv[7], &peer_len);
    GradientMessage m;
    if ((err = parse_gradient(buf, len, &m))) return refuse(ctx, MALFORMED, err);
    if (!m.has_signature || m.signature_len == 0) return refuse(ctx, UNSIGNED, "UNSIGNED gradient message has no signature");
    if (!m.has_digest || m.digest_len == 0) return refuse(ctx, UNSIGNED, "UNSIGNED gradient message has no digest");
    Tensor *t;
    if ((err = tensor_from_proto(m.tensor, m.tensor_len, &t))) return refuse(ctx, MALFORMED, err);

    unsigned char digest[DIGEST_BYTES], *payload = NULL;
    size_t payload_len = 0;
    Outcome why = VERIFIED;
    const char *reply = NULL;
    if (!sha256(t->data, t->nbytes, digest)) {
        reply = "ERR SHA-256 failed in libcrypto";
    } else if (m.digest_len != DIGEST_BYTES || memcmp(m.digest, digest, DIGEST_BYTES) != 0) {
        why = TAMPERED, reply = "TAMPERED the tensor bytes do not match the signed digest";
    } else if (m.peer_len != peer_len || memcmp(m.peer, peer, peer_len) != 0) {
        why = WRONG_SIGNER, reply = "WRONGSIGNER the message is from another peer than PEER";
    } else {
        payload = signed_payload(&m, t, digest, &payload_len);
        if (m.signature_len != SIGNATURE_BYTES || !ed25519_verify(public_key, m.signature, payload, payload_len))
            why = WRONG_SIGNER, reply = "WRONGSIGNER the signature does not verify under the SIGNER key";
        else if (m.step != (uint64_t)opt.step) why = REPLAY, reply = "REPLAY the message is for another STEP";
        else if (m.view != (uint64_t)opt.view) why = REPLAY, reply = "REPLAY the message is for another VIEW";
        else if (opt.epoch >= 0 && m.epoch != (uint64_t)opt.epoch) why = REPLAY, reply = "REPLAY the message is for another EPOCH";
    }
    const uint64_t version = opt.version == VERSION_UNSET ? m.step : (uint64_t)opt.version;
    if (!reply && old && old->version >= version)
        why = REPLAY, reply = "REPLAY the key already holds this version or a newer one";
    if (payload) RedisModule_Free(payload);
    if (reply) {
        tensor_free(t);
        return why == VERIFIED ? RedisModule_ReplyWithError(ctx, reply) : refuse(ctx, why, reply);
    }
    t->version = version;
    outcome_counts[VERIFIED]++;
    store_new(ctx, "tensor.setsigned", key, argv[1], t);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static const RedisModuleCommandKeySpec setsigned_keys[] = {KEY_AT(1, KEY_REPLACE), KEY_AT(5, KEY_RO), {0}};
static const RedisModuleCommandArg setsigned_args[] = {
    KEY_ARG("key", 0, 0),
    {.name = "message", .type = REDISMODULE_ARG_TYPE_STRING, .token = "MESSAGE", .summary = "a signed protobuf spirt.GradientMessage"},
    {.name = "signer", .type = REDISMODULE_ARG_TYPE_KEY, .key_spec_index = 1, .token = "SIGNER", .summary = "key holding the raw 32-byte Ed25519 public key"},
    {.name = "peer", .type = REDISMODULE_ARG_TYPE_STRING, .token = "PEER"},
    {0},
};
const CommandDef tensor_setsigned_def = {
    .name = "tensor.setsigned", .run = tensor_setsigned, .flags = "write deny-oom", .arity = -12,
    .summary = "Stores the tensor of a signed GradientMessage only if it verifies: signature, digest, peer, step, view, newer version",
    .complexity = "O(N) in the tensor's bytes", .key_specs = setsigned_keys, .positional = setsigned_args,
    .options_at = 4, .options = setsigned_options,
};

/* ---- TENSOR.VERIFYSTATS: outcome counts of SETSIGNED since the server started, name/value pairs ---- */
static int tensor_verifystats(const CommandEnv *env, RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)env, (void)argv, (void)argc;
    RedisModule_ReplyWithArray(ctx, 2 * OUTCOMES);
    for (int i = 0; i < OUTCOMES; i++) {
        RedisModule_ReplyWithSimpleString(ctx, outcome_names[i]);
        RedisModule_ReplyWithLongLong(ctx, (long long)outcome_counts[i]);
    }
    return REDISMODULE_OK;
}

static const RedisModuleCommandKeySpec verifystats_keys[] = {{0}};
static const RedisModuleCommandArg verifystats_args[] = {{0}};
const CommandDef tensor_verifystats_def = {
    .name = "tensor.verifystats", .run = tensor_verifystats, .flags = "readonly fast", .arity = 1,
    .summary = "Counts of TENSOR.SETSIGNED outcomes since the server started: verified, unsigned, tampered, wrong_signer, replay, malformed",
    .complexity = "O(1)", .key_specs = verifystats_keys, .positional = verifystats_args, .options_at = 0,
};
