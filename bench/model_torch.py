#!/usr/bin/python3
"""PyTorch anchor for bench/model.js: the same models, batch and optimizer, timed on request so that spirt and
PyTorch steps interleave in one run. Debian's python3-torch (CPU; convolutions on oneDNN):
    apt-get install -y --no-install-recommends python3-torch
Usage: model_torch.py IMAGES LABELS  (raw float32 N x 1 x 28 x 28 and uint8 N). One thread (torch.set_num_threads(1)).
Protocol: one JSON request per stdin line, {"model": "mlp" | "cnn", "steps": n}; one JSON reply per line,
{"ms": [step times]}. The first line written is {"torch": version} once the models are ready."""
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def cnn():
    """spirt's cnnSpec(): conv5x5(6, same) / pool / conv5x5(16) / pool / dense 120 / dense 84 / 10"""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def mlp():
    """spirt's mlpSpec(): 784-256-128-10"""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    labels = torch.from_numpy(np.fromfile(sys.argv[2], dtype=np.uint8).astype(np.int64))
    images = torch.from_numpy(np.fromfile(sys.argv[1], dtype=np.float32).reshape(len(labels), 1, 28, 28))
    loss_fn = nn.CrossEntropyLoss()
    models = {}
    for name, build in (('mlp', mlp), ('cnn', cnn)):
        model = build()
        models[name] = (model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))

    def step(name):
        model, optimizer = models[name]
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()

    for name in models:  # oneDNN picks and caches its kernels on the first calls
        for _ in range(3):
            step(name)
    print(json.dumps({'torch': torch.__version__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        times = []
        for _ in range(request['steps']):
            start = time.perf_counter()
            step(request['model'])
            times.append((time.perf_counter() - start) * 1e3)
        print(json.dumps({'ms': times}), flush=True)


if __name__ == '__main__':
    main()
