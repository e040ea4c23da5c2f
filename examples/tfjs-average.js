// Two peers train one TensorFlow.js model: each computes a gradient on its own data, spirt averages the two
// inside Redis, and both apply the mean, so they stay identical. Run: node examples/tfjs-average.js
'use strict';
const tf = require('@tensorflow/tfjs');
const { TensorStore, epochBatches, loadFashionMnist, shard, startRedis, tensor } = require('spirt');
const { assignFlat, checkLayoutsMatch, flatToTensors, gradientsToFlat, layoutOfModel, weightsToFlat } = require('spirt/tfjs');

// Every peer builds its own model; tfjs names the weights per instance (dense_Dense1 here, dense_Dense3 there),
// so spirt lays them out by position.
const buildModel = () => tf.sequential({
  layers: [tf.layers.dense({ inputShape: [784], units: 64, activation: 'relu' }), tf.layers.dense({ units: 10 })],
});

/** The gradient of a peer's minibatch, as one Float32Array in the model's layout. */
function gradientOf(model, { images, labels }) {
  return tf.tidy(() => {
    const x = tf.tensor2d(images, [labels.length, 784]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat();
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x)));
    return { loss: value.dataSync()[0], grad: gradientsToFlat(model, grads) };
  });
}

async function main({ steps = 30, log = console.log } = {}) {
  const peers = [buildModel(), buildModel()];
  const layouts = peers.map(layoutOfModel);
  checkLayoutsMatch(layouts[1], layouts[0]); // throws, naming the weight, if the architectures differ
  assignFlat(peers[1], weightsToFlat(peers[0])); // one starting point
  const train = loadFashionMnist('train');
  const batches = peers.map((_, p) => epochBatches(shard(train, p, peers.length), 64, p + 1));
  const optimizers = peers.map(() => tf.train.sgd(0.1));
  const redis = await startRedis(); // a private redis-server with the spirt module
  const store = await TensorStore.connect(redis.url);
  const losses = [];
  try {
    for (let step = 1; step <= steps; step++) {
      let loss = 0;
      for (const [p, model] of peers.entries()) {
        const g = gradientOf(model, batches[p].next().value);
        await store.set(`grad:${p}`, tensor('float32', [g.grad.length], g.grad));
        loss += g.loss / peers.length;
      }
      await store.avg('grad:mean', peers.map((_, p) => `grad:${p}`)); // the mean, computed inside Redis
      const { data: mean } = await store.get('grad:mean');
      for (const [p, model] of peers.entries()) {
        const meanGrads = flatToTensors(mean, layouts[p]); // keyed by this peer's weight names
        optimizers[p].applyGradients(meanGrads);
        tf.dispose(meanGrads);
      }
      losses.push(loss);
      if (step % 10 === 0) log(`step ${step}: mean loss ${loss.toFixed(3)}`);
    }
  } finally {
    await store.close();
    await redis.stop();
  }
  const identical = Buffer.from(weightsToFlat(peers[0]).buffer).equals(Buffer.from(weightsToFlat(peers[1]).buffer));
  log(`the peers' weights are ${identical ? 'identical' : 'different'}`);
  return { losses, identical };
}

module.exports = { main };
if (require.main === module) main().catch((e) => { console.error(e); process.exitCode = 1; });
