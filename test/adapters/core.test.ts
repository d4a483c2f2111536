import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodedRefuses, defaultIsAuthError, jsonOfDecoded, mayHoldAuthCode } from '../../src/http/auth-error.js'
import { headerValue, injectJsonText, injectUrlEncoded } from '../../src/http/place.js'
import { appliesTo, createPolicy } from '../../src/http/policy.js'
import { redirectHop } from '../../src/http/redirects.js'
import { createTokenManager } from '../../src/index.js'

describe('adapter core', () => {
  it('injectJsonText: the result is the caller object plus the token, other keys in their order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.boolean(), fc.string(), (object, indent, token) => {
        const text = JSON.stringify(object, null, indent ? 2 : undefined)
        const result = JSON.parse(injectJsonText(text, 'serviceToken', token)) as Record<string, unknown>
        const expected: Record<string, unknown> = JSON.parse(text) as Record<string, unknown>
        Object.defineProperty(expected, 'serviceToken', { value: token, enumerable: true, writable: true, configurable: true })
        expect(result).toStrictEqual(expected)
        expect(Object.keys(result)).toEqual(Object.keys(expected))
      }),
    )
  })

  it('injectJsonText: texts that may hold the field already (nested, escaped, present) are parsed and come out right', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('serviceToken', 'a', 'b', 'x"y'), fc.oneof(fc.jsonValue(), fc.constant({ serviceToken: 'nested' }))),
        fc.boolean(),
        fc.string(),
        (object, indent, token) => {
          const text = JSON.stringify(object, null, indent ? 2 : undefined)
          const result = JSON.parse(injectJsonText(text, 'serviceToken', token)) as Record<string, unknown>
          expect(result).toStrictEqual({ ...(JSON.parse(text) as Record<string, unknown>), serviceToken: token })
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('injectJsonText: an object text is extended as written; anything else is refused', () => {
    expect(injectJsonText('{}', 'serviceToken', 't')).toBe('{"serviceToken":"t"}')
    expect(injectJsonText(' \n{ \t}\r\n', 'serviceToken', 't')).toBe(' \n{ \t"serviceToken":"t"}\r\n')
    expect(injectJsonText('{"a":1}', 'serviceToken', 't')).toBe('{"a":1,"serviceToken":"t"}')
    expect(injectJsonText('{"n":12345678901234567890}', 'serviceToken', 't')).toBe('{"n":12345678901234567890,"serviceToken":"t"}')
    expect(injectJsonText('{"serviceToken":"old","a":1}', 'serviceToken', 't')).toBe('{"serviceToken":"t","a":1}')
    // An escape can spell the field's name: such a text is parsed, and the member replaced, not doubled.
    expect(JSON.parse(injectJsonText('{"serv\\u0069ceToken":"old"}', 'serviceToken', 't'))).toStrictEqual({ serviceToken: 't' })
    expect(injectJsonText('{"serv\\u0069ceToken":"old"}', 'serviceToken', 't')).not.toContain('old')
    // Not parsed when it cannot hold the field: a malformed object goes out as written, for the API to answer.
    expect(injectJsonText('{"a":}', 'serviceToken', 't')).toBe('{"a":,"serviceToken":"t"}')
    for (const text of ['', '   ', '[]', '[{"a":1}]', '"{}"', '1', 'null', '{"a":1', 'a=1']) {
      expect(() => injectJsonText(text, 'serviceToken', 't'), text).toThrowError(expect.objectContaining({ name: 'ConfigurationError', option: 'placement' }))
    }
  })

  it('injectUrlEncoded: every other pair is kept in order, the token set once', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string())), fc.string(), (pairs, token) => {
        const text = new URLSearchParams(pairs).toString()
        const result = [...new URLSearchParams(injectUrlEncoded(text, 'serviceToken', token))]
        const others = pairs.filter(([name]) => name !== 'serviceToken')
        expect(result.filter(([name]) => name !== 'serviceToken')).toEqual(others)
        expect(result.filter(([name]) => name === 'serviceToken')).toEqual([['serviceToken', token]])
      }),
    )
  })

  it('an URL text is allowed exactly when its parsed form is (the literal fast check never disagrees)', () => {
    const manager = createTokenManager({ appid: 'a', secret: 's', baseUrl: 'http://127.0.0.1:8787' })
    const core = createPolicy(manager, { origins: ['http://127.0.0.1:8787', 'https://api.example.com'] })
    const parsedDecision = (text: string): boolean => {
      try {
        return appliesTo(core, new URL(text), 'POST')
      } catch {
        return false
      }
    }
    const prefixes = ['http://127.0.0.1:8787', 'https://api.example.com', 'HTTP://127.0.0.1:8787', 'http://127.0.0.1:878', 'http://127.0.0.1', ' http://127.0.0.1:8787']
    const pieces = ['/', '.', '..', '%2e', '%2E', '%2F', '\\', '\t', '\n', '@', ':', '?', '#', 'service', 'serviceToken', '/service/serviceToken', 'x', '0', ' ', '\r', '\u0000', '\u001f', '"', '^', '`', '{', '|', '[', 'é', '~', '\u200b']
    let allowed = 0
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.array(fc.constantFrom(...pieces), { maxLength: 8 }), (prefix, suffix) => {
        const text = prefix + suffix.join('')
        const decision = appliesTo(core, text, 'POST')
        expect(decision).toBe(parsedDecision(text))
        if (decision) allowed++
      }),
      { numRuns: 20000 },
    )
    expect(allowed).toBeGreaterThan(300)
    // The ones a text comparison would get wrong:
    for (const text of ['http://127.0.0.1:8787/service/./serviceToken', 'http://127.0.0.1:8787/x/../service/serviceToken', 'http://127.0.0.1:8787/service/%2e/serviceToken', 'http://127.0.0.1:8787\\service\\serviceToken', 'http://127.0.0.1:8787/service/service\tToken', 'http://127.0.0.1:8787/service/serviceToken ', 'http://127.0.0.1:8787/service/serviceToken\u0000', 'http://127.0.0.1:8787/service/serviceToken\r\n\u001f']) {
      expect(appliesTo(core, text, 'POST'), text).toBe(false)
    }
    expect(appliesTo(core, 'http://127.0.0.1:8787@evil.example/x', 'POST')).toBe(false)
    expect(appliesTo(core, 'http://127.0.0.1:8787/service/checkAddresses?a=../b', 'POST')).toBe(true)
    manager.close()
  })

  it('mayHoldAuthCode: true exactly for texts that contain A108P001 or a \\u escape, so every answer carrying the code, however escaped, is parsed', () => {
    const pieces = ['A', 'A1', 'A108', 'A108P', 'A108P00', 'A108P001', 'A108P002', '108P001', '"code":', '\\', '\\u0041', '\\/', '\\n', 'x', '{', '}', 'AA108P001', 'é']
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string()), { maxLength: 12 }), (parts) => {
        const text = parts.join('')
        expect(mayHoldAuthCode(text)).toBe(text.includes('A108P001') || text.includes('\\u'))
      }),
      { numRuns: 5000 },
    )
    // Any character of the key or the code may be written as a \u escape: such texts must be parsed, never skipped.
    const escape = (text: string, mask: boolean[]) =>
      [...text].map((char, index) => (mask[index % mask.length] ? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}` : char)).join('')
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), fc.constantFrom('', ' ', '\n'), (mask, space) => {
        const text = `{${space}"${escape('code', mask)}":${space}"${escape('A108P001', mask.slice().reverse())}",${space}"data":"\\/x"}`
        expect((JSON.parse(text) as { code: string }).code).toBe('A108P001')
        expect(mayHoldAuthCode(text)).toBe(true)
      }),
      { numRuns: 2000 },
    )
    expect(mayHoldAuthCode('{"code":"A108P00","url":"https:\\/\\/x"}')).toBe(false)
    expect(mayHoldAuthCode('A108P001')).toBe(true)
    expect(mayHoldAuthCode('')).toBe(false)
  })

  it('decodedRefuses (axios, at once) answers as defaultIsAuthError does on the same decoded body', async () => {
    const encoder = new TextEncoder()
    const code = fc.constantFrom<unknown>('A108P001', 'A108P002', 1000, 'a108p001', null)
    const object = fc.record({ code, message: fc.string(), data: fc.constant(null) })
    const text = fc.oneof(
      object.map((value) => JSON.stringify(value)),
      fc.constantFrom('{"code":"\\u0041108P001"}', '{"code":"A108P001"', 'A108P001', '["A108P001"]', '', 'not json'),
      fc.string(),
    )
    const data = fc.oneof(
      object,
      text,
      text.map((value) => encoder.encode(value)),
      text.map((value) => encoder.encode(value).buffer),
      // A view into a larger buffer (as Buffer often is): only its own bytes count.
      text.map((value) => new Uint8Array(encoder.encode(`xxA108P001${value}`).buffer, 10)),
    )
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(200, 401, 500), data, fc.constantFrom('application/json', 'text/plain', null), async (status, body, contentType) => {
        const expected = await defaultIsAuthError({ status, headers: new Headers(), url: 'http://h/x', json: async () => jsonOfDecoded(body, contentType) })
        expect(decodedRefuses(status, body, contentType)).toBe(expected)
      }),
      { numRuns: 3000 },
    )
  })

  it('headerValue writes the scheme and the token, one string per token', () => {
    expect(headerValue({}, 't1')).toBe('t1')
    expect(headerValue({ scheme: 'Bearer' }, 't1')).toBe('Bearer t1')
    expect(headerValue({ scheme: 'Token' }, 't1')).toBe('Token t1')
    expect(headerValue({ scheme: 'Bearer' }, 't2')).toBe('Bearer t2')
    expect(headerValue({ scheme: 'Bearer' }, 't1')).toBe('Bearer t1')
  })

  it('redirectHop follows the fetch method rules', () => {
    expect(redirectHop(303, '/a', 'http://h/x', 'POST')).toMatchObject({ method: 'GET', dropBody: true })
    expect(redirectHop(302, '/a', 'http://h/x', 'POST')).toMatchObject({ method: 'GET', dropBody: true })
    expect(redirectHop(307, '/a', 'http://h/x', 'POST')).toMatchObject({ method: 'POST', dropBody: false })
    expect(redirectHop(308, 'http://o/b', 'http://h/x', 'PUT')?.url.href).toBe('http://o/b')
    expect(redirectHop(200, '/a', 'http://h/x', 'POST')).toBeUndefined()
    expect(redirectHop(302, null, 'http://h/x', 'POST')).toBeUndefined()
  })
})
