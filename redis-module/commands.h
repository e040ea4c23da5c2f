#ifndef SPIRT_COMMANDS_H
#define SPIRT_COMMANDS_H

#include "rm_api.h"
#include "spirt_kernels.h"

extern const spirt_kernels *K;

int TensorSet_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int TensorGet_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int TensorAvg_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int TensorAccum_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int TensorSgd_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int TensorAdam_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int TensorRestore_Command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

#endif
