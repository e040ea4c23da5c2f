#include "tensor.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "spirt tensors are stored little-endian; big-endian hosts are not supported"
#endif

/* RDB encoding versions of the tensor type. Loading accepts every version listed here. */
#define TENSOR_ENCVER_V1 1 /* dtype, ndim, dims, accumulator flag, count, weight sum, data */
#define TENSOR_ENCVER_CURRENT TENSOR_ENCVER_V1

#define SERIAL_MAGIC "SPT1"

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
    uint64_t n = 1;
    for (uint32_t i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, dims[i], &n) || n > TENSOR_MAX_BYTES) return "ERR tensor too large";
    if (n * dtype_size(dt) > TENSOR_MAX_BYTES) return "ERR tensor too large";
    *numel = n;
    *nbytes = (size_t)(n * dtype_size(dt));
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

/* ---- protobuf (spirt.Tensor: 1 dtype varint, 2 shape packed int64, 3 data bytes) ---- */

/* 0 on success; rejects varints longer than 10 bytes or running past the end */
static int read_varint(const unsigned char **p, const unsigned char *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end) return -1;
        unsigned char b = *(*p)++;
        if (shift == 63 && b > 1) return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static const char *add_dim(uint64_t v, uint64_t *dims, uint32_t *ndim) {
    if ((int64_t)v < 0) return "ERR PROTO shape has a negative dimension";
    if (*ndim >= TENSOR_MAX_DIMS) return "ERR too many dimensions (at most 8)";
    dims[(*ndim)++] = v;
    return NULL;
}

const char *tensor_from_proto(const unsigned char *buf, size_t len, Tensor **out) {
    const unsigned char *p = buf, *end = buf + len, *data = NULL;
    uint64_t dtype = 0, dims[TENSOR_MAX_DIMS], data_len = 0;
    uint32_t ndim = 0;
    const char *err;
    while (p < end) {
        uint64_t key, v;
        if (read_varint(&p, end, &key)) return "ERR PROTO payload is truncated or malformed";
        uint32_t field = (uint32_t)(key >> 3), wire = (uint32_t)(key & 7);
        if (field == 0) return "ERR PROTO payload has field number 0";
        if (wire == 0) {
            if (read_varint(&p, end, &v)) return "ERR PROTO payload is truncated or malformed";
            if (field == 1) dtype = v;
            else if (field == 2 && (err = add_dim(v, dims, &ndim))) return err;
        } else if (wire == 2) {
            if (read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return "ERR PROTO payload is truncated or malformed";
            const unsigned char *field_end = p + v;
            if (field == 2) {
                while (p < field_end) {
                    uint64_t d;
                    if (read_varint(&p, field_end, &d)) return "ERR PROTO shape is malformed";
                    if ((err = add_dim(d, dims, &ndim))) return err;
                }
            } else if (field == 3) {
                data = p;
                data_len = v;
            }
            p = field_end;
        } else if (wire == 1 || wire == 5) {
            size_t skip = wire == 1 ? 8 : 4;
            if ((size_t)(end - p) < skip) return "ERR PROTO payload is truncated or malformed";
            p += skip;
        } else {
            return "ERR PROTO payload uses an unsupported wire type";
        }
    }
    if (dtype > DTYPE_LAST || !dtype_size((int)dtype)) return "ERR PROTO tensor has an unknown dtype";
    uint64_t numel;
    size_t nbytes;
    if ((err = tensor_check_shape((DType)dtype, ndim, dims, &numel, &nbytes))) return err;
    if (data_len != nbytes) return "ERR PROTO data length does not match shape and dtype";
    Tensor *t = tensor_alloc((DType)dtype, ndim, dims);
    if (nbytes) memcpy(t->data, data, nbytes);
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

/* ---- TENSOR.RESTORE header: magic, dtype, ndim, accumulator flag, pad, dims, count, weight sum, nbytes ---- */

size_t tensor_header(const Tensor *t, unsigned char *buf) {
    memcpy(buf, SERIAL_MAGIC, 4);
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
    return (size_t)(p + 24 - buf);
}

/* Checks what an accumulator must satisfy, wherever it came from (payload, RDB). */
static const char *check_state(DType dt, int is_acc, uint64_t count, double weight_sum) {
    if (is_acc && dt != DTYPE_FLOAT32) return "ERR accumulator must be FLOAT32";
    if (!is_acc && (count != 0 || weight_sum != 0)) return "ERR plain tensor with accumulator state";
    if (!isfinite(weight_sum)) return "ERR accumulator weight sum is not finite";
    return NULL;
}

const char *tensor_from_header(const unsigned char *buf, size_t len, const unsigned char *data,
                               size_t data_len, Tensor **out) {
    if (len < 8 || memcmp(buf, SERIAL_MAGIC, 4) != 0) return "ERR header is not a spirt tensor header";
    DType dt = (DType)buf[4];
    uint32_t ndim = buf[5];
    int is_acc = buf[6];
    if (buf[7] != 0 || is_acc > 1) return "ERR header is malformed";
    if (ndim > TENSOR_MAX_DIMS) return "ERR too many dimensions (at most 8)";
    if (len != 8 + 8 * (size_t)ndim + 24) return "ERR header length does not match its dimensions";
    uint64_t dims[TENSOR_MAX_DIMS], count, nbytes, numel;
    double weight_sum;
    memcpy(dims, buf + 8, 8 * ndim);
    const unsigned char *p = buf + 8 + 8 * ndim;
    memcpy(&count, p, 8);
    memcpy(&weight_sum, p + 8, 8);
    memcpy(&nbytes, p + 16, 8);
    size_t expect;
    const char *err = tensor_check_shape(dt, ndim, dims, &numel, &expect);
    if (err) return err;
    if ((err = check_state(dt, is_acc, count, weight_sum))) return err;
    if (nbytes != expect || data_len != expect) return "ERR data length does not match the header's shape";
    Tensor *t = tensor_alloc(dt, ndim, dims);
    t->is_accumulator = is_acc;
    t->count = count;
    t->weight_sum = weight_sum;
    memcpy(t->data, data, expect);
    *out = t;
    return NULL;
}

/* ---- type callbacks ---- */

static void *tensor_rdb_load(RedisModuleIO *io, int encver) {
    if (encver != TENSOR_ENCVER_V1) {
        RedisModule_Log(NULL, "warning", "spirt: cannot load tensor encoding version %d", encver);
        return NULL;
    }
    uint64_t dtype = RedisModule_LoadUnsigned(io), ndim = RedisModule_LoadUnsigned(io);
    uint64_t dims[TENSOR_MAX_DIMS];
    if (RedisModule_IsIOError(io) || ndim > TENSOR_MAX_DIMS || !dtype_size((int)(dtype > DTYPE_LAST ? 0 : dtype)))
        return NULL;
    for (uint64_t i = 0; i < ndim; i++) dims[i] = RedisModule_LoadUnsigned(io);
    uint64_t is_acc = RedisModule_LoadUnsigned(io), count = RedisModule_LoadUnsigned(io);
    double weight_sum = RedisModule_LoadDouble(io);
    if (RedisModule_IsIOError(io) || is_acc > 1) return NULL;
    uint64_t numel;
    size_t expect, len = 0;
    if (tensor_check_shape((DType)dtype, (uint32_t)ndim, dims, &numel, &expect) ||
        check_state((DType)dtype, (int)is_acc, count, weight_sum))
        return NULL;
    char *data = RedisModule_LoadStringBuffer(io, &len);
    if (RedisModule_IsIOError(io) || !data) return NULL;
    if (len != expect) {
        RedisModule_Log(NULL, "warning", "spirt: tensor data length %zu does not match its shape (%zu)", len, expect);
        RedisModule_Free(data);
        return NULL;
    }
    Tensor *t = RedisModule_Alloc(sizeof(Tensor));
    memset(t, 0, sizeof(*t));
    t->dtype = (DType)dtype;
    t->ndim = (uint32_t)ndim;
    memcpy(t->shape, dims, ndim * sizeof(uint64_t));
    t->numel = numel;
    t->nbytes = expect;
    t->is_accumulator = (int)is_acc;
    t->count = count;
    t->weight_sum = weight_sum;
    t->data = (unsigned char *)data; /* LoadStringBuffer's buffer is ours to keep and free with RedisModule_Free */
    return t;
}

static void tensor_rdb_save(RedisModuleIO *io, void *value) {
    const Tensor *t = value;
    RedisModule_SaveUnsigned(io, t->dtype);
    RedisModule_SaveUnsigned(io, t->ndim);
    for (uint32_t i = 0; i < t->ndim; i++) RedisModule_SaveUnsigned(io, t->shape[i]);
    RedisModule_SaveUnsigned(io, (uint64_t)t->is_accumulator);
    RedisModule_SaveUnsigned(io, t->count);
    RedisModule_SaveDouble(io, t->weight_sum);
    RedisModule_SaveStringBuffer(io, (const char *)t->data, t->nbytes);
}

static void tensor_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    const Tensor *t = value;
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
