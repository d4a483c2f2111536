import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { injectJsonText, injectUrlEncoded, redirectHop } from '../../src/adapter-core.js'

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

  it('redirectHop follows the fetch method rules', () => {
    expect(redirectHop(303, '/a', 'http://h/x', 'POST')).toMatchObject({ method: 'GET', dropBody: true })
    expect(redirectHop(302, '/a', 'http://h/x', 'POST')).toMatchObject({ method: 'GET', dropBody: true })
    expect(redirectHop(307, '/a', 'http://h/x', 'POST')).toMatchObject({ method: 'POST', dropBody: false })
    expect(redirectHop(308, 'http://o/b', 'http://h/x', 'PUT')?.url.href).toBe('http://o/b')
    expect(redirectHop(200, '/a', 'http://h/x', 'POST')).toBeUndefined()
    expect(redirectHop(302, null, 'http://h/x', 'POST')).toBeUndefined()
  })
})
