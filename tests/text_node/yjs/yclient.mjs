// A real Yjs client for the tests: yjs + y-websocket (npm), driven by JSON lines on
// stdin, answering and reporting events as JSON lines on stdout.
// Usage: node yclient.mjs <node url> <name> <token>
import readline from 'node:readline'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

const [url, name, token] = process.argv.slice(2)
const doc = new Y.Doc()
const text = doc.getText('text')
const provider = new WebsocketProvider(url.replace(/^http/, 'ws') + '/yjs', 'document', doc, {
  WebSocketPolyfill: WebSocket, params: { token, name }, disableBc: true, maxBackoffTime: 500
})
provider.awareness.setLocalStateField('user', { name })
const emit = (message) => process.stdout.write(JSON.stringify(message) + '\n')
provider.on('sync', (synced) => emit({ event: 'sync', synced }))
provider.on('connection-close', (event) => emit({ event: 'close', code: event ? event.code : null }))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const commands = {
  state: () => ({
    text: text.toString(), synced: provider.synced, connected: provider.wsconnected,
    people: [...provider.awareness.getStates().values()].map((s) => s.user && s.user.name).filter(Boolean)
  }),
  insert: ({ index, text: piece }) => { text.insert(index ?? text.length, piece); return commands.state() },
  delete: ({ index, length }) => { text.delete(index, length); return commands.state() },
  // one character at a time, each its own transaction (a person typing)
  type: async ({ text: piece, index, delay }) => {
    let at = index ?? text.length
    for (const char of piece) {
      text.insert(Math.min(at, text.length), char)
      at += char.length
      await sleep(delay ?? 0)
    }
    return commands.state()
  },
  // a write to another root of the shared document, which a person may not make
  forge: ({ root, key, value }) => { doc.getMap(root).set(key, value); return commands.state() },
  // y-websocket does not reconnect after a close for good (a 44xx code) unless told to;
  // it then comes back with the Y.Doc it has
  connect: () => { provider.connect(); return commands.state() },
  quit: () => { provider.destroy(); setTimeout(() => process.exit(0), 50); return {} }
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  const { id, cmd, ...args } = JSON.parse(line)
  try {
    emit({ id, result: await commands[cmd](args) })
  } catch (error) {
    emit({ id, error: String(error) })
  }
}
