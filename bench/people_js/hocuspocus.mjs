// The reference server of bench/people.py: Hocuspocus with its Database extension
// storing each document in PostgreSQL (the extension stores debounced: 2 s after a
// document's last change, at most every 10 s while it keeps changing).
// Usage: node hocuspocus.mjs <port> <postgresql url> <token>
import { Database } from '@hocuspocus/extension-database'
import { Server } from '@hocuspocus/server'
import pg from 'pg'

const [port, url, token] = process.argv.slice(2)
const pool = new pg.Pool({ connectionString: url })
await pool.query('CREATE TABLE IF NOT EXISTS documents (name text PRIMARY KEY, data bytea NOT NULL)')
const server = new Server({
  port: Number(port),
  quiet: true,
  extensions: [new Database({
    fetch: async ({ documentName }) =>
      (await pool.query('SELECT data FROM documents WHERE name = $1', [documentName])).rows[0]?.data ?? null,
    store: async ({ documentName, state }) => {
      await pool.query('INSERT INTO documents (name, data) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET data = $2',
        [documentName, state])
    }
  })],
  async onAuthenticate (data) {
    if (data.token !== token) throw new Error('not authorized')
  }
})
await server.listen()
process.stdout.write(JSON.stringify({ ready: true }) + '\n')
