/**
 * The claims of every token the emulator issues. Times are epoch seconds, as JWTs have them.
 *
 * @example
 * ```ts
 * const claims: ServiceTokenClaims | undefined = decodeServiceToken(token)
 * expect(claims?.appid).toBe('demo-app')
 * ```
 */
interface ServiceTokenClaims {
  appid: string
  developerId: string
  iat: number
  exp: number
  jti: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function base64UrlEncode(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined
  try {
    const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
    return Uint8Array.from(binary, (char) => char.charCodeAt(0))
  } catch {
    return undefined
  }
}

function encodeJson(value: unknown): string {
  return base64UrlEncode(encoder.encode(JSON.stringify(value)))
}

function decodeJson(segment: string): unknown {
  const bytes = base64UrlDecode(segment)
  if (bytes === undefined) return undefined
  try {
    return JSON.parse(decoder.decode(bytes))
  } catch {
    return undefined
  }
}

function isClaims(value: unknown): value is ServiceTokenClaims {
  if (typeof value !== 'object' || value === null) return false
  const claims = value as Record<string, unknown>
  return (
    typeof claims.appid === 'string' &&
    typeof claims.developerId === 'string' &&
    typeof claims.iat === 'number' &&
    typeof claims.exp === 'number' &&
    typeof claims.jti === 'string'
  )
}

/** Signs and verifies HS256 JWTs with Web Crypto. */
interface JwtCodec {
  sign(claims: ServiceTokenClaims): Promise<string>
  /** The claims of a well-formed token whose signature is ours; `undefined` for anything else. */
  verify(token: string): Promise<ServiceTokenClaims | undefined>
}

const HEADER = encodeJson({ alg: 'HS256', typ: 'JWT' })

function createJwtCodec(secret: string): JwtCodec {
  // Imported on first use: createEmulator stays synchronous and cheap.
  let key: Promise<CryptoKey> | undefined
  const getKey = (): Promise<CryptoKey> =>
    (key ??= crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]))

  return {
    async sign(claims) {
      const input = `${HEADER}.${encodeJson(claims)}`
      const signature = await crypto.subtle.sign('HMAC', await getKey(), encoder.encode(input))
      return `${input}.${base64UrlEncode(new Uint8Array(signature))}`
    },
    async verify(token) {
      const parts = token.split('.')
      if (parts.length !== 3) return undefined
      const [header = '', payload = '', signature = ''] = parts
      const signatureBytes = base64UrlDecode(signature)
      if (signatureBytes === undefined) return undefined
      const parsedHeader = decodeJson(header)
      // Pinning the algorithm refuses `alg: none` and friends.
      if (typeof parsedHeader !== 'object' || parsedHeader === null || (parsedHeader as { alg?: unknown }).alg !== 'HS256') {
        return undefined
      }
      // crypto.subtle.verify compares in constant time.
      const valid = await crypto.subtle.verify('HMAC', await getKey(), signatureBytes, encoder.encode(`${header}.${payload}`))
      if (!valid) return undefined
      const claims = decodeJson(payload)
      return isClaims(claims) ? claims : undefined
    },
  }
}

/**
 * The claims of a token issued by the emulator, decoded without checking the signature: for tests that
 * want to look inside. Returns `undefined` when `token` is not a JWT with the emulator's claims.
 *
 * @example
 * ```ts
 * const { appid, exp } = decodeServiceToken(token) ?? {}
 * ```
 */
function decodeServiceToken(token: string): ServiceTokenClaims | undefined {
  const payload = token.split('.')[1]
  if (payload === undefined) return undefined
  const claims = decodeJson(payload)
  return isClaims(claims) ? claims : undefined
}

export { createJwtCodec, decodeServiceToken }
export type { JwtCodec, ServiceTokenClaims }
