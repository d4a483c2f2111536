/**
 * A token answer read within a size limit: a token endpoint's answer is a few hundred bytes, so a huge
 * one (or a small compressed one that inflates) is refused part-way instead of filling the memory.
 * @packageDocumentation
 */
import { InvalidResponseError } from '../errors.js'

/** At most this many decoded bytes of a token answer are read. */
const MAX_TOKEN_ANSWER_BYTES = 64 * 1024

/**
 * `response` with a body that fails with `ERR_TOKEN_RESPONSE` once more than `limit` decoded bytes have
 * come, the rest of the original body cancelled; status and headers unchanged (not `url` or
 * `redirected`: check for a redirect first), so any reader (`text()`, openapi-fetch's own) is bounded.
 */
function boundedBody(response: Response, limit = MAX_TOKEN_ANSWER_BYTES): Response {
  if (response.body === null) return response
  const reader = response.body.getReader()
  let size = 0
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read()
        if (done) return controller.close()
        size += value.byteLength
        if (size <= limit) return controller.enqueue(value)
        reader.cancel().catch(() => undefined)
        controller.error(
          new InvalidResponseError(
            `The token endpoint answered HTTP ${response.status} with a body of more than ${limit} bytes; a token answer is ` +
              'a few hundred. The rest of it was not read.',
            { status: response.status },
          ),
        )
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  )
  return new Response(body, response)
}

export { boundedBody, MAX_TOKEN_ANSWER_BYTES }
