/** Every error spirt throws on purpose is a SpirtError with a stable `code`. */
export class SpirtError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Malformed tensor bytes or an inconsistent tensor: unknown dtype, bad shape, wrong data length, truncation. */
export class TensorFormatError extends SpirtError {}

/** Arguments to a kernel or command that do not fit together (lengths, shapes, ranges). */
export class ArgumentError extends SpirtError {}

/** The native addon or the Redis module is missing or failed to load. */
export class NativeLoadError extends SpirtError {}

/** redis-server is missing, failed to start, or did not become ready; `logFile` is its log, kept for reading. */
export class RedisLaunchError extends SpirtError {
  constructor(
    code: string,
    message: string,
    readonly logFile?: string,
  ) {
    super(code, message);
  }
}

/**
 * The Redis server cannot be reached or stopped answering. `code`: ERR_CONNECT (no connection within the
 * connect timeout and retries), ERR_AUTH (credentials refused), ERR_CONNECTION_LOST (the connection broke and
 * could not be restored), ERR_COMMAND_TIMEOUT (no reply within the command timeout). `command` is the command
 * that failed, when one did.
 */
export class RedisConnectionError extends SpirtError {
  constructor(
    code: string,
    message: string,
    readonly command?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** An error reply from the spirt Redis module (`ERR ...`, `WRONGTYPE ...`), with the command that caused it. */
export class TensorCommandError extends SpirtError {
  constructor(
    code: string,
    message: string,
    readonly command: string,
  ) {
    super(code, message);
  }
}

/**
 * The peer runtime's failures. The class name is the ASL error name a state machine's Catch matches:
 * PeerFailedError (members declared failed: `peers`), ViewChangeError (another member proposed a new view),
 * OutOfViewError (this peer was excluded and must rejoin), PeerSetupError (bad input refused before any
 * training: code ERR_MODEL_MISMATCH, ERR_UNREACHABLE, ERR_NO_MODULE, ERR_DUPLICATE_PEER, ERR_JOIN_REFUSED, ...).
 */
export class PeerFailedError extends SpirtError {
  constructor(readonly peers: number[], message: string) {
    super('ERR_PEER_FAILED', message);
  }
}
export class ViewChangeError extends SpirtError {}
export class OutOfViewError extends SpirtError {}
export class PeerSetupError extends SpirtError {}

/**
 * A peer identity that cannot be used: ERR_KEY_PERMISSIONS (a key file others can read), ERR_KEY_FILE
 * (unreadable or not an Ed25519 key), ERR_PEER_ID (a name that cannot be a peer id), ERR_UNKNOWN_PEER (no
 * pinned key), ERR_KEY_CHANGED (a peer's public key differs from the one pinned at start).
 */
export class IdentityError extends SpirtError {}

/**
 * A gradient message refused by verification, with the reason as `code`: ERR_UNSIGNED (no signature or
 * digest), ERR_WRONG_SIGNER (another peer id than expected, or a signature that does not verify under the
 * pinned key), ERR_TAMPERED (tensor bytes that do not match the signed digest), ERR_REPLAY (another step or
 * view than expected, or not newer than what is stored).
 */
export class GradientRejectedError extends SpirtError {}
