// Task state ComputeGradient (one Map iteration per gradient function): reads the peer's current parameters
// from its database, computes the gradient of this function's minibatch with the model, and writes it back
// as the function's own key, stamped with the step's version.
import { ViewChangeError } from '../errors';
import { flipLabels } from '../peer/byzantine';
import { asFloat32, peerDb } from '../peer/db';
import { addressOf, keys, stepOfVersion, version } from '../peer/protocol';
import { minibatch, modelFor } from '../peer/training';
import { GradientEvent, GradientResult } from './event';

export async function computeGradient(event: GradientEvent): Promise<GradientResult> {
  const { config, peer, view, position, worker } = event;
  const db = await peerDb(addressOf(config, peer).url, 'data', config.heartbeatMs);
  const [params, meta] = await Promise.all([db.getBlob(keys.params(peer)), db.store.meta(keys.params(peer))]);
  if (!params || !meta) throw new ViewChangeError('ERR_NO_PARAMS', `peer ${peer} holds no parameters`);
  const at = stepOfVersion(meta.version);
  if (at !== position.step - 1) {
    throw new ViewChangeError('ERR_STALE_PARAMS', `step ${position.step} computes on the parameters after step ${position.step - 1}, but peer ${peer}'s are after step ${at}`);
  }
  const model = await modelFor(config);
  const honest = minibatch(config, view, peer, position.epoch, position.stepInEpoch, worker);
  const flips = config.byzantine?.attack === 'label-flip' && config.byzantine.peers.includes(peer);
  const batch = flips ? { ...honest, labels: flipLabels(honest.labels) } : honest;
  const { grad, loss } = await model.gradient(asFloat32(params), [batch]);
  await db.setFloat32(keys.workerGradient(peer, worker), new Uint8Array(grad.buffer, grad.byteOffset, grad.byteLength), version(position.step, view.number));
  return { worker, loss, samples: batch.labels.length };
}

export const handler = computeGradient;
