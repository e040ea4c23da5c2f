// The model module of `spirt train --model-module`: every peer process loads it and trains what createModel()
// returns. The model is plain TensorFlow.js (its pure JS CPU backend); spirt/tfjs turns it into the runtime's
// TrainableModel: flat parameter and gradient vectors, laid out by weight position, initial weights from the
// run's seed so that every peer starts from the same bytes.
'use strict';
const tf = require('@tensorflow/tfjs');
const { tfjsTrainable } = require('spirt/tfjs');

function createModel() {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  return tfjsTrainable(model, (labels, logits) => tf.losses.softmaxCrossEntropy(labels, logits));
}

module.exports = { createModel };
