import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DatasetError, epochBatches, loadFashionMnist, parseIdxImages, parseIdxLabels, shard } from '../src/data/fashionMnist';

function idxImages(count: number, rows: number, cols: number, pixels?: number[]): Buffer {
  const b = Buffer.alloc(16 + count * rows * cols);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(count, 4);
  b.writeUInt32BE(rows, 8);
  b.writeUInt32BE(cols, 12);
  (pixels ?? []).forEach((p, i) => (b[16 + i] = p));
  return b;
}

function idxLabels(labels: number[]): Buffer {
  const b = Buffer.alloc(8 + labels.length);
  b.writeUInt32BE(0x801, 0);
  b.writeUInt32BE(labels.length, 4);
  labels.forEach((l, i) => (b[8 + i] = l));
  return b;
}

describe('IDX parsing', () => {
  test('images are scaled to [0, 1], labels kept', () => {
    const { images, count, rows, cols } = parseIdxImages(idxImages(2, 1, 2, [0, 255, 51, 102]));
    expect([count, rows, cols]).toEqual([2, 1, 2]);
    expect(Array.from(images)).toEqual([0, 1, 0.2, 0.4].map(Math.fround));
    expect(Array.from(parseIdxLabels(idxLabels([3, 9])))).toEqual([3, 9]);
  });

  test('malformed files are refused', () => {
    expect(() => parseIdxImages(Buffer.alloc(10))).toThrow(/header is truncated/);
    expect(() => parseIdxImages(idxLabels([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/not an IDX3/);
    expect(() => parseIdxImages(idxImages(3, 2, 2).subarray(0, 20))).toThrow(/4 pixel bytes for 3 images of 2x2/);
    expect(() => parseIdxLabels(idxLabels([1, 2]).subarray(0, 9))).toThrow(/1 labels where the header says 2/);
    expect(() => parseIdxLabels(idxImages(1, 1, 1))).toThrow(DatasetError);
  });

  test('a missing dataset says how to install it; bad gzip is reported', () => {
    expect(() => loadFashionMnist('train', '/nonexistent')).toThrow(/apt-get install -y dataset-fashion-mnist/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-idx-'));
    try {
      fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), 'not gzip');
      expect(() => loadFashionMnist('test', dir)).toThrow(/not valid gzip/);
      fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), zlib.gzipSync(idxImages(2, 2, 2)));
      fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(idxLabels([1, 2, 3])));
      expect(() => loadFashionMnist('test', dir)).toThrow(/2 images but 3 labels/);
      fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(idxLabels([1, 2])));
      expect(loadFashionMnist('test', dir).count).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Debian's Fashion-MNIST", () => {
  const trainSet = loadFashionMnist('train');
  const testSet = loadFashionMnist('test');

  test('has 60,000 + 10,000 28x28 images over 10 balanced classes', () => {
    expect([trainSet.count, trainSet.rows, trainSet.cols, testSet.count]).toEqual([60000, 28, 28, 10000]);
    const counts = new Array(10).fill(0);
    for (const y of trainSet.labels) counts[y]++;
    expect(counts).toEqual(new Array(10).fill(6000));
    expect(Math.max(...trainSet.images.subarray(0, 784 * 100))).toBeLessThanOrEqual(1);
  });

  test('shards split the samples between peers without overlap', () => {
    const parts = [0, 1, 2].map((i) => shard(trainSet, i, 3));
    expect(parts.map((p) => p.count)).toEqual([20000, 20000, 20000]);
    expect(parts[1].labels[0]).toBe(trainSet.labels[20000]);
    expect(parts[2].images[0]).toBe(trainSet.images[40000 * 784]);
    expect(shard(testSet, 6, 7).count + shard(testSet, 0, 7).count).toBe(Math.floor(10000 / 7) * 2 + 1);
    expect(() => shard(trainSet, 3, 3)).toThrow(/shard index 3 must be < 3/);
  });

  test('epoch batches cover every sample once, in a seeded order', () => {
    const small = shard(testSet, 0, 50); // 200 samples
    const batches = [...epochBatches(small, 64, 1)];
    expect(batches.map((b) => b.labels.length)).toEqual([64, 64, 64, 8]);
    const seen = batches.flatMap((b) => Array.from(b.labels)).sort();
    expect(seen).toEqual(Array.from(small.labels).sort());
    expect([...epochBatches(small, 64, 1)][0].labels).toEqual(batches[0].labels);
    expect([...epochBatches(small, 64, 2)][0].labels).not.toEqual(batches[0].labels);
  });
});
