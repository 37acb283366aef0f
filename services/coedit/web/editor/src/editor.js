// The document page's editor: CodeMirror 6 bound to the session's text (Yjs,
// `getText("text")`) through the web's /yjs relay to a text node, with the other
// people's cursors (awareness). Read-only unless the browser is signed in.
// It lives in a shadow root: CodeMirror's styles then go to a constructed style
// sheet, which the page's Content-Security-Policy (no inline <style>) allows.
// The agents' open intents are highlighted where their anchors are.
// When the text nodes restart the document in a new generation they close every
// editor's connection with RESTARTED: the editor starts over with a new Y.Doc (its
// old one means nothing to the new document; y-websocket does not reconnect on a
// 44xx close).
import { EditorState, StateEffect, StateField } from '@codemirror/state'
import { Decoration } from '@codemirror/view'
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
  '.cm-content': { caretColor: 'var(--fg)' },
  '.cm-intent': { background: 'color-mix(in srgb, var(--accent) 18%, transparent)', borderBottom: '2px dotted var(--accent)' }
})

// --- the agents' open intents, highlighted where their anchors are ---
const INTENTS_EVERY_MS = 3000
const RESTARTED = 4409 // people.py
const setIntents = StateEffect.define()

const intentMarks = StateField.define({
  create: () => ({ intents: [], marks: Decoration.none }),
  update (value, transaction) {
    let intents = value.intents
    for (const effect of transaction.effects) if (effect.is(setIntents)) intents = effect.value
    if (intents === value.intents && !transaction.docChanged) return value
    return { intents, marks: markIntents(transaction.state.doc.toString(), intents) }
  },
  provide: (field) => EditorView.decorations.from(field, (value) => value.marks)
})

function markIntents (text, intents) {
  const ranges = []
  for (const intent of intents) {
    const at = intent.anchor ? text.indexOf(intent.anchor) : -1
    if (at < 0) continue
    ranges.push(Decoration.mark({
      class: 'cm-intent', attributes: { title: `${intent.agent_id}: ${intent.summary}` }
    }).range(at, at + intent.anchor.length))
  }
  ranges.sort((a, b) => a.from - b.from)
  return Decoration.set(ranges, true)
}

async function followIntents (editor) {
  try {
    const response = await fetch('/api/intents')
    if (response.ok) editor.view.dispatch({ effects: setIntents.of((await response.json()).intents) })
  } catch (error) { /* the web is away; next round */ }
  setTimeout(() => followIntents(editor), INTENTS_EVERY_MS)
}

function colourOf (name) {
  let hash = 0
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0
  return COLOURS[hash % COLOURS.length]
}

function start (root) {
  const shadow = root.attachShadow({ mode: 'open' })
  const editor = connect(root, shadow, '')
  followIntents(editor)
  return editor
}

// One document, its connection and its view; `editor` is updated in place when the
// document restarts, so followIntents keeps the current view.
function connect (root, shadow, notice, editor = {}) {
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
  const view = new EditorView({
    root: shadow,
    parent: shadow,
    state: EditorState.create({
      doc: text.toString(),
      extensions: [
        minimalSetup, EditorView.lineWrapping, THEME, intentMarks, yCollab(text, provider.awareness),
        EditorState.readOnly.of(!signedIn), EditorView.editable.of(signedIn)
      ]
    })
  })
  const status = document.getElementById('editor-status')
  const show = () => {
    const state = provider.wsconnected ? (provider.synced ? 'synced' : 'syncing') : 'connecting'
    root.dataset.state = state
    if (status) status.textContent = `${notice}${state}${signedIn ? ` as ${name}` : ' (read-only: sign in to edit)'}`
  }
  provider.on('status', show)
  provider.on('sync', show)
  provider.on('closed', (event) => {
    if (event.code !== RESTARTED) return
    provider.destroy()
    view.destroy()
    doc.destroy()
    connect(root, shadow, 'the document restarted; reloaded — ', editor)
  })
  show()
  root.dataset.restarts = String(Number(root.dataset.restarts || '0') + (notice ? 1 : 0))
  return Object.assign(editor, { view, doc, provider })
}

const root = document.getElementById('editor')
if (root) start(root)
