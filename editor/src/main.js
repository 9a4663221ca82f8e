// The playground's scenario editor: CodeMirror 6 with YAML highlighting,
// line numbers, Tab that inserts spaces, completion of keys (from the JSON
// Schema) and state names (from the text), and the server's own check as
// lint marks. Built into server/web/editor.js by `make editor`; the page
// (server/web/app.js) uses only window.OlbotEditor below.
import { EditorState, EditorSelection, Compartment } from '@codemirror/state';
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentLess, indentMore } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import {
  syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentUnit, foldGutter, foldKeymap
} from '@codemirror/language';
import { linter, lintGutter, forceLinting } from '@codemirror/lint';
import { autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { searchKeymap, highlightSelectionMatches } from '@codemirror/search';

const INDENT = 2;

// insertSpaces is Tab: spaces up to the next indentation stop at the
// cursor (YAML forbids tabs), or the selected lines indented.
function insertSpaces(view) {
  const { state } = view;
  if (state.selection.ranges.some((r) => !r.empty)) return indentMore(view);
  view.dispatch(state.changeByRange((r) => {
    const line = state.doc.lineAt(r.head);
    const n = INDENT - ((r.head - line.from) % INDENT);
    const text = ' '.repeat(n);
    return { changes: { from: r.head, insert: text }, range: EditorSelection.cursor(r.head + n) };
  }));
  return true;
}

// schemaWords reads the scenario JSON Schema: the keys of the file's top
// level, the keys of a state, every other key, and the keys whose value is
// a state name.
function schemaWords(schema) {
  const defs = schema.definitions || schema.$defs || {};
  const describe = (props) => Object.keys(props || {}).map((k) => ({ label: k, info: (props[k] && props[k].description) || '' }));
  const root = describe(schema.properties);
  const state = describe(defs.state && defs.state.properties);
  const seen = {};
  const all = [];
  const refs = {};
  const walk = (node, key) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) { node.forEach((n) => walk(n, key)); return; }
    if (typeof node.$ref === 'string' && /stateName$/.test(node.$ref) && key) refs[key] = true;
    Object.keys(node).forEach((k) => {
      if (k === 'properties' && node.properties && typeof node.properties === 'object') {
        Object.keys(node.properties).forEach((p) => {
          if (!seen[p]) { seen[p] = true; all.push({ label: p, info: (node.properties[p] && node.properties[p].description) || '' }); }
          walk(node.properties[p], p);
        });
      } else if (k === 'additionalProperties' || k === 'items' || k === 'oneOf' || k === 'anyOf' || k === 'allOf') {
        walk(node[k], key);
      } else if (k === 'definitions' || k === '$defs') {
        Object.keys(node[k]).forEach((d) => walk(node[k][d], ''));
      }
    });
  };
  walk(schema, '');
  return { root, state, all, stateRefs: refs };
}

// stateNames are the keys under the file's top-level `states:`.
function stateNames(doc) {
  const names = [];
  let inStates = false;
  let indent = -1;
  for (let i = 1; i <= doc.lines; i++) {
    const text = doc.line(i).text;
    if (/^\s*(#.*)?$/.test(text)) continue;
    if (/^\S/.test(text)) { inStates = /^states\s*:/.test(text); indent = -1; continue; }
    if (!inStates) continue;
    const m = /^( +)([^\s#:][^:#]*?)\s*:\s*(#.*)?$/.exec(text);
    const lead = /^ */.exec(text)[0].length;
    if (indent < 0 && m) indent = lead;
    if (m && lead === indent) names.push({ name: m[2].replace(/^["']|["']$/g, ''), line: i });
  }
  return names;
}

// completer offers state names after a key that takes one, keys elsewhere.
function completer(words) {
  return (ctx) => {
    const line = ctx.state.doc.lineAt(ctx.pos);
    const before = line.text.slice(0, ctx.pos - line.from);
    let m = /^(\s*)(?:-\s+)?([A-Za-z_]+)\s*:\s*\[?\s*(?:[\w-]+\s*,\s*)*([\w-]*)$/.exec(before);
    const w = words();
    if (m && (w.stateRefs[m[2]] || /^\s{4,}\S/.test(before) && /^[\w-]+:\s*[\w-]*$/.test(before.trim()) && inNextMap(ctx.state.doc, line.number))) {
      const word = m[3];
      return {
        from: ctx.pos - word.length,
        options: stateNames(ctx.state.doc).map((s) => ({ label: s.name, type: 'variable', detail: 'state' })),
        validFor: /^[\w-]*$/
      };
    }
    m = /^(\s*)(-\s+)?([A-Za-z_]*)$/.exec(before);
    if (!m || (!ctx.explicit && m[3] === '' && !m[2])) return null;
    const indent = m[1].length;
    let options = w.all;
    if (indent === 0 && !m[2]) options = w.root;
    else if (indent === INDENT * 2 && !m[2] && underStates(ctx.state.doc, line.number)) options = w.state;
    return {
      from: ctx.pos - m[3].length,
      options: options.map((o) => ({ label: o.label, type: 'property', info: o.info || undefined, apply: o.label + ': ' })),
      validFor: /^[A-Za-z_]*$/
    };
  };
}

// underStates: the line sits directly inside a state (a key of states.X).
function underStates(doc, n) {
  for (let i = n - 1; i >= 1; i--) {
    const t = doc.line(i).text;
    if (/^\s*(#.*)?$/.test(t)) continue;
    if (/^\S/.test(t)) return /^states\s*:/.test(t);
  }
  return false;
}

// inNextMap: the line is an entry of a `next:` map (answer → state).
function inNextMap(doc, n) {
  const lead = /^ */.exec(doc.line(n).text)[0].length;
  for (let i = n - 1; i >= 1; i--) {
    const t = doc.line(i).text;
    if (/^\s*(#.*)?$/.test(t)) continue;
    const l = /^ */.exec(t)[0].length;
    if (l < lead) return /^\s*next\s*:\s*$/.test(t);
  }
  return false;
}

// toDiagnostics turns the server's positioned problems into lint marks:
// from the problem's column to the end of the word there.
function toDiagnostics(doc, problems) {
  return problems.map((p) => {
    const ln = Math.min(Math.max(p.line || 1, 1), doc.lines);
    const line = doc.line(ln);
    const from = Math.min(line.from + Math.max((p.col || 1) - 1, 0), line.to);
    const rest = line.text.slice(from - line.from);
    const word = /^[^\s,\]}]+/.exec(rest);
    const to = word ? from + word[0].length : Math.min(from + 1, line.to);
    return {
      from, to: Math.max(to, from),
      severity: p.warning ? 'warning' : 'error',
      message: p.message + (p.hint ? '\nhint: ' + p.hint : ''),
      source: 'olbot check'
    };
  });
}

// create makes an editor in parent. opts.check(text) → Promise of problems
// [{line, col, message, hint, warning}] (or null when the check could not
// run); opts.onProblems(problems) hears every check; opts.onChange(text)
// every edit.
function create(parent, opts) {
  const words = { root: [], state: [], all: [], stateRefs: {} };
  let current = words;
  const lintDelay = opts.delay || 400;
  const lint = linter(async (view) => {
    const text = view.state.doc.toString();
    let problems;
    try { problems = await opts.check(text); } catch (e) { problems = null; }
    if (!problems) return [];
    if (opts.onProblems) opts.onProblems(problems, text);
    return toDiagnostics(view.state.doc, problems);
  }, { delay: lintDelay });
  const editable = new Compartment();
  // the page's Content-Security-Policy lets styles in only with its nonce
  const meta = document.querySelector('meta[name="csp-nonce"]');
  const nonce = meta ? meta.getAttribute('content') : '';
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: opts.doc || '',
      extensions: [
        nonce ? EditorView.cspNonce.of(nonce) : [],
        lineNumbers(), highlightActiveLineGutter(), foldGutter(), highlightSpecialChars(), history(), drawSelection(),
        bracketMatching(), closeBrackets(), highlightActiveLine(), highlightSelectionMatches(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        indentUnit.of(' '.repeat(INDENT)), EditorState.tabSize.of(INDENT),
        yaml(), lintGutter(), lint,
        autocompletion({ override: [completer(() => current)], activateOnTyping: true }),
        editable.of(EditorView.editable.of(true)),
        keymap.of([
          { key: 'Tab', run: insertSpaces, shift: indentLess },
          ...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...foldKeymap, ...completionKeymap
        ]),
        EditorView.updateListener.of((u) => { if (u.docChanged && opts.onChange) opts.onChange(u.state.doc.toString()); }),
        EditorView.contentAttributes.of({ 'aria-label': opts.label || 'Scenario file', spellcheck: 'false' })
      ]
    })
  });
  return {
    view,
    get: () => view.state.doc.toString(),
    // set replaces the whole text (a file opened, a version loaded).
    set(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    setSchema(schema) { current = schemaWords(schema); },
    // goto puts the cursor at the start of line n and scrolls it into view.
    goto(n) {
      const ln = view.state.doc.line(Math.min(Math.max(n, 1), view.state.doc.lines));
      const at = ln.from + (/^ */.exec(ln.text)[0].length);
      view.dispatch({ selection: { anchor: at }, effects: EditorView.scrollIntoView(at, { y: 'center' }) });
      view.focus();
    },
    recheck() { forceLinting(view); },
    setReadOnly(ro) { view.dispatch({ effects: editable.reconfigure(EditorView.editable.of(!ro)) }); },
    focus() { view.focus(); },
    stateNames: () => stateNames(view.state.doc)
  };
}

window.OlbotEditor = { create, schemaWords, stateNames };
