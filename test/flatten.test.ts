import { flatten, layoutOf, unflatten } from '../src/model/flatten';

/** stands in for a tfjs tensor: shape plus dataSync() */
const tensorLike = (shape: number[], values: number[]) => ({ shape, dataSync: () => Float32Array.from(values) });

describe('flatten / unflatten', () => {
  test('named arrays round-trip through one vector, names in sorted order', () => {
    const named = { 'dense/bias': Float32Array.of(5, 6), 'dense/kernel': Float32Array.of(1, 2, 3, 4) };
    const { vector, layout } = flatten(named);
    expect(Array.from(vector)).toEqual([5, 6, 1, 2, 3, 4]);
    expect(layout.entries.map((e) => [e.name, e.offset, e.length])).toEqual([['dense/bias', 0, 2], ['dense/kernel', 2, 4]]);
    const back = unflatten(vector, layout);
    expect(Array.from(back['dense/kernel'])).toEqual([1, 2, 3, 4]);
    back['dense/bias'][0] = 50; // views write through
    expect(vector[0]).toBe(50);
  });

  test('tensor-like values (a tfjs NamedTensorMap) keep their shapes', () => {
    const named = { w: tensorLike([2, 2], [1, 2, 3, 4]), b: tensorLike([2], [9, 8]) };
    const { vector, layout } = flatten(named);
    expect(layout.entries.find((e) => e.name === 'w')!.shape).toEqual([2, 2]);
    expect(Array.from(vector)).toEqual([9, 8, 1, 2, 3, 4]);
  });

  test('a fixed layout is honoured and checked', () => {
    const layout = layoutOf({ a: Float32Array.of(1), b: Float32Array.of(2, 3) });
    expect(Array.from(flatten({ b: Float32Array.of(7, 8), a: Float32Array.of(6) }, layout).vector)).toEqual([6, 7, 8]);
    expect(() => flatten({ a: Float32Array.of(1) }, layout)).toThrow(/1 named values for a layout of 2/);
    expect(() => flatten({ a: Float32Array.of(1), c: Float32Array.of(2, 3) }, layout)).toThrow(/missing 'b'/);
    expect(() => flatten({ a: Float32Array.of(1), b: Float32Array.of(2) }, layout)).toThrow(/'b' has 1 values, the layout says 2/);
    expect(() => flatten({ a: [1, 2] as never })).toThrow(/must be a Float32Array or a tensor/);
    expect(() => flatten({ a: tensorLike([3], [1, 2]) })).toThrow(/does not hold 2 values/);
    expect(() => unflatten(new Float32Array(2), layout)).toThrow(/Float32Array of 3 values/);
  });
});
