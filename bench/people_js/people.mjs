// The clients of bench/people.py: people typing (npm yjs, over y-websocket for coedit
// or @hocuspocus/provider for the Hocuspocus reference), one observer per server, and
// for coedit a probe of every node's GET /api/document. Prints one JSON line.
// Usage: node people.mjs '<config as JSON>' (see bench/people.py)
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

const config = JSON.parse(process.argv[2])
const { HocuspocusProvider } = config.target === 'coedit' ? {} : await import('@hocuspocus/provider')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const now = () => performance.now()

function connect (server, name) {
  const doc = new Y.Doc()
  const provider = config.target === 'coedit'
    ? new WebsocketProvider(server + '/yjs', 'document', doc, {
      WebSocketPolyfill: WebSocket, params: { token: config.token, name }, disableBc: true
    })
    : new HocuspocusProvider({ url: server, name: 'document', document: doc, token: config.token, WebSocketPolyfill: WebSocket })
  return { doc, text: doc.getText('text'), provider, name }
}

const synced = (client) => client.provider.synced || client.provider.isSynced
async function until (check, what, timeoutMs = 120000) {
  const deadline = now() + timeoutMs
  while (!check()) {
    if (now() > deadline) throw new Error(`not ${what} after ${timeoutMs} ms`)
    await sleep(20)
  }
}

const servers = config.servers
const observers = servers.map((server, i) => connect(server, `observer-${i}`))
const people = Array.from({ length: config.people }, (_, i) => connect(servers[i % servers.length], `person-${i}`))
const agents = Array.from({ length: config.agents }, (_, i) => connect(servers[i % servers.length], `agent-${i}`))
const everyone = [...observers, ...people, ...agents]
await until(() => everyone.every(synced), 'synced')

// a long document: pasted in pieces at random places, then seen by every observer
if (config.initialChars > observers[0].text.length) {
  const writer = people[0]
  const piece = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. '
  while (writer.text.length < config.initialChars) {
    const chunk = piece.repeat(Math.ceil(1000 / piece.length)).slice(0, 1000)
    writer.text.insert(Math.floor(Math.random() * (writer.text.length + 1)), chunk)
    await sleep(2)
  }
  const length = writer.text.length
  await until(() => everyone.every((c) => c.text.length >= length), 'holding the long document')
}

// keystroke -> the observer on another server: by the typist's clock in the observer's state vector
const toClient = []
const waiting = new Map() // typist client id -> [[clock, sent at], ...]
let measuring = false
people.forEach((person, i) => {
  const observer = observers[(i + 1) % observers.length]
  const id = person.doc.clientID
  waiting.set(id, [])
  observer.doc.on('update', () => {
    const arrived = Y.getState(observer.doc.store, id)
    const queue = waiting.get(id)
    while (queue.length && queue[0][0] < arrived) {
      const [, sent] = queue.shift()
      if (measuring) toClient.push(now() - sent)
    }
  })
})

const stopAt = now() + config.seconds * 1000
const warmUntil = now() + 1000
setTimeout(() => { measuring = true }, 1000)
let keystrokes = 0

async function type (person) {
  let at = Math.floor(Math.random() * (person.text.length + 1))
  const letters = 'abcdefghijklmnopqrstuvwxyz '
  while (now() < stopAt) {
    const clock = Y.getState(person.doc.store, person.doc.clientID)
    at = Math.min(at, person.text.length)
    person.text.insert(at, letters[Math.floor(Math.random() * letters.length)])
    at += 1
    waiting.get(person.doc.clientID).push([clock, now()])
    if (now() > warmUntil) keystrokes += 1
    await sleep(config.keystrokeMs * (0.5 + Math.random()))
  }
}

async function write (agent, w) {
  for (let i = 0; now() < stopAt; i++) {
    agent.text.insert(agent.text.length, ` Предложение ${w}.${i} 🤖.`)
    await sleep(config.agentEveryMs)
  }
}

// keystroke -> every node's GET /api/document: a marker typed as one keystroke, then
// each node polled until its text holds it (resolution: one GET and `pollMs`)
const toNodes = []
async function probe () {
  const person = people[0]
  await sleep(1000)
  for (let k = 0; now() < stopAt - 1000; k++) {
    const marker = `#${process.pid}p${k}#`
    person.text.insert(Math.floor(Math.random() * (person.text.length + 1)), marker)
    const sent = now()
    const seen = await Promise.all(config.documents.map(async (url) => {
      while (now() - sent < 10000) {
        const answer = await (await fetch(url)).json()
        if (answer.text.includes(marker)) return now() - sent
        await sleep(config.pollMs)
      }
      return null
    }))
    toNodes.push(seen)
    await sleep(config.probeEveryMs)
  }
}

await Promise.all([...people.map(type), ...agents.map(write), ...(config.documents.length ? [probe()] : [])])
await sleep(1000) // the last keystrokes arrive
process.stdout.write(JSON.stringify({
  to_client_ms: toClient, to_nodes_ms: toNodes, keystrokes, unanswered: [...waiting.values()].reduce((n, q) => n + q.length, 0),
  length: observers[0].text.length
}) + '\n')
for (const client of everyone) client.provider.destroy()
process.exit(0)
