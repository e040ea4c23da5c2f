// The benchmarks' defaults, apart from their code, so that the CLI's help can name them without loading it.

export const AVERAGING_BENCH_DEFAULTS = {
  /** MobileNetV3-small, DenseNet-121 and ResNet-18 parameter counts */
  params: [2_500_000, 8_000_000, 11_690_000],
  peers: [2, 4, 8, 16],
  /** timed runs after a warm-up; the median is reported */
  reps: 3,
  /** where the results go, relative to the current directory */
  outDir: 'spirt-bench',
} as const;

export const UPDATE_BENCH_DEFAULTS = {
  /** MobileNetV3-small, ResNet-18 and ResNet-50 parameter counts (the research measured ResNet-18 and -50) */
  params: [2_500_000, 11_690_000, 25_600_000],
  optimizers: ['sgd', 'adam'],
  /** timed update steps after a warm-up step; the median is reported */
  reps: 5,
  outDir: 'spirt-bench',
} as const;
