// Type test: uses the public types the way a user would. `tsc -p
// __test__/tsconfig.json` must accept the valid uses and reject the ones
// marked @ts-expect-error (an unused @ts-expect-error is itself an error).
import { loopInfo, type LoopInfo, type NodeperfError } from '@nodeperf/native'

const info: LoopInfo = loopInfo()
const libuv: string = info.libuv
const napi: number = info.napi
const iterations: number = info.iterations
const thread: 'main' | `worker-${number}` = info.thread
void [libuv, napi, iterations, thread]

// @ts-expect-error loopInfo takes no arguments
loopInfo(1)
// @ts-expect-error iterations is a number
const wrong: string = info.iterations
void wrong

function handle(err: NodeperfError): string {
  return err.code + err.message
}
void handle

// JSON
import { parseJson, parseJsonSync, validateJson, type JsonOptions, type JsonSyntaxError } from '@nodeperf/native'

async function json(): Promise<void> {
  const fromString: unknown = await parseJson('[1]')
  const fromBytes: unknown = await parseJson(Buffer.from('[1]'), { signal: AbortSignal.timeout(100), sliceSize: 1024 })
  const fromShared: unknown = await parseJson(new SharedArrayBuffer(2))
  const ok: true = await validateJson(new Uint8Array(2))
  const sync: unknown = parseJsonSync(new DataView(new ArrayBuffer(2)))
  const options: JsonOptions = { sliceSize: 10 }
  void [fromString, fromBytes, fromShared, ok, sync, options]
  // @ts-expect-error data must be a string or binary
  await parseJson(42)
  // @ts-expect-error sliceSize is a number
  await parseJson('1', { sliceSize: '10' })
  // @ts-expect-error validateJson resolves to true, not a value
  const notValue: string = await validateJson('1')
  void notValue
}
void json

function onError(err: JsonSyntaxError): number {
  return err.position + err.code.length
}
void onError
