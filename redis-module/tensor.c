/* The spirt tensor type: its value (dtype, shape, data, accumulator state) and the one validity rule every
 * stored value satisfies; the PROTO codec (exactly protobufjs's accepted set); the TENSOR.RESTORE header; and
 * the Redis type callbacks (RDB save/load with named encoding versions, AOF rewrite, digest, copy, free). */
#include "tensor.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "spirt tensors are stored little-endian; big-endian hosts are not supported"
#endif

/* RDB encoding versions of the tensor type. Loading accepts every version listed here. */
#define TENSOR_ENCVER_V1 1 /* dtype, ndim, dims, accumulator flag, count, weight sum, data */
#define TENSOR_ENCVER_V2 2 /* V1's fields, then the version, then the data */
#define TENSOR_ENCVER_CURRENT TENSOR_ENCVER_V2

/* TENSOR.RESTORE headers: SPT1 (no version: loads as version 0, e.g. from an older AOF), SPT2 (version last) */
#define HEADER_MAGIC_V1 "SPT1"
#define HEADER_MAGIC_V2 "SPT2"

RedisModuleType *TensorType = NULL;

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [DTYPE_FLOAT32] = {"FLOAT32", 4}, [DTYPE_FLOAT64] = {"FLOAT64", 8}, [DTYPE_FLOAT16] = {"FLOAT16", 2},
    [DTYPE_BFLOAT16] = {"BFLOAT16", 2}, [DTYPE_INT8] = {"INT8", 1},    [DTYPE_INT32] = {"INT32", 4},
};
#define DTYPE_LAST DTYPE_INT32

const char *dtype_name(DType dt) { return dtype_size(dt) ? dtypes[dt].name : "UNKNOWN"; }

size_t dtype_size(int dt) { return dt >= DTYPE_FLOAT32 && dt <= DTYPE_LAST ? dtypes[dt].size : 0; }

int dtype_from_name(const char *name, size_t len) {
    for (int dt = DTYPE_FLOAT32; dt <= DTYPE_LAST; dt++)
        if (strlen(dtypes[dt].name) == len && strncasecmp(dtypes[dt].name, name, len) == 0) return dt;
    return 0;
}

int dtype_is_float_math(DType dt) { return dt == DTYPE_FLOAT32 || dt == DTYPE_FLOAT16 || dt == DTYPE_BFLOAT16; }

const char *tensor_check_shape(DType dt, uint32_t ndim, const uint64_t *dims, uint64_t *numel, size_t *nbytes) {
    if (!dtype_size(dt)) return "ERR unknown dtype";
    if (ndim > TENSOR_MAX_DIMS) return "ERR too many dimensions (at most 8)";
    int empty = 0;
    for (uint32_t i = 0; i < ndim; i++) {
        if (dims[i] > TENSOR_MAX_DIM) return "ERR dimension too large (at most 4294967296)";
        empty |= dims[i] == 0;
    }
    /* the size does not depend on the order of the dimensions: a zero anywhere makes the tensor empty */
    uint64_t n = empty ? 0 : 1;
    for (uint32_t i = 0; i < ndim && n; i++)
        if (__builtin_mul_overflow(n, dims[i], &n) || n > TENSOR_MAX_BYTES) return "ERR tensor too large";
    if (n * dtype_size(dt) > TENSOR_MAX_BYTES) return "ERR tensor too large";
    *numel = n;
    *nbytes = (size_t)(n * dtype_size(dt));
    return NULL;
}

const char *tensor_validate(const Tensor *t) {
    uint64_t numel;
    size_t nbytes;
    const char *err = tensor_check_shape(t->dtype, t->ndim, t->shape, &numel, &nbytes);
    if (err) return err;
    if (t->nbytes != nbytes) return "ERR data length does not match shape and dtype";
    if (t->is_accumulator) {
        if (t->dtype != DTYPE_FLOAT32) return "ERR accumulator must be FLOAT32";
        if (!isfinite(t->weight_sum)) return "ERR accumulator weight sum is not finite";
        if (t->count > TENSOR_MAX_INT) return "ERR accumulator count is too large";
    } else if (t->count != 0 || t->weight_sum != 0) {
        return "ERR plain tensor with accumulator state";
    }
    if (t->version > TENSOR_MAX_INT) return "ERR version is too large";
    return NULL;
}

Tensor *tensor_alloc(DType dt, uint32_t ndim, const uint64_t *dims) {
    uint64_t numel;
    size_t nbytes;
    if (tensor_check_shape(dt, ndim, dims, &numel, &nbytes)) return NULL;
    Tensor *t = RedisModule_Alloc(sizeof(Tensor));
    memset(t, 0, sizeof(*t));
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, dims, ndim * sizeof(uint64_t));
    t->numel = numel;
    t->nbytes = nbytes;
    t->data = RedisModule_Alloc(nbytes ? nbytes : 1);
    return t;
}

Tensor *tensor_new(DType dt, uint32_t ndim, const uint64_t *dims) {
    Tensor *t = tensor_alloc(dt, ndim, dims);
    if (t) memset(t->data, 0, t->nbytes);
    return t;
}

Tensor *tensor_clone(const Tensor *src) {
    Tensor *t = tensor_alloc(src->dtype, src->ndim, src->shape);
    t->is_accumulator = src->is_accumulator;
    t->count = src->count;
    t->weight_sum = src->weight_sum;
    t->version = src->version;
    memcpy(t->data, src->data, src->nbytes);
    return t;
}

void tensor_free(Tensor *t) {
    if (!t) return;
    RedisModule_Free(t->data);
    RedisModule_Free(t);
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, a->ndim * sizeof(uint64_t)) == 0;
}

/* ---- protobuf (spirt.Tensor: 1 dtype enum, 2 shape repeated int64, 3 data bytes) ----
 * The parser accepts exactly the messages protobufjs accepts (src/wire.ts decodeTensor, protobufjs 8's
 * Reader and the generated decoder), so a payload is valid or invalid alike in the module and in every
 * client; test/module/fuzz.test.ts cross-checks the two on mutated messages. */

#define PROTO_RECURSION_LIMIT 100 /* protobufjs Reader.recursionLimit (protoc's default) */
#define PROTO_MALFORMED "ERR PROTO payload is truncated or malformed"

int proto_varint(ProtoReader *r, int max_bytes, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (r->p >= r->end) return -1;
        const unsigned char b = *r->p++;
        if (i < 10) v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

int proto_tag(ProtoReader *r, uint32_t *field, uint32_t *wire) {
    uint64_t tag;
    if (proto_varint(r, 5, &tag) || tag > UINT32_MAX) return -1;
    *field = (uint32_t)(tag >> 3);
    *wire = (uint32_t)(tag & 7);
    return 0;
}

int proto_length(ProtoReader *r, uint64_t *len) {
    return proto_varint(r, 5, len) || *len >= (1ull << 31) || *len > (uint64_t)(r->end - r->p) ? -1 : 0;
}

int proto_skip(ProtoReader *r, uint32_t wire, uint32_t field, int depth) {
    uint64_t len;
    if (depth > PROTO_RECURSION_LIMIT || field == 0) return -1;
    switch (wire) {
    case 0:
        do {
            if (r->p >= r->end) return -1;
        } while (*r->p++ & 0x80);
        return 0;
    case 1:
    case 5:
        len = wire == 1 ? 8 : 4;
        if ((uint64_t)(r->end - r->p) < len) return -1;
        r->p += len;
        return 0;
    case 2:
        if (proto_length(r, &len)) return -1;
        r->p += len;
        return 0;
    case 3:
        for (;;) {
            uint32_t nested, nested_wire;
            if (proto_tag(r, &nested, &nested_wire) || nested == 0) return -1;
            if (nested_wire == 4) return nested == field ? 0 : -1;
            if (proto_skip(r, nested_wire, nested, depth + 1)) return -1;
        }
    default:
        return -1; /* an end-group without its start, or wire types 6 and 7 */
    }
}

static const char *add_dim(uint64_t v, uint64_t *dims, uint32_t *ndim) {
    if ((int64_t)v < 0) return "ERR PROTO shape has a negative dimension";
    if (*ndim >= TENSOR_MAX_DIMS) return "ERR too many dimensions (at most 8)";
    dims[(*ndim)++] = v;
    return NULL;
}

const char *tensor_from_proto(const unsigned char *buf, size_t len, Tensor **out) {
    ProtoReader r = {buf, buf + len};
    const unsigned char *data = NULL;
    uint64_t dims[TENSOR_MAX_DIMS], data_len = 0, v;
    int32_t dtype = 0;
    uint32_t ndim = 0, field, wire;
    const char *err;
    while (r.p < r.end) {
        if (proto_tag(&r, &field, &wire)) return PROTO_MALFORMED;
        if (field == 1 && wire == 0) {
            if (proto_varint(&r, 10, &v)) return PROTO_MALFORMED;
            dtype = (int32_t)(uint32_t)v; /* an enum is an int32: the low 32 bits count */
        } else if (field == 2 && wire == 0) {
            if (proto_varint(&r, 10, &v)) return PROTO_MALFORMED;
            if ((err = add_dim(v, dims, &ndim))) return err;
        } else if (field == 2 && wire == 2) {
            if (proto_length(&r, &v)) return PROTO_MALFORMED;
            ProtoReader packed = {r.p, r.p + v};
            while (packed.p < packed.end) {
                uint64_t d;
                if (proto_varint(&packed, 10, &d)) return "ERR PROTO shape is malformed";
                if ((err = add_dim(d, dims, &ndim))) return err;
            }
            r.p = packed.end;
        } else if (field == 3 && wire == 2) {
            if (proto_length(&r, &data_len)) return PROTO_MALFORMED;
            data = r.p;
            r.p += data_len;
        } else if (field == 0) {
            return "ERR PROTO payload has field number 0";
        } else if (proto_skip(&r, wire, field, 0)) {
            return wire == 4 || wire > 5 ? "ERR PROTO payload uses an unsupported wire type" : PROTO_MALFORMED;
        }
    }
    if (dtype < DTYPE_FLOAT32 || dtype > DTYPE_LAST) return "ERR PROTO tensor has an unknown dtype";
    Tensor probe = {.dtype = (DType)dtype, .ndim = ndim, .nbytes = data_len};
    memcpy(probe.shape, dims, ndim * sizeof(uint64_t));
    if ((err = tensor_validate(&probe))) return err;
    Tensor *t = tensor_alloc(probe.dtype, ndim, dims);
    if (data_len) memcpy(t->data, data, data_len);
    *out = t;
    return NULL;
}

static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

unsigned char *tensor_to_proto(const Tensor *t, const unsigned char *data, size_t *len) {
    unsigned char shape[TENSOR_MAX_DIMS * 10];
    size_t shape_len = 0;
    for (uint32_t i = 0; i < t->ndim; i++) shape_len += put_varint(shape + shape_len, t->shape[i]);
    unsigned char *buf = RedisModule_Alloc(1 + 10 + 1 + 10 + shape_len + 1 + 10 + t->nbytes);
    size_t n = 0;
    buf[n++] = (1 << 3) | 0;
    n += put_varint(buf + n, (uint64_t)t->dtype);
    if (shape_len) {
        buf[n++] = (2 << 3) | 2;
        n += put_varint(buf + n, shape_len);
        memcpy(buf + n, shape, shape_len);
        n += shape_len;
    }
    buf[n++] = (3 << 3) | 2;
    n += put_varint(buf + n, t->nbytes);
    memcpy(buf + n, data, t->nbytes);
    *len = n + t->nbytes;
    return buf;
}

/* ---- TENSOR.RESTORE header: magic, dtype, ndim, accumulator flag, pad, dims, count, weight sum, nbytes, version ---- */

size_t tensor_header(const Tensor *t, unsigned char *buf) {
    memcpy(buf, HEADER_MAGIC_V2, 4);
    buf[4] = (unsigned char)t->dtype;
    buf[5] = (unsigned char)t->ndim;
    buf[6] = (unsigned char)(t->is_accumulator != 0);
    buf[7] = 0;
    unsigned char *p = buf + 8;
    memcpy(p, t->shape, 8 * t->ndim);
    p += 8 * t->ndim;
    uint64_t nbytes = t->nbytes;
    memcpy(p, &t->count, 8);
    memcpy(p + 8, &t->weight_sum, 8);
    memcpy(p + 16, &nbytes, 8);
    memcpy(p + 24, &t->version, 8);
    return (size_t)(p + 32 - buf);
}

const char *tensor_from_header(const unsigned char *buf, size_t len, const unsigned char *data,
                               size_t data_len, Tensor **out) {
    const int v2 = len >= 8 && memcmp(buf, HEADER_MAGIC_V2, 4) == 0;
    if (len < 8 || (!v2 && memcmp(buf, HEADER_MAGIC_V1, 4) != 0)) return "ERR header is not a spirt tensor header";
    Tensor probe = {.dtype = (DType)buf[4], .ndim = buf[5], .is_accumulator = buf[6]};
    if (buf[7] != 0 || buf[6] > 1) return "ERR header is malformed";
    if (probe.ndim > TENSOR_MAX_DIMS) return "ERR too many dimensions (at most 8)";
    if (len != 8 + 8 * (size_t)probe.ndim + (v2 ? 32 : 24)) return "ERR header length does not match its dimensions";
    uint64_t nbytes;
    memcpy(probe.shape, buf + 8, 8 * probe.ndim);
    const unsigned char *p = buf + 8 + 8 * probe.ndim;
    memcpy(&probe.count, p, 8);
    memcpy(&probe.weight_sum, p + 8, 8);
    memcpy(&nbytes, p + 16, 8);
    if (v2) memcpy(&probe.version, p + 24, 8);
    if (nbytes != data_len) return "ERR data length does not match the header";
    probe.nbytes = data_len;
    const char *err = tensor_validate(&probe);
    if (err) return err;
    Tensor *t = tensor_alloc(probe.dtype, probe.ndim, probe.shape);
    t->is_accumulator = probe.is_accumulator;
    t->count = probe.count;
    t->weight_sum = probe.weight_sum;
    t->version = probe.version;
    memcpy(t->data, data, data_len);
    *out = t;
    return NULL;
}

/* ---- type callbacks ---- */

/* Reads the whole value, data included, before judging it: a refused value leaves the stream at the value's
 * end, so Redis reports the refusal itself (Redis 7.0 treats a NULL here as a corrupt RDB: the server stops
 * at startup, RESTORE and MIGRATE reply an error) rather than a misplaced EOF marker. */
static void *tensor_rdb_load(RedisModuleIO *io, int encver) {
    if (encver != TENSOR_ENCVER_V1 && encver != TENSOR_ENCVER_V2) {
        RedisModule_Log(NULL, "warning", "spirt: cannot load tensor encoding version %d", encver);
        return NULL;
    }
    const uint64_t dtype = RedisModule_LoadUnsigned(io);
    Tensor probe = {.dtype = dtype <= DTYPE_LAST ? (DType)dtype : 0};
    const uint64_t ndim = RedisModule_LoadUnsigned(io);
    /* a corrupt ndim is read no further than the stream's next non-integer field, where IO errors begin */
    for (uint64_t i = 0; i < ndim && !RedisModule_IsIOError(io); i++) {
        uint64_t d = RedisModule_LoadUnsigned(io);
        if (i < TENSOR_MAX_DIMS) probe.shape[i] = d;
    }
    const uint64_t is_acc = RedisModule_LoadUnsigned(io);
    probe.count = RedisModule_LoadUnsigned(io);
    probe.weight_sum = RedisModule_LoadDouble(io);
    if (encver >= TENSOR_ENCVER_V2) probe.version = RedisModule_LoadUnsigned(io);
    size_t len = 0;
    char *data = RedisModule_LoadStringBuffer(io, &len);
    if (RedisModule_IsIOError(io) || !data) {
        if (data) RedisModule_Free(data);
        return NULL;
    }
    probe.ndim = ndim > TENSOR_MAX_DIMS ? TENSOR_MAX_DIMS + 1 : (uint32_t)ndim;
    probe.is_accumulator = (int)(is_acc & 1);
    probe.nbytes = len;
    const char *err = is_acc > 1 ? "ERR accumulator flag is not 0 or 1" : tensor_validate(&probe);
    if (err) {
        RedisModule_Log(NULL, "warning", "spirt: refusing a stored tensor: %s", err + 4);
        RedisModule_Free(data);
        return NULL;
    }
    Tensor *t = RedisModule_Alloc(sizeof(Tensor));
    *t = probe;
    t->numel = len / dtype_size(t->dtype);
    t->data = (unsigned char *)data; /* LoadStringBuffer's buffer is ours to keep and free with RedisModule_Free */
    return t;
}

/* Unreachable, since every writer validates first; but a value the loader refuses would make the whole RDB
 * (or AOF) unloadable, so stop rather than write it: a BGSAVE child dies and the last good file stays. */
static void assert_valid(const Tensor *t) {
    const char *err = tensor_validate(t);
    if (err) RedisModule__Assert(err, __FILE__, __LINE__);
}

static void tensor_rdb_save(RedisModuleIO *io, void *value) {
    const Tensor *t = value;
    assert_valid(t);
    RedisModule_SaveUnsigned(io, t->dtype);
    RedisModule_SaveUnsigned(io, t->ndim);
    for (uint32_t i = 0; i < t->ndim; i++) RedisModule_SaveUnsigned(io, t->shape[i]);
    RedisModule_SaveUnsigned(io, (uint64_t)t->is_accumulator);
    RedisModule_SaveUnsigned(io, t->count);
    RedisModule_SaveDouble(io, t->weight_sum);
    RedisModule_SaveUnsigned(io, t->version);
    RedisModule_SaveStringBuffer(io, (const char *)t->data, t->nbytes);
}

static void tensor_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    const Tensor *t = value;
    assert_valid(t);
    unsigned char header[TENSOR_HEADER_MAX];
    size_t len = tensor_header(t, header);
    RedisModule_EmitAOF(aof, "TENSOR.RESTORE", "sbb", key, (const char *)header, len, (const char *)t->data, t->nbytes);
}

static size_t tensor_mem_usage(const void *value) {
    const Tensor *t = value;
    return sizeof(Tensor) + t->nbytes;
}

static void tensor_digest(RedisModuleDigest *md, void *value) {
    const Tensor *t = value;
    RedisModule_DigestAddLongLong(md, t->dtype);
    for (uint32_t i = 0; i < t->ndim; i++) RedisModule_DigestAddLongLong(md, (long long)t->shape[i]);
    RedisModule_DigestAddLongLong(md, t->is_accumulator);
    RedisModule_DigestAddLongLong(md, (long long)t->count);
    RedisModule_DigestAddStringBuffer(md, (const char *)&t->weight_sum, sizeof(double));
    RedisModule_DigestAddLongLong(md, (long long)t->version);
    RedisModule_DigestAddStringBuffer(md, (const char *)t->data, t->nbytes);
    RedisModule_DigestEndSequence(md);
}

static void tensor_free_cb(void *value) { tensor_free(value); }

static size_t tensor_free_effort(RedisModuleString *key, const void *value) {
    (void)key;
    return ((const Tensor *)value)->nbytes / 4096 + 1; /* large tensors are freed lazily by UNLINK/FLUSHALL ASYNC */
}

static void *tensor_copy(RedisModuleString *from, RedisModuleString *to, const void *value) {
    (void)from;
    (void)to;
    return tensor_clone(value);
}

int tensor_type_register(RedisModuleCtx *ctx) {
    RedisModuleTypeMethods tm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = tensor_rdb_load,
        .rdb_save = tensor_rdb_save,
        .aof_rewrite = tensor_aof_rewrite,
        .mem_usage = tensor_mem_usage,
        .digest = tensor_digest,
        .free = tensor_free_cb,
        .free_effort = tensor_free_effort,
        .copy = tensor_copy,
    };
    TensorType = RedisModule_CreateDataType(ctx, "spirt-tsr", TENSOR_ENCVER_CURRENT, &tm);
    return TensorType ? REDISMODULE_OK : REDISMODULE_ERR;
}
