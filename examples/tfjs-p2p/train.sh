#!/bin/sh
# Two peers train model.js's TensorFlow.js model peer-to-peer on Fashion-MNIST: spirt starts a redis-server
# with its module for each peer and two peer processes, which exchange and average their gradients in the
# databases. Options after the script's name go to `spirt train` (e.g. --json summary.json).
# Run: sh examples/tfjs-p2p/train.sh
exec npx spirt train --peers 2 --model-module "$(dirname "$0")/model.js" --epochs 2 --train-limit 30000 "$@"
