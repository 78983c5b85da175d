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
