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

export const SCALING_BENCH_DEFAULTS = {
  /** SPIRT's figure: varying batch sizes for different numbers of peers (and functions per peer) */
  peers: [1, 2, 4],
  functions: [1, 2, 4],
  batch: [32, 64, 128],
  epochs: 1,
  /** the first 6,000 Fashion-MNIST training samples and 2,000 test samples: 27 runs in a few minutes on 2 cores */
  trainLimit: 6000,
  testLimit: 2000,
  /** the synchronisation comparison: ResNet-18's parameter count, with a synthetic gradient */
  syncParams: 11_690_000,
  /** spirt's steps at that size (the first one is a warm-up), and the baseline's: one step of it takes minutes
   * at ResNet-18 size here, and the first one is its cheapest (no velocity to decode yet) */
  syncSteps: 5,
  baselineSteps: 1,
  outDir: 'spirt-bench',
} as const;

export const FAILURE_BENCH_DEFAULTS = {
  /** SPIRT's recovery graph: 4 peers, one fails during the second epoch (1-based) and is replaced */
  peers: 4,
  kill: 3,
  atEpoch: 2,
  /** halfway through that epoch's steps */
  killAt: 0.5,
  /** the runtime's default interval */
  heartbeatMs: 1000,
  functions: 2,
  batch: 64,
  testLimit: 10_000,
  /** a step within 1.5x the pre-failure median is at full speed */
  factor: 1.5,
  timeoutS: 900,
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
