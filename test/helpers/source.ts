import type { TokenGrant, TokenSource, TokenSourceContext } from '../../src/index.js'

interface Call {
  context: TokenSourceContext
  resolve(grant?: Partial<TokenGrant>): void
  reject(error: unknown): void
}

/**
 * A token source that counts its calls. In `auto` mode each call answers at once with a new token;
 * otherwise calls stay pending until the test settles them through `calls`.
 */
function countingSource(options: { auto?: boolean; expiresIn?: number } = {}) {
  const { auto = false, expiresIn = 3600 } = options
  const calls: Call[] = []
  let issued = 0
  const source: TokenSource = (context) =>
    new Promise<TokenGrant>((resolve, reject) => {
      const call: Call = {
        context,
        resolve: (grant = {}) => resolve({ token: `token-${++issued}`, expiresIn, ...grant }),
        reject,
      }
      calls.push(call)
      if (auto) call.resolve()
    })
  return {
    source,
    calls,
    get count() {
      return calls.length
    },
    /** The pending call made last. */
    get last(): Call {
      const call = calls.at(-1)
      if (call === undefined) throw new Error('the source was never called')
      return call
    },
  }
}

export { countingSource }
