/**
 * The emulator's tokens: issued per app under a re-fetch policy, checked, revoked. Every platform's
 * answer to "give me a token again" is one of the policies here.
 * @packageDocumentation
 */
import { createJwtCodec } from './jwt.js'

/** How a new token request for an app is answered, resolved from `ReissuePolicy` or a profile's default. */
type ResolvedReissue =
  | { policy: 'stateless' }
  | { policy: 'invalidate-previous'; graceMs: number }
  | { policy: 'reuse'; renewWithinMs: number }
  | { policy: 'extend' }

/**
 * What a token is worth to an API endpoint: `malformed` is not one of ours at all; `invalid` was ours
 * but is revoked, superseded or force-refreshed away.
 */
type TokenState = 'ok' | 'missing' | 'malformed' | 'invalid' | 'expired'

interface TokenRecord {
  appid: string
  seq: number
  expiresAtMs: number
  /** From this moment the token is refused: superseded (after a grace period) or force-refreshed. */
  invalidFromMs: number
  token: Promise<string>
}

interface Grant {
  token: string
  /** Seconds the token has left. */
  expiresIn: number
}

interface TokenRegistryOptions {
  now: () => number
  tokenTtl: number
  signingKey: string
  reissue: ResolvedReissue
}

/** Issues, checks and revokes the tokens of one emulator. */
function createTokenRegistry({ now, tokenTtl, signingKey, reissue }: TokenRegistryOptions) {
  const codec = createJwtCodec(signingKey)
  const registry = new Map<string, TokenRecord>()
  const latestByApp = new Map<string, TokenRecord>()
  let sequence = 0
  let revokedThrough = 0
  let pruneAt = 1024

  const usable = (record: TokenRecord, at: number): boolean =>
    record.seq > revokedThrough && at < record.expiresAtMs && at < record.invalidFromMs

  /** Expired records can never become valid again; dropping them keeps a long-running emulator small. */
  const prune = (at: number): void => {
    if (registry.size < pruneAt) return
    for (const [jti, record] of registry) if (at >= record.expiresAtMs) registry.delete(jti)
    pruneAt = Math.max(1024, registry.size * 2)
  }

  /** The app's current token again, when the policy says so. */
  const again = async (latest: TokenRecord | undefined, at: number): Promise<Grant | undefined> => {
    if (latest === undefined || !usable(latest, at)) return undefined
    if (reissue.policy === 'reuse' && latest.expiresAtMs - at >= reissue.renewWithinMs) {
      return { token: await latest.token, expiresIn: Math.max(1, Math.floor((latest.expiresAtMs - at) / 1000)) }
    }
    if (reissue.policy === 'extend') {
      latest.expiresAtMs = at + tokenTtl * 1000
      return { token: await latest.token, expiresIn: tokenTtl }
    }
    return undefined
  }

  return {
    /**
     * A token for `appid`: the current one or a new one, as the policy says. `force` always issues a
     * new one and ends the previous one at once (WeChat's `force_refresh`).
     */
    async issue(appid: string, force = false): Promise<Grant> {
      const issuedAt = now()
      const previous = latestByApp.get(appid)
      const same = force ? undefined : await again(previous, issuedAt)
      if (same !== undefined) return same
      prune(issuedAt)
      const jti = crypto.randomUUID()
      const expiresAtMs = issuedAt + tokenTtl * 1000
      const record: TokenRecord = { appid, seq: ++sequence, expiresAtMs, invalidFromMs: Infinity, token: Promise.resolve('') }
      // Registered before the await so concurrent issues supersede each other in a fixed order.
      registry.set(jti, record)
      if (previous !== undefined && force) previous.invalidFromMs = Math.min(previous.invalidFromMs, issuedAt)
      else if (previous !== undefined && reissue.policy === 'invalidate-previous') {
        previous.invalidFromMs = Math.min(previous.invalidFromMs, issuedAt + reissue.graceMs)
      }
      latestByApp.set(appid, record)
      record.token = codec.sign({
        appid,
        developerId: `dev-${appid}`,
        iat: Math.floor(issuedAt / 1000),
        // Rounded up: the token must not die before issuedAt + tokenTtl, which is what expiresIn promises.
        exp: Math.ceil(expiresAtMs / 1000),
        jti,
      })
      return { token: await record.token, expiresIn: tokenTtl }
    },
    /** What `token` is worth now. */
    async check(token: unknown): Promise<TokenState> {
      if (typeof token !== 'string' || token === '') return 'missing'
      const claims = await codec.verify(token)
      if (claims === undefined) return 'malformed'
      const record = registry.get(claims.jti)
      if (record === undefined || record.appid !== claims.appid) return 'invalid'
      const at = now()
      if (record.seq <= revokedThrough || at >= record.invalidFromMs) return 'invalid'
      return at >= record.expiresAtMs ? 'expired' : 'ok'
    },
    /** Makes every token issued so far invalid; the next request gets a new one whatever the policy. */
    revokeAll(): void {
      revokedThrough = sequence
    },
  }
}

type TokenRegistry = ReturnType<typeof createTokenRegistry>

export { createTokenRegistry }
export type { Grant, ResolvedReissue, TokenRegistry, TokenState }
