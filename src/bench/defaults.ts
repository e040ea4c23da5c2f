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

export const ROBUST_BENCH_DEFAULTS = {
  peers: 8,
  /** numbers of Byzantine peers (f) to run; 0 is the clean run, one per rule (an attack needs an attacker) */
  byzantine: [0, 3],
  attacks: ['sign-flip', 'gaussian', 'scaled', 'label-flip', 'alie'],
  rules: ['mean', 'median', 'trimmed', 'krum', 'cclip'],
  /** one epoch of 20,480 samples: 8 peers x 40 steps x 2 functions x 32 */
  epochs: 1,
  batch: 32,
  /** two per peer: ALIE takes its mean and spread over the peer's own minibatch gradients */
  functions: 2,
  lr: 0.1,
  momentum: 0.9,
  trainLimit: 20_480,
  testLimit: 2_000,
  /** centered clipping's radius and iterations (from a zero center: the peer runtime passes no CENTER) */
  tau: 1,
  cclipIterations: 3,
  /**
   * 8 peer processes (16 with their servers) share the machine: at 2 s, starved peers of the all-to-all rules
   * were declared failed under load and left the view, which changes what is measured; failure detection is
   * not what this benchmark is about
   */
  heartbeatMs: 10_000,
  seed: 1,
  outDir: 'spirt-bench',
} as const;
