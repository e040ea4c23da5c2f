// Test accuracy of a peer's parameters as they are in its database (epoch ends).
import { asFloat32, peerDb } from '../peer/db';
import { RunConfig, addressOf, keys } from '../peer/protocol';
import { datasetFor, modelFor } from '../peer/training';

export async function evaluatePeer(config: RunConfig, peer: number): Promise<{ accuracy: number; loss: number }> {
  const db = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  const params = await db.getBlob(keys.params(peer));
  if (!params) throw new Error(`peer ${peer} holds no parameters`);
  const model = await modelFor(config);
  const { test } = datasetFor(config);
  const { accuracy, loss } = await model.evaluate(asFloat32(params), { images: test.images, labels: test.labels });
  return { accuracy, loss };
}
