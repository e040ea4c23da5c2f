import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { IdentityError } from '../../src/errors';
import { PeerKeys, loadOrCreateIdentity, publicKeyFromRaw, rawPublicKey } from '../../src/security/identity';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirt-id-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(IdentityError);
    return (e as IdentityError).code;
  }
  throw new Error('expected an IdentityError');
}

describe('identities', () => {
  test('generated on first use with mode 0600, loaded thereafter', () => {
    const keysDir = path.join(dir, 'keys');
    const first = loadOrCreateIdentity('peer0', { dir: keysDir });
    expect(first.created).toBe(true);
    expect(first.publicKey.byteLength).toBe(32);
    expect(fs.statSync(first.keyFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(keysDir).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(keysDir)).toEqual(['peer0.key']);
    const again = loadOrCreateIdentity('peer0', { dir: keysDir });
    expect(again.created).toBe(false);
    expect(Buffer.from(again.publicKey)).toEqual(Buffer.from(first.publicKey));
    const other = loadOrCreateIdentity('peer1', { dir: keysDir });
    expect(Buffer.from(other.publicKey)).not.toEqual(Buffer.from(first.publicKey));
    // the raw key verifies what the private key signs
    const sig = crypto.sign(null, Buffer.from('x'), first.privateKey);
    expect(crypto.verify(null, Buffer.from('x'), publicKeyFromRaw(first.publicKey), sig)).toBe(true);
    expect(Buffer.from(rawPublicKey(publicKeyFromRaw(first.publicKey)))).toEqual(Buffer.from(first.publicKey));
  });

  test('a key file others can read, a foreign key type and a bad peer id are refused', () => {
    const id = loadOrCreateIdentity('peer0', { dir });
    fs.chmodSync(id.keyFile, 0o644);
    expect(codeOf(() => loadOrCreateIdentity('peer0', { dir }))).toBe('ERR_KEY_PERMISSIONS');
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    fs.writeFileSync(path.join(dir, 'peer1.key'), rsa, { mode: 0o600 });
    expect(codeOf(() => loadOrCreateIdentity('peer1', { dir }))).toBe('ERR_KEY_FILE');
    fs.writeFileSync(path.join(dir, 'peer2.key'), 'not a key', { mode: 0o600 });
    expect(codeOf(() => loadOrCreateIdentity('peer2', { dir }))).toBe('ERR_KEY_FILE');
    for (const bad of ['', '../x', 'a b', 'peer*', '{peer1}', 'x'.repeat(65)]) {
      expect(codeOf(() => loadOrCreateIdentity(bad, { dir }))).toBe('ERR_PEER_ID');
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['peer0.key', 'peer1.key', 'peer2.key']);
  });
});

describe('PeerKeys pinning', () => {
  test('pins at start; the same key again is fine, another key is an error', () => {
    const a = loadOrCreateIdentity('peer0', { dir }), b = loadOrCreateIdentity('peer1', { dir });
    const keys = PeerKeys.fromIdentities([a, b]);
    expect(keys.peers).toEqual(['peer0', 'peer1']);
    keys.pin('peer0', a.publicKey);
    expect(codeOf(() => keys.pin('peer0', b.publicKey))).toBe('ERR_KEY_CHANGED');
    expect(Buffer.from(keys.get('peer0'))).toEqual(Buffer.from(a.publicKey));
    expect(codeOf(() => keys.get('peer9'))).toBe('ERR_UNKNOWN_PEER');
    expect(codeOf(() => keys.pin('peer2', new Uint8Array(31)))).toBe('ERR_KEY_FILE');
  });
});
