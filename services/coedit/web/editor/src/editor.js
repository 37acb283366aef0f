// The document page's editor: CodeMirror 6 bound to the session's text (Yjs,
// `getText("text")`) through the web's /yjs relay to a text node, with the other
// people's cursors (awareness). Read-only unless the browser is signed in.
// It lives in a shadow root: CodeMirror's styles then go to a constructed style
// sheet, which the page's Content-Security-Policy (no inline <style>) allows.
import { EditorState } from '@codemirror/state'
import { EditorView, minimalSetup } from 'codemirror'
import { yCollab } from 'y-codemirror.next'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

const COLOURS = [
  ['#e8590c', '#e8590c33'], ['#1971c2', '#1971c233'], ['#2f9e44', '#2f9e4433'], ['#9c36b5', '#9c36b533'],
  ['#c2255c', '#c2255c33'], ['#0c8599', '#0c859933'], ['#f08c00', '#f08c0033'], ['#5f3dc4', '#5f3dc433']
]

// the page's colours (custom properties reach into the shadow root)
const THEME = EditorView.theme({
  '&': { border: '1px solid var(--line)', borderRadius: '6px', minHeight: '12rem', maxHeight: '70vh', fontSize: '1rem' },
  '&.cm-focused': { outline: '2px solid var(--accent)' },
  '.cm-scroller': { fontFamily: 'inherit', lineHeight: '1.6' },
  '.cm-content': { caretColor: 'var(--fg)' }
})

function colourOf (name) {
  let hash = 0
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0
  return COLOURS[hash % COLOURS.length]
}

function start (root) {
  const signedIn = document.body.dataset.signedIn === '1'
  const name = (localStorage.getItem('coedit-name') || '').trim() || 'anonymous'
  const doc = new Y.Doc()
  const text = doc.getText('text')
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const provider = new WebsocketProvider(`${scheme}://${location.host}/yjs`, 'document', doc, {
    params: { name }, disableBc: true, maxBackoffTime: 2000
  })
  const [color, colorLight] = colourOf(name)
  if (signedIn) provider.awareness.setLocalStateField('user', { name, color, colorLight })
  const shadow = root.attachShadow({ mode: 'open' })
  const view = new EditorView({
    root: shadow,
    parent: shadow,
    state: EditorState.create({
      doc: text.toString(),
      extensions: [
        minimalSetup, EditorView.lineWrapping, THEME, yCollab(text, provider.awareness),
        EditorState.readOnly.of(!signedIn), EditorView.editable.of(signedIn)
      ]
    })
  })
  const status = document.getElementById('editor-status')
  const show = () => {
    const state = provider.wsconnected ? (provider.synced ? 'synced' : 'syncing') : 'connecting'
    root.dataset.state = state
    if (status) status.textContent = `${state}${signedIn ? ` as ${name}` : ' (read-only: sign in to edit)'}`
  }
  provider.on('status', show)
  provider.on('sync', show)
  show()
  return { view, doc, provider }
}

const root = document.getElementById('editor')
if (root) start(root)
