/* The spirt tensor value: dtype, shape, contiguous little-endian data, and accumulator state. */
#ifndef SPIRT_TENSOR_H
#define SPIRT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "rm_api.h"

#define TENSOR_MAX_DIMS 8
/* 4 GiB of data per tensor: far above Redis's default 512 MB bulk limit, low enough to rule out overflow */
#define TENSOR_MAX_BYTES (1ull << 32)
/* Every dimension, even beside a zero one: no tensor holds more elements than this (src/tensor.ts MAX_DIM) */
#define TENSOR_MAX_DIM (1ull << 32)
/* Counts and versions are replied as RESP integers (signed 64-bit) */
#define TENSOR_MAX_INT ((uint64_t)INT64_MAX)

/* Values match proto/tensor.proto's DType. */
typedef enum {
    DTYPE_FLOAT32 = 1,
    DTYPE_FLOAT64 = 2,
    DTYPE_FLOAT16 = 3,
    DTYPE_BFLOAT16 = 4,
    DTYPE_INT8 = 5,
    DTYPE_INT32 = 6,
} DType;

typedef struct Tensor {
    DType dtype;
    uint32_t ndim;
    uint64_t shape[TENSOR_MAX_DIMS];
    uint64_t numel;
    size_t nbytes;
    int is_accumulator;  /* data holds a float32 running sum of count contributions */
    uint64_t count;
    double weight_sum;
    uint64_t version;    /* set by writers (the step a peer published); TENSOR.WAIT waits for it */
    unsigned char *data;
} Tensor;

const char *dtype_name(DType dt);
/* 0 when the name or value is not a dtype */
size_t dtype_size(int dt);
int dtype_from_name(const char *name, size_t len);
/* float32, float16 and bfloat16: the dtypes the module does math on */
int dtype_is_float_math(DType dt);

/* Checks ndim/dims and computes numel and byte size; returns NULL or a static error message. */
const char *tensor_check_shape(DType dt, uint32_t ndim, const uint64_t *dims, uint64_t *numel, size_t *nbytes);
/* The one validity rule of a stored tensor: shape, data length (t->nbytes) and accumulator state. Every path
 * that creates or changes a value checks the result with it before storing (commands, RESTORE, the RDB
 * loader) and the RDB saver asserts it, so whatever a command accepts, a restart loads. NULL when valid. */
const char *tensor_validate(const Tensor *t);
/* A zeroed tensor (tensor_new) or one whose data the caller overwrites whole (tensor_alloc): skipping the
 * zeroing saves touching every page twice. NULL for an invalid shape. */
Tensor *tensor_new(DType dt, uint32_t ndim, const uint64_t *dims);
Tensor *tensor_alloc(DType dt, uint32_t ndim, const uint64_t *dims);
Tensor *tensor_clone(const Tensor *t);
void tensor_free(Tensor *t);
int tensor_same_shape(const Tensor *a, const Tensor *b);

/* Protobuf reading, as protobufjs's Reader does it (shared by the Tensor and GradientMessage parsers). */
typedef struct {
    const unsigned char *p, *end;
} ProtoReader;
/* A varint of at most max_bytes bytes, bits beyond 64 dropped; -1 when it runs past the end or is longer. */
int proto_varint(ProtoReader *r, int max_bytes, uint64_t *out);
/* A tag: at most 5 bytes holding a value below 2^32 (field numbers up to 2^29-1). */
int proto_tag(ProtoReader *r, uint32_t *field, uint32_t *wire);
/* A length prefix: at most 5 bytes, below 2^31, and no longer than what is left. */
int proto_length(ProtoReader *r, uint64_t *len);
/* Skips an unknown field (protobufjs Reader.skipType): unbounded varints, groups up to the nesting limit. */
int proto_skip(ProtoReader *r, uint32_t wire, uint32_t field, int depth);

/* PROTO: a protobuf spirt.Tensor. Parse returns NULL on success (filling *out, data copied) or an error. */
const char *tensor_from_proto(const unsigned char *buf, size_t len, Tensor **out);
/* Encodes t's dtype and shape with `data`: t->nbytes bytes, t's own or (GET MEAN) its mean computed by the caller. */
unsigned char *tensor_to_proto(const Tensor *t, const unsigned char *data, size_t *len);

/* TENSOR.RESTORE key header data: how replication and AOF rewrite carry a whole value (accumulator state and
 * version included). The header holds every field but the data; TENSOR_HEADER_MAX bytes at most. */
#define TENSOR_HEADER_MAX (8 + 8 * TENSOR_MAX_DIMS + 32)
size_t tensor_header(const Tensor *t, unsigned char *buf);
const char *tensor_from_header(const unsigned char *header, size_t header_len, const unsigned char *data,
                               size_t data_len, Tensor **out);

extern RedisModuleType *TensorType;
int tensor_type_register(RedisModuleCtx *ctx);

#endif
