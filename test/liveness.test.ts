// Failure detection against a real redis-server: the guard a peer runs at every step boundary and between the
// slices of a blocked wait, fed the keys the peers write.
import { ViewChangeError, PeerFailedError } from '../src/errors';
import { closeAllConnections } from '../src/peer/db';
import { guard } from '../src/peer/liveness';
import { runConfig } from '../src/peer/config';
import { HEARTBEAT_LAPSE, View, keys } from '../src/peer/protocol';
import { TensorStore } from '../src/store/tensorStore';
import { withRedis } from './helpers';

const redis = withRedis();
let store: TensorStore;
beforeAll(async () => {
  store = await TensorStore.connect(redis.current().url);
});
afterAll(async () => {
  await closeAllConnections();
  await store?.close();
});

test('a member that beats as a joiner the view did not admit is a restarted process: the guard ends the step, whatever its heartbeat says', async () => {
  // peers 0 and 1 keep their keys in one server (hash tags keep them apart)
  const config = runConfig({ urls: [redis.current().url, redis.current().url], heartbeatMs: 200 });
  const view: View = { number: 3, members: [0, 1], startStep: 10, epoch: 0, stepInEpoch: 10, planMembers: [0, 1] };
  const heartbeat = (hb: object) => store.command('SET', keys.heartbeat(1), JSON.stringify({ peer: 1, at: Date.now(), ...hb }), 'PX', String(HEARTBEAT_LAPSE * 200));
  await store.command('SET', keys.view(1), JSON.stringify(view));

  await heartbeat({ view: 3, step: 11 });
  await expect(guard(config, 0, view)).resolves.toBeUndefined();
  // its old process died and a new one beats while it asks to join: no lapse in between, yet not the member
  await heartbeat({ view: 0, step: -1, joining: 'c0ffee' });
  await expect(guard(config, 0, view)).rejects.toThrow(ViewChangeError);
  await expect(guard(config, 0, view)).rejects.toThrow('peer 1 restarted and asks to join');
  // the view that admitted that request: the joiner is only finishing its join
  await expect(guard(config, 0, { ...view, number: 4, admitted: { 1: 'c0ffee' } })).resolves.toBeUndefined();
  // a later request of another process is again a restart
  await heartbeat({ view: 0, step: -1, joining: 'beef' });
  await expect(guard(config, 0, { ...view, number: 4, admitted: { 1: 'c0ffee' } })).rejects.toThrow('peer 1 restarted and asks to join');
  // no heartbeat at all: failed
  await store.command('DEL', keys.heartbeat(1));
  await expect(guard(config, 0, view)).rejects.toThrow(PeerFailedError);
});
