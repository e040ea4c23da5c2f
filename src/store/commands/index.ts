// The command table. Every export of these files is a TensorStore method and a TensorPipeline method of the
// same name (tensorStore.ts generates both), so a new command is one new file here and one line below.
export * from './accum';
export * from './adam';
export * from './agg';
export * from './avg';
export * from './get';
export * from './set';
export * from './setSigned';
export * from './sgd';
