// Peer identities: one Ed25519 key pair per peer, generated on first use into a 0600 file and loaded from it
// thereafter; public keys travel as their raw 32 bytes and are pinned (peer id -> key) when a run starts.
import crypto, { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IdentityError } from '../errors';

/** Peer ids name files, ACL users and key patterns: no glob characters, braces, slashes or spaces. */
const PEER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function checkPeerId(peerId: string): string {
  if (typeof peerId !== 'string' || !PEER_ID.test(peerId)) {
    throw new IdentityError('ERR_PEER_ID', `peer id '${String(peerId)}' must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'`);
  }
  return peerId;
}

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export interface Identity {
  readonly peerId: string;
  readonly privateKey: KeyObject;
  /** the raw 32-byte Ed25519 public key (what peers pin and the module verifies with) */
  readonly publicKey: Uint8Array;
  readonly keyFile: string;
  /** whether this call generated the key (false: loaded from keyFile) */
  readonly created: boolean;
}

/** SPIRT_IDENTITY_DIR, else ~/.spirt/identities. */
export function defaultIdentityDir(): string {
  return process.env.SPIRT_IDENTITY_DIR || path.join(os.homedir(), '.spirt', 'identities');
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new IdentityError('ERR_KEY_FILE', `not an Ed25519 key (${key.asymmetricKeyType})`);
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (!(raw instanceof Uint8Array) || raw.byteLength !== PUBLIC_KEY_BYTES) {
    throw new IdentityError('ERR_KEY_FILE', `an Ed25519 public key is ${PUBLIC_KEY_BYTES} bytes, got ${raw?.byteLength}`);
  }
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function loadKeyFile(peerId: string, keyFile: string): Identity {
  const mode = fs.statSync(keyFile).mode;
  if (mode & 0o077) {
    throw new IdentityError('ERR_KEY_PERMISSIONS',
      `${keyFile} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it, or remove it for a new identity`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = crypto.createPrivateKey(fs.readFileSync(keyFile));
  } catch (e) {
    throw new IdentityError('ERR_KEY_FILE', `${keyFile} is not a private key: ${(e as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new IdentityError('ERR_KEY_FILE', `${keyFile} holds an ${privateKey.asymmetricKeyType} key, not Ed25519`);
  }
  return { peerId, privateKey, publicKey: rawPublicKey(crypto.createPublicKey(privateKey)), keyFile, created: false };
}

/**
 * The identity of `peerId` from `<dir>/<peerId>.key` (PKCS#8 PEM), generated there on first use with mode
 * 0600 (the directory 0700). A file that others can read is refused, as ssh does. Two processes creating
 * the same identity at once end with one key: the file appears whole (written aside, then hard-linked) and
 * never replaces one that exists.
 */
export function loadOrCreateIdentity(peerId: string, options: { dir?: string } = {}): Identity {
  checkPeerId(peerId);
  const dir = options.dir ?? defaultIdentityDir();
  const keyFile = path.join(dir, `${peerId}.key`);
  if (fs.existsSync(keyFile)) return loadKeyFile(peerId, keyFile);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const aside = `${keyFile}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(aside, pem, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(aside, keyFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return loadKeyFile(peerId, keyFile); // another process created it first: use theirs
  } finally {
    fs.rmSync(aside, { force: true });
  }
  return { peerId, privateKey, publicKey: rawPublicKey(publicKey), keyFile, created: true };
}

/**
 * The public keys of a run's peers, pinned at start: pinning a peer again with the same key is a no-op,
 * with another key an IdentityError ERR_KEY_CHANGED (a peer cannot swap identities mid-run).
 */
export class PeerKeys {
  private readonly raw = new Map<string, Buffer>();
  private readonly objects = new Map<string, KeyObject>();

  constructor(entries: Iterable<readonly [string, Uint8Array]> = []) {
    for (const [peerId, key] of entries) this.pin(peerId, key);
  }

  static fromIdentities(identities: Iterable<Identity>): PeerKeys {
    return new PeerKeys([...identities].map((i) => [i.peerId, i.publicKey] as const));
  }

  pin(peerId: string, publicKey: Uint8Array): void {
    checkPeerId(peerId);
    const object = publicKeyFromRaw(publicKey);
    const pinned = this.raw.get(peerId);
    if (pinned) {
      if (!pinned.equals(publicKey)) {
        throw new IdentityError('ERR_KEY_CHANGED', `peer ${peerId} presented another public key than the one pinned at start`);
      }
      return;
    }
    this.raw.set(peerId, Buffer.from(publicKey));
    this.objects.set(peerId, object);
  }

  has(peerId: string): boolean {
    return this.raw.has(peerId);
  }

  /** the raw 32-byte key, or IdentityError ERR_UNKNOWN_PEER */
  get(peerId: string): Uint8Array {
    const key = this.raw.get(peerId);
    if (!key) throw new IdentityError('ERR_UNKNOWN_PEER', `no public key is pinned for peer '${peerId}'`);
    return new Uint8Array(key);
  }

  keyObject(peerId: string): KeyObject {
    this.get(peerId);
    return this.objects.get(peerId)!;
  }

  get peers(): string[] {
    return [...this.raw.keys()];
  }
}
