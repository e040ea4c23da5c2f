// Fashion-MNIST from the gzipped IDX files of Debian's dataset-fashion-mnist package.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ArgumentError, SpirtError } from '../errors';
import { xorshift32 } from '../random';
import { requireInteger } from '../validate';

export class DatasetError extends SpirtError {}

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

/** Images as float32 in [0, 1], row-major (count x rows*cols), with one label per image. */
export interface ImageDataset {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

/** An IDX3 image file (magic 0x00000803): unsigned bytes scaled to [0, 1]. */
export function parseIdxImages(bytes: Uint8Array, what = 'images'): { images: Float32Array; count: number; rows: number; cols: number } {
  if (bytes.length < 16) throw new DatasetError('ERR_DATASET_FORMAT', `${what}: IDX header is truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== 0x00000803) throw new DatasetError('ERR_DATASET_FORMAT', `${what}: not an IDX3 unsigned-byte image file`);
  const [count, rows, cols] = [view.getUint32(4), view.getUint32(8), view.getUint32(12)];
  if (rows === 0 || cols === 0 || bytes.length !== 16 + count * rows * cols) {
    throw new DatasetError('ERR_DATASET_FORMAT', `${what}: ${bytes.length - 16} pixel bytes for ${count} images of ${rows}x${cols}`);
  }
  const images = new Float32Array(count * rows * cols);
  for (let i = 0; i < images.length; i++) images[i] = bytes[16 + i] / 255;
  return { images, count, rows, cols };
}

/** An IDX1 label file (magic 0x00000801). */
export function parseIdxLabels(bytes: Uint8Array, what = 'labels'): Uint8Array {
  if (bytes.length < 8) throw new DatasetError('ERR_DATASET_FORMAT', `${what}: IDX header is truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== 0x00000801) throw new DatasetError('ERR_DATASET_FORMAT', `${what}: not an IDX1 unsigned-byte label file`);
  const count = view.getUint32(4);
  if (bytes.length !== 8 + count) throw new DatasetError('ERR_DATASET_FORMAT', `${what}: ${bytes.length - 8} labels where the header says ${count}`);
  return bytes.slice(8);
}

function readGz(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch {
    throw new DatasetError('ERR_DATASET_MISSING',
      `Fashion-MNIST file ${file} not found: install Debian's package (apt-get install -y dataset-fashion-mnist) or set SPIRT_FASHION_MNIST_DIR`);
  }
  try {
    return zlib.gunzipSync(raw);
  } catch (e) {
    throw new DatasetError('ERR_DATASET_FORMAT', `${file} is not valid gzip: ${(e as Error).message}`);
  }
}

/** The train (60,000) or test (10,000) split; dir defaults to SPIRT_FASHION_MNIST_DIR or Debian's location. */
export function loadFashionMnist(split: 'train' | 'test', dir = process.env.SPIRT_FASHION_MNIST_DIR ?? FASHION_MNIST_DIR): ImageDataset {
  if (split !== 'train' && split !== 'test') throw new ArgumentError('ERR_ARGUMENT', `split must be 'train' or 'test', got '${String(split)}'`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesFile = path.join(dir, `${prefix}-images-idx3-ubyte.gz`);
  const labelsFile = path.join(dir, `${prefix}-labels-idx1-ubyte.gz`);
  const { images, count, rows, cols } = parseIdxImages(readGz(imagesFile), imagesFile);
  const labels = parseIdxLabels(readGz(labelsFile), labelsFile);
  if (labels.length !== count) throw new DatasetError('ERR_DATASET_FORMAT', `${count} images but ${labels.length} labels`);
  if (labels.some((y) => y >= FASHION_MNIST_CLASSES.length)) throw new DatasetError('ERR_DATASET_FORMAT', `${labelsFile}: label out of range`);
  return { images, labels, count, rows, cols };
}

/** Peer `index` of `count`'s contiguous share of the samples (views, no copy); shares differ in size by at most one. */
export function shard(ds: ImageDataset, index: number, count: number): ImageDataset {
  requireInteger(count, 'count', 1);
  requireInteger(index, 'index', 0);
  if (index >= count) throw new ArgumentError('ERR_RANGE', `shard index ${index} must be < ${count}`);
  const start = Math.floor((ds.count * index) / count), end = Math.floor((ds.count * (index + 1)) / count);
  const px = ds.rows * ds.cols;
  return { ...ds, images: ds.images.subarray(start * px, end * px), labels: ds.labels.subarray(start, end), count: end - start };
}

/** 0 .. count-1 in a seeded Fisher-Yates order (the same seed gives the same order). */
export function shuffledOrder(count: number, seed: number): Uint32Array {
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  const next = xorshift32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** The samples order[start .. start+n) of a dataset, copied into one batch. */
export function gatherBatch(ds: ImageDataset, order: Uint32Array, start: number, n: number): { images: Float32Array; labels: Uint8Array } {
  const px = ds.rows * ds.cols;
  const images = new Float32Array(n * px), labels = new Uint8Array(n);
  for (let b = 0; b < n; b++) {
    const src = order[start + b];
    images.set(ds.images.subarray(src * px, (src + 1) * px), b * px);
    labels[b] = ds.labels[src];
  }
  return { images, labels };
}

/** Minibatches of a shuffled epoch (the same seed gives the same order); the last one may be smaller. */
export function* epochBatches(ds: ImageDataset, batchSize: number, seed: number): Generator<{ images: Float32Array; labels: Uint8Array }> {
  requireInteger(batchSize, 'batchSize', 1);
  const order = shuffledOrder(ds.count, seed);
  for (let start = 0; start < ds.count; start += batchSize) yield gatherBatch(ds, order, start, Math.min(batchSize, ds.count - start));
}
