// olbot playground — plain JavaScript (ES2017), no framework, no build step.
// Talks to /playground/api/… of the olbot server that serves this page.
(function () {
  'use strict';

  // ---- i18n -------------------------------------------------------------

  var I18N = {
    en: {
      title: 'olbot playground',
      skip: 'Skip to the message box',
      version: 'Scenarios version',
      connLive: 'live',
      connConnecting: 'connecting…',
      connPolling: 'reconnecting (checking every 2 s)',
      tokenLabel: 'This server needs its admin token',
      tokenSave: 'Use the token',
      tokenWrong: 'The token was not accepted. Try again.',
      errorsTitle: 'A saved file did not load — its last good version keeps running',
      folderError: 'The scenario folder could not be read',
      liveKept: 'still live: version {v}',
      neverLoaded: 'not loaded',
      hint: 'hint:',
      reloadOk: 'New version {v} is live.',
      reloadOkFor: 'New version {v} is live: {list}.',
      allGood: 'Every file loads again.',
      chat: 'Chat as a client',
      scenario: 'Scenario',
      clientName: "Client's first name",
      dialogLanguage: "Dialog's language",
      languageNow: 'The dialog is in {l} now.',
      clientPlaceholder: 'Anna',
      restart: 'Restart the conversation',
      pgNote: 'Playground chats never reach a portal: nothing is sent to Bitrix24, and they are not counted in the funnel.',
      conversation: 'Conversation',
      buttons: 'Buttons of the last message',
      message: 'Your message',
      messagePlaceholder: 'Type as the client and press Enter',
      send: 'Send',
      idle: 'Client goes silent',
      close: 'Close the session',
      diagram: 'Diagram',
      currentState: 'Current state:',
      traffic: 'Show real traffic (funnel)',
      refresh: 'Refresh',
      fields: 'Collected fields',
      noFields: 'Nothing collected yet.',
      funnelTitle: 'Real traffic',
      you: 'You',
      bot: 'Bot',
      greeting: 'Greeting',
      greetWelcome: "Greeting: the line's own welcome message",
      operator: 'Handed to any free operator',
      transferLine: 'Transferred to line {n}',
      transferUser: 'Transferred to operator {n}',
      botLeaves: ', the bot leaves the chat',
      finish: 'Session finished',
      call: 'Call {e}: {m} {p}',
      crm: 'CRM: {target} ← {fields}',
      crmNew: 'new lead',
      crmLead: 'lead {n}',
      ignored: 'Nothing happened: {r}',
      silent: 'The client stays silent…',
      closed: 'The session was closed from outside.',
      started: 'New conversation with “{s}” (version {v}).',
      failed: 'The server refused: {e}',
      offline: 'The server cannot be reached: {e}',
      pressed: 'Pressed: {b}',
      statusActive: 'talking',
      statusHanded: 'handed off',
      statusFinished: 'finished',
      notLoaded: 'This scenario is no longer loaded.',
      diagramOf: 'Diagram of scenario {s}: {n} states, arrows as in olbot graph.',
      legend: 'Thick orange box: the dialog’s current state. Dashed box and ◉: hands off or finishes. Dotted arrow: a global command. Orange: a loop is a bad answer asked again, a solid arrow is retries used up, a dashed one is silence. Every label: hover an arrow, or open the list below.',
      arrowsList: 'Arrows as a list',
      start: 'start',
      end: 'end',
      legendTraffic: 'Numbers on boxes: times entered · waiting now. Numbers on arrows: times taken. Darker means more traffic.',
      countIn: '{n} in',
      countNow: '{n} now',
      colState: 'State',
      colEntered: 'Entered',
      colActive: 'Waiting now',
      colFinished: 'Finished',
      colHanded: 'Handed off',
      funnelSummary: 'Since {since}: {started} started, {active} waiting now, {finished} finished, {handed} handed off.',
      funnelEmpty: 'No real traffic yet.',
      reasons: 'Handed off because: {list}.',
      reason_asked: 'asked for a person',
      reason_command: 'typed a command',
      reason_retries: 'retries used up',
      reason_idle: 'went silent',
      reason_client_zero: 'typed 0',
      reason_scenario: 'the scenario hands off',
      reason_scenario_removed: 'scenario removed',
      reason_no_scenario: 'no scenario',
      e_removed: 'state removed by a reload',
      e_button: 'button {x}',
      e_on: 'words: {x}',
      e_command: 'command: {x}',
      e_answer: 'answer',
      e_answerX: 'answer: {x}',
      e_else: 'anything else',
      e_retry: 'bad answer',
      e_fail: 'retries used up',
      e_failOp: 'retries used up → operator',
      e_idle: 'silence',
      e_idleFinish: 'silence → finish',
      e_operator: 'operator',
      e_finish: 'finish',
      e_transferLine: 'transfer → line {x}',
      e_transferUser: 'transfer → operator {x}'
    },
    ru: {
      title: 'Песочница olbot',
      skip: 'Перейти к полю сообщения',
      version: 'Версия сценариев',
      connLive: 'на связи',
      connConnecting: 'подключение…',
      connPolling: 'переподключение (проверка каждые 2 с)',
      tokenLabel: 'Этому серверу нужен токен администратора',
      tokenSave: 'Применить токен',
      tokenWrong: 'Токен не подошёл. Попробуйте ещё раз.',
      errorsTitle: 'Сохранённый файл не загрузился — работает его последняя исправная версия',
      folderError: 'Не удалось прочитать папку сценариев',
      liveKept: 'работает версия {v}',
      neverLoaded: 'не загружен',
      hint: 'подсказка:',
      reloadOk: 'Новая версия {v} работает.',
      reloadOkFor: 'Новая версия {v} работает: {list}.',
      allGood: 'Все файлы снова загружаются.',
      chat: 'Чат от имени клиента',
      scenario: 'Сценарий',
      clientName: 'Имя клиента',
      dialogLanguage: 'Язык диалога',
      languageNow: 'Диалог теперь на языке {l}.',
      clientPlaceholder: 'Анна',
      restart: 'Начать разговор заново',
      pgNote: 'Чаты песочницы не доходят до портала: в Битрикс24 ничего не отправляется, и в воронке они не учитываются.',
      conversation: 'Разговор',
      buttons: 'Кнопки последнего сообщения',
      message: 'Ваше сообщение',
      messagePlaceholder: 'Пишите как клиент и нажмите Enter',
      send: 'Отправить',
      idle: 'Клиент замолчал',
      close: 'Закрыть сессию',
      diagram: 'Схема',
      currentState: 'Текущее состояние:',
      traffic: 'Показать реальный трафик (воронку)',
      refresh: 'Обновить',
      fields: 'Собранные поля',
      noFields: 'Пока ничего не собрано.',
      funnelTitle: 'Реальный трафик',
      you: 'Вы',
      bot: 'Бот',
      greeting: 'Приветствие',
      greetWelcome: 'Приветствие: собственное приветствие линии',
      operator: 'Передано любому свободному оператору',
      transferLine: 'Переведено на линию {n}',
      transferUser: 'Переведено оператору {n}',
      botLeaves: ', бот выходит из чата',
      finish: 'Сессия завершена',
      call: 'Запрос {e}: {m} {p}',
      crm: 'CRM: {target} ← {fields}',
      crmNew: 'новый лид',
      crmLead: 'лид {n}',
      ignored: 'Ничего не произошло: {r}',
      silent: 'Клиент молчит…',
      closed: 'Сессию закрыли извне.',
      started: 'Новый разговор со сценарием «{s}» (версия {v}).',
      failed: 'Сервер отказал: {e}',
      offline: 'Сервер недоступен: {e}',
      pressed: 'Нажата кнопка: {b}',
      statusActive: 'идёт разговор',
      statusHanded: 'передан оператору',
      statusFinished: 'завершён',
      notLoaded: 'Этот сценарий больше не загружен.',
      diagramOf: 'Схема сценария {s}: состояний — {n}, стрелки как в olbot graph.',
      legend: 'Жирная оранжевая рамка — текущее состояние диалога. Пунктирная рамка и ◉ — передача оператору или завершение. Точечная стрелка — общая команда. Оранжевым: петля — неверный ответ и повтор вопроса, сплошная стрелка — попытки исчерпаны, штриховая — молчание. Все подписи — при наведении на стрелку или в списке ниже.',
      arrowsList: 'Стрелки списком',
      start: 'начало',
      end: 'конец',
      legendTraffic: 'Числа на состояниях: сколько раз вошли · сколько ждут сейчас. Числа на стрелках: сколько раз прошли. Чем темнее, тем больше трафика.',
      countIn: 'вошли {n}',
      countNow: 'ждут {n}',
      colState: 'Состояние',
      colEntered: 'Вошли',
      colActive: 'Ждут сейчас',
      colFinished: 'Завершены',
      colHanded: 'Переданы',
      funnelSummary: 'С {since}: начато {started}, ждут сейчас {active}, завершено {finished}, передано оператору {handed}.',
      funnelEmpty: 'Реального трафика пока нет.',
      reasons: 'Переданы оператору, потому что: {list}.',
      reason_asked: 'попросили человека',
      reason_command: 'написали команду',
      reason_retries: 'исчерпаны попытки',
      reason_idle: 'замолчали',
      reason_client_zero: 'написали 0',
      reason_scenario: 'так задано в сценарии',
      reason_scenario_removed: 'сценарий удалён',
      reason_no_scenario: 'нет сценария',
      e_removed: 'состояние удалено при перезагрузке',
      e_button: 'кнопка {x}',
      e_on: 'слова: {x}',
      e_command: 'команда: {x}',
      e_answer: 'ответ',
      e_answerX: 'ответ: {x}',
      e_else: 'другой ответ',
      e_retry: 'неверный ответ',
      e_fail: 'попытки исчерпаны',
      e_failOp: 'попытки исчерпаны → оператор',
      e_idle: 'молчание',
      e_idleFinish: 'молчание → конец',
      e_operator: 'оператор',
      e_finish: 'завершение',
      e_transferLine: 'перевод → линия {x}',
      e_transferUser: 'перевод → оператор {x}'
    }
  };

  function pickLang() {
    var forced = new URLSearchParams(location.search).get('lang');
    if (forced && I18N[forced]) return forced;
    var langs = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || 'en'];
    for (var i = 0; i < langs.length; i++) {
      var l = String(langs[i]).toLowerCase().slice(0, 2);
      if (I18N[l]) return l;
    }
    return 'en';
  }

  var LANG = pickLang();

  function t(key, vars) {
    var s = I18N[LANG][key];
    if (s === undefined) s = I18N.en[key];
    if (s === undefined) s = key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] === undefined ? m : String(vars[k]); });
    }
    return s;
  }

  function applyI18n() {
    document.documentElement.lang = LANG;
    document.title = t('title');
    var nodes = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = t(nodes[i].getAttribute('data-i18n'));
    $('log').setAttribute('aria-label', t('conversation'));
    $('menu').setAttribute('aria-label', t('buttons'));
    $('client').placeholder = t('clientPlaceholder');
    $('chat-input').placeholder = t('messagePlaceholder');
  }

  // ---- helpers ----------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.setAttribute('class', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    });
  }

  function append(e, children) {
    if (children === undefined || children === null) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
  }

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function randomId() {
    var b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function short(text, n) {
    text = String(text);
    return text.length > n ? text.slice(0, n - 1) + '…' : text;
  }

  function fmtTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime()) || d.getFullYear() < 2000) return '';
    try {
      return d.toLocaleString(LANG === 'ru' ? 'ru-RU' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
    } catch (e) {
      return d.toLocaleString();
    }
  }

  // ---- state ------------------------------------------------------------

  var TOKEN_KEY = 'olbot-admin-token';
  var st = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    scenarios: [],
    byName: {},
    version: '',
    status: null,
    scenario: '',
    session: '',
    dialog: null,
    menu: [],
    funnel: null,
    funnelTimer: 0,
    okTimer: 0,
    queue: Promise.resolve(),
    watching: false
  };

  // ---- API --------------------------------------------------------------

  function AuthError() { this.message = 'unauthorized'; }

  async function api(method, path, body) {
    var opts = { method: method, headers: {}, cache: 'no-store' };
    if (st.token) opts.headers.Authorization = 'Bearer ' + st.token;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    var res = await fetch('/playground/api' + path, opts);
    if (res.status === 401) {
      askToken(!!st.token);
      throw new AuthError();
    }
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var err = new Error((data && data.error) || res.statusText || String(res.status));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function askToken(wrong) {
    var form = $('token-form');
    $('token-error').textContent = wrong ? t('tokenWrong') : '';
    if (!form.hidden) return;
    form.hidden = false;
    $('token-input').focus();
  }

  // ---- scenarios, versions and reload errors -----------------------------

  async function loadScenarios() {
    var data = await api('GET', '/scenarios');
    st.scenarios = data.scenarios || [];
    st.byName = {};
    st.scenarios.forEach(function (sc) { st.byName[sc.name] = sc; });
    st.version = data.version;
    showVersion(data.version, data.loaded_at);
    fillSelect();
    showErrors(data.status);
    return data;
  }

  function showVersion(v, at) {
    var e = $('version');
    e.textContent = v || '—';
    e.title = at ? fmtTime(at) : '';
  }

  function fillSelect() {
    var sel = $('scenario');
    var keep = st.scenario || sel.value;
    clear(sel);
    st.scenarios.forEach(function (sc) {
      var label = sc.name + (sc.title ? ' — ' + sc.title : '');
      sel.appendChild(h('option', { value: sc.name, text: label }));
    });
    if (keep && st.byName[keep]) sel.value = keep;
  }

  // fillLanguages offers the languages of the chosen scenario; the page
  // hides the switch for a scenario in one language.
  function fillLanguages() {
    var sc = st.byName[st.scenario];
    var langs = (sc && sc.languages) || [];
    var sel = $('language');
    var keep = sel.value;
    clear(sel);
    langs.forEach(function (l) { sel.appendChild(h('option', { value: l, text: l })); });
    if (keep && langs.indexOf(keep) >= 0) sel.value = keep;
    $('language-control').hidden = langs.length < 2;
  }

  function showErrors(status) {
    if (!status) return;
    var had = st.status && !st.status.ok;
    st.status = status;
    var box = $('reload-errors');
    var list = $('error-list');
    clear(list);
    if (status.ok) {
      box.hidden = true;
      if (had) showOK(t('allGood'));
      return;
    }
    if (status.error) {
      list.appendChild(h('p', null, [t('folderError') + ': ', h('code', { text: status.error })]));
    }
    (status.errors || []).forEach(function (fe) {
      var head = h('h3', { class: 'file-name' }, [fe.file, ' ',
        h('span', { class: 'status', text: '(' + (fe.live_version ? t('liveKept', { v: fe.live_version }) : t('neverLoaded')) + ')' })]);
      var ul = h('ul', { class: 'problems' });
      (fe.problems || []).forEach(function (p) {
        ul.appendChild(h('li', null, [
          h('pre', { class: 'problem', text: p.text || (p.where + ': ' + p.message) }),
          p.hint ? h('p', { class: 'fix' }, [t('hint') + ' ', p.hint]) : null
        ]));
      });
      list.appendChild(head);
      list.appendChild(ul);
    });
    box.hidden = false;
  }

  function showOK(text) {
    var e = $('reload-ok');
    e.textContent = text;
    e.hidden = false;
    clearTimeout(st.okTimer);
    st.okTimer = setTimeout(function () { e.hidden = true; }, 15000);
  }

  // onStatus handles one reload message (event stream or polling).
  async function onStatus(status) {
    if (status.version && status.version !== st.version) {
      var before = {};
      st.scenarios.forEach(function (sc) { before[sc.name] = sc.version; });
      var hadVersion = !!st.version;
      await loadScenarios();
      if (hadVersion) {
        var changed = [];
        st.scenarios.forEach(function (sc) {
          if (before[sc.name] && before[sc.name] !== sc.version) changed.push(sc.name + ' ' + before[sc.name] + ' → ' + sc.version);
          else if (!before[sc.name]) changed.push(sc.name + ' ' + sc.version);
        });
        showOK(changed.length ? t('reloadOkFor', { v: st.version, list: changed.join(', ') }) : t('reloadOk', { v: st.version }));
      }
      renderGraph();
      if (st.funnel) await loadFunnel();
      return;
    }
    showErrors(status);
  }

  function setConn(state) {
    var e = $('conn');
    e.setAttribute('data-state', state);
    e.textContent = t(state === 'live' ? 'connLive' : state === 'polling' ? 'connPolling' : 'connConnecting');
  }

  // watch reads the server's reload events; when the stream breaks it checks
  // the status once and reconnects (so it falls back to polling every 2 s).
  async function watch() {
    st.watching = true;
    try {
      await watchLoop();
    } finally {
      st.watching = false;
    }
  }

  async function watchLoop() {
    for (;;) {
      setConn('connecting');
      try {
        var headers = {};
        if (st.token) headers.Authorization = 'Bearer ' + st.token;
        var res = await fetch('/playground/api/events', { headers: headers, cache: 'no-store' });
        if (res.status === 401) { askToken(!!st.token); return; }
        if (!res.ok || !res.body || !res.body.getReader) throw new Error('no event stream');
        setConn('live');
        var reader = res.body.getReader();
        var dec = new TextDecoder();
        var buf = '';
        for (;;) {
          var r = await reader.read();
          if (r.done) break;
          buf += dec.decode(r.value, { stream: true }).replace(/\r\n?/g, '\n');
          var i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            var chunk = buf.slice(0, i);
            buf = buf.slice(i + 2);
            await onEvent(chunk);
          }
        }
      } catch (e) {
        // fall through: poll, then reconnect
      }
      setConn('polling');
      await sleep(2000);
      try { await onStatus(await api('GET', '/status')); } catch (e) {
        if (e instanceof AuthError) return;
      }
    }
  }

  async function onEvent(chunk) {
    var type = 'message';
    var data = [];
    chunk.split('\n').forEach(function (line) {
      if (line.indexOf('event:') === 0) type = line.slice(6).trim();
      else if (line.indexOf('data:') === 0) data.push(line.slice(5).replace(/^ /, ''));
    });
    if (type !== 'reload' || !data.length) return;
    try {
      await onStatus(JSON.parse(data.join('\n')));
    } catch (e) {
      if (!(e instanceof AuthError)) console.warn('olbot: reload message', e); // eslint-disable-line no-console
    }
  }

  // ---- chat ---------------------------------------------------------------

  function logItem(node) {
    var log = $('log');
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
  }

  function say(who, text, cls) {
    logItem(h('li', { class: 'msg ' + cls }, [h('span', { class: 'tag', text: who }), text]));
  }

  function note(text, cls) {
    logItem(h('li', { class: 'action ' + (cls || 'note'), text: text }));
  }

  function showAction(a) {
    switch (a.type) {
      case 'greet':
        if (a.welcome) note(t('greetWelcome'), 'greet');
        else say(t('greeting'), a.text || '', 'greet');
        break;
      case 'say':
        if (a.text || !(a.buttons && a.buttons.length)) say(t('bot'), a.text || '', 'bot');
        break;
      case 'crm': {
        var keys = Object.keys(a.fields || {}).sort();
        var fields = keys.map(function (k) { return k + '=' + a.fields[k]; }).join(', ');
        note(t('crm', { target: a.lead_id ? t('crmLead', { n: a.lead_id }) : t('crmNew'), fields: fields || '—' }), 'crm');
        break;
      }
      case 'operator':
        note(t('operator'), 'operator');
        break;
      case 'transfer':
        note((a.user ? t('transferUser', { n: a.user }) : t('transferLine', { n: a.line })) + (a.leave ? t('botLeaves') : ''), 'transfer');
        break;
      case 'finish':
        note(t('finish'), 'finish');
        break;
      case 'call':
        note(t('call', { e: a.endpoint, m: a.method, p: a.path || '' }), 'call');
        break;
      default:
        note(JSON.stringify(a));
    }
  }

  function setMenu(buttons) {
    st.menu = buttons || [];
    var menu = $('menu');
    var hadFocus = menu.contains(document.activeElement);
    clear(menu);
    st.menu.forEach(function (text, i) {
      var b = h('button', { type: 'button', 'data-button': i + 1, text: text });
      b.addEventListener('click', function () { pressButton(i); });
      menu.appendChild(b);
    });
    menu.hidden = st.menu.length === 0;
    if (hadFocus) $('chat-input').focus();
  }

  // send queues one event for the current conversation, so events apply in
  // order; an answer that comes back after a restart is dropped.
  function send(ev) {
    var session = st.session;
    var body = Object.assign({ scenario: st.scenario }, ev);
    st.queue = st.queue.then(function () { return sendNow(session, body); }).catch(function (e) {
      note(t('failed', { e: e && e.message ? e.message : String(e) }), 'error');
    });
    return st.queue;
  }

  async function sendNow(session, body) {
    if (!session || session !== st.session) return;
    var resp;
    try {
      resp = await api('POST', '/dialogs/' + session + '/events', body);
    } catch (e) {
      if (e instanceof AuthError || session !== st.session) return;
      note(e.status ? t('failed', { e: e.message }) : t('offline', { e: e.message }), 'error');
      return;
    }
    if (session !== st.session) return;
    var actions = resp.actions || [];
    var buttons = null;
    var said = false;
    actions.forEach(function (a) {
      showAction(a);
      if (a.type === 'say') {
        said = true;
        if (a.buttons && a.buttons.length) buttons = a.buttons;
      }
    });
    if (resp.outcome !== 'applied' && resp.reason) note(t('ignored', { r: resp.reason }));
    else if (resp.reason && actions.some(function (a) { return a.type === 'call'; })) note(resp.reason, 'call');
    st.dialog = resp.dialog;
    if (buttons) setMenu(buttons);
    else if (said || (st.dialog && st.dialog.status !== 'active')) setMenu([]);
    showDialog();
  }

  function start() {
    var sc = st.byName[st.scenario];
    if (!sc) return;
    // the previous conversation is closed, so it does not linger as active
    if (st.session && st.dialog && st.dialog.status === 'active') {
      var old = st.session;
      api('POST', '/dialogs/' + old + '/events', { type: 'close' }).catch(function () {});
    }
    st.session = randomId();
    $('log').setAttribute('data-session', st.session);
    st.dialog = null;
    clear($('log'));
    setMenu([]);
    note(t('started', { s: sc.name, v: sc.version }));
    renderGraph();
    showDialog();
    fillLanguages();
    var start = { type: 'start', client: $('client').value.trim() };
    if (sc.languages && sc.languages.length > 1) start.language = $('language').value;
    send(start);
  }

  function pressButton(i) {
    var text = st.menu[i];
    say(t('you'), text, 'me');
    send({ type: 'button', button: i + 1 });
    $('chat-input').focus();
  }

  function showDialog() {
    var d = st.dialog;
    $('current-state').textContent = d && d.state ? d.state : '—';
    var status = $('status');
    var label = '';
    if (d && d.status) label = t(d.status === 'active' ? 'statusActive' : d.status === 'finished' ? 'statusFinished' : 'statusHanded');
    status.textContent = label ? '(' + label + ')' : '';
    status.className = 'status ' + (d && d.status ? d.status : '');
    if (d && d.language && $('language').value !== d.language) {
      if ($('language').value) note(t('languageNow', { l: d.language }));
      $('language').value = d.language;
    }
    var dl = $('fields');
    clear(dl);
    var fields = (d && d.fields) || {};
    var keys = Object.keys(fields).sort();
    if (!keys.length) dl.appendChild(h('div', { class: 'empty', text: t('noFields') }));
    keys.forEach(function (k) {
      dl.appendChild(h('dt', { text: k }));
      dl.appendChild(h('dd', { text: fields[k] }));
    });
    highlight();
  }

  // ---- diagram --------------------------------------------------------------

  function edgeText(e) {
    var l = e.label || '';
    var rest = function (prefix) { return l.indexOf(prefix) === 0 ? l.slice(prefix.length) : l; };
    switch (e.kind) {
      case 'start': case 'next': return '';
      case 'missing': return t('e_removed');
      case 'menu': return '«' + rest('button ') + '»';
      case 'on': return t('e_on', { x: rest('on ') });
      case 'command': return t('e_command', { x: rest('command ') });
      case 'answer': return l === 'answer' ? t('e_answer') : t('e_answerX', { x: rest('answer ') });
      case 'unmatched': return t('e_else');
      case 'retry': return t('e_retry');
      case 'fail': return l.indexOf('→') >= 0 ? t('e_failOp') : t('e_fail');
      case 'idle': return l.indexOf('→') >= 0 ? t('e_idleFinish') : t('e_idle');
      case 'end': {
        var m = /line (\d+)/.exec(l);
        if (m) return t('e_transferLine', { x: m[1] });
        m = /user (\d+)/.exec(l);
        if (m) return t('e_transferUser', { x: m[1] });
        return l === 'finish' ? t('e_finish') : t('e_operator');
      }
    }
    return l;
  }

  // edge kinds whose label is drawn; the others are told by their style
  // (see the legend) and their tooltip
  var LABELLED = { menu: true, on: true, answer: true, unmatched: true, missing: true };

  // geometry of one arrow between nodes a and b: path and label point
  function arrow(a, b) {
    var p;
    if (a.id === b.id) { // a loop on the left of the box
      var x = a.x - a.w / 2, y = a.y;
      return { d: 'M' + x + ',' + (y - 9) + ' C' + (x - 40) + ',' + (y - 34) + ' ' + (x - 40) + ',' + (y + 34) + ' ' + x + ',' + (y + 9), lx: x - 32, ly: y + 4, anchor: 'end' };
    }
    if (b.kind === 'end') { // a short arrow to the state's own end dot
      var x0 = a.x + a.w / 2, x1 = b.x - b.w / 2 - 1;
      return { d: 'M' + x0 + ',' + a.y + ' L' + x1 + ',' + b.y, lx: (x0 + x1) / 2, ly: a.y - 8, anchor: 'middle' };
    }
    if (b.rank > a.rank) {
      var y1 = a.y + a.h / 2, y2 = b.y - b.h / 2, dy = Math.max(28, (y2 - y1) / 2);
      p = [[a.x, y1], [a.x, y1 + dy], [b.x, y2 - dy], [b.x, y2]];
    } else if (b.rank === a.rank) {
      var ya = a.y + a.h / 2, yb = b.y + b.h / 2;
      p = [[a.x, ya], [a.x, ya + 40], [b.x, yb + 40], [b.x, yb]];
    } else {
      // back up: drawn like a downward arrow turned round, from the source's
      // top into the target's bottom, a little right of the centre
      var ys = a.y - a.h / 2, yt = b.y + b.h / 2, up = Math.max(28, (ys - yt) / 2);
      var xs = a.x + a.w / 4, xt = b.x + b.w / 4;
      p = [[xs, ys], [xs, ys - up], [xt, yt + up], [xt, yt]];
    }
    // labels sit nearer the target, where arrows from one box have spread out
    var at = b.rank > a.rank ? 0.7 : 0.5;
    var q = bezier(p, at);
    var d = 'M' + p[0][0] + ',' + p[0][1] + ' C' + p[1][0] + ',' + p[1][1] + ' ' + p[2][0] + ',' + p[2][1] + ' ' + p[3][0] + ',' + p[3][1];
    return { d: d, lx: q[0], ly: q[1], anchor: 'middle' };
  }

  function bezier(p, t) {
    var u = 1 - t;
    var w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
    return [0, 1].map(function (k) { return w[0] * p[0][k] + w[1] * p[1][k] + w[2] * p[2][k] + w[3] * p[3][k]; });
  }

  function renderGraph() {
    var box = $('graph');
    clear(box);
    var sc = st.byName[st.scenario];
    var funnel = st.funnel && st.funnel.scenario === st.scenario ? st.funnel : null;
    box.classList.toggle('traffic', !!funnel);
    $('legend').textContent = t('legend') + (funnel ? ' ' + t('legendTraffic') : '');
    var list = $('arrows');
    clear(list);
    if (!sc) {
      box.appendChild(h('p', { class: 'note', text: st.scenario ? t('notLoaded') : '' }));
      return;
    }
    var g = sc.graph;
    var nodes = {};
    var states = 0;
    g.nodes.forEach(function (n) {
      nodes[n.id] = n;
      if (n.kind === 'state') states++;
    });
    var svg = s('svg', { viewBox: '0 0 ' + g.width + ' ' + g.height, width: g.width, height: g.height, role: 'img', 'aria-labelledby': 'graph-title' });
    // never wider than drawn; on a phone, scroll sideways rather than shrink the text away
    svg.style.maxWidth = g.width + 'px';
    svg.style.minWidth = Math.round(Math.min(g.width * 0.8, 440)) + 'px';
    svg.appendChild(s('title', { id: 'graph-title', text: t('diagramOf', { s: sc.name, n: states }) }));
    svg.appendChild(s('defs', null, s('marker', { id: 'arrowhead', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z' }))));

    // arrows between the same two boxes are drawn once, with every label
    var groups = [];
    var byPair = {};
    g.edges.forEach(function (e) {
      var k = e.from + '>' + e.to;
      if (!byPair[k]) { byPair[k] = { from: e.from, to: e.to, key: e.key, edges: [] }; groups.push(byPair[k]); }
      byPair[k].edges.push(e);
    });
    var maxEdge = 1;
    var maxNode = 1;
    if (funnel) {
      Object.keys(funnel.edges || {}).forEach(function (k) { maxEdge = Math.max(maxEdge, funnel.edges[k]); });
      Object.keys(funnel.entered || {}).forEach(function (k) { maxNode = Math.max(maxNode, funnel.entered[k]); });
    }
    var edgeLayer = s('g', { class: 'edges' });
    var labelLayer = s('g', { class: 'labels' });
    groups.forEach(function (grp) {
      var a = nodes[grp.from], b = nodes[grp.to];
      var geo = arrow(a, b);
      var kinds = grp.edges.map(function (e) { return 'kind-' + e.kind; }).join(' ');
      var texts = grp.edges.map(edgeText).filter(Boolean);
      var full = texts.join(' / ');
      var name = function (n) { return n.kind === 'state' ? n.name : t(n.kind); };
      grp.edges.forEach(function (e) {
        var txt = edgeText(e);
        var count = funnel ? ' — ' + ((funnel.edges || {})[grp.key] || 0) : '';
        list.appendChild(h('li', null, [h('code', { text: name(a) }), ' → ', h('code', { text: name(b) }), txt ? ': ' + txt : '', count]));
      });
      var eg = s('g', { class: 'edge ' + kinds, 'data-key': grp.key });
      eg.appendChild(s('title', { text: a.name + ' → ' + b.name + (full ? ': ' + full : '') }));
      var path = s('path', { d: geo.d, 'marker-end': 'url(#arrowhead)' });
      eg.appendChild(path);
      edgeLayer.appendChild(eg);
      var label = '';
      var cls = '';
      if (funnel) {
        var n = (funnel.edges || {})[grp.key] || 0;
        path.setAttribute('stroke-width', (1.2 + 4.5 * n / maxEdge).toFixed(2));
        path.setAttribute('stroke-opacity', (0.25 + 0.75 * n / maxEdge).toFixed(2));
        if (n > 0) { label = String(n); cls = 'count'; }
      } else {
        var shown = grp.edges.filter(function (e) { return LABELLED[e.kind]; }).map(edgeText).filter(Boolean);
        if (shown.length) label = short(shown[0], 24) + (shown.length > 1 ? ' +' + (shown.length - 1) : '');
      }
      if (label) {
        labelLayer.appendChild(s('g', { class: 'edge' }, s('text', { x: geo.lx.toFixed(1), y: (geo.ly + 3).toFixed(1), 'text-anchor': geo.anchor, class: cls, text: label })));
      }
    });
    svg.appendChild(edgeLayer);

    var nodeLayer = s('g', { class: 'nodes' });
    g.nodes.forEach(function (n) {
      var ng;
      if (n.kind === 'start') {
        ng = s('g', { class: 'node start' }, [s('title', { text: 'start' }), s('circle', { class: 'dot', cx: n.x, cy: n.y, r: n.w / 2 })]);
      } else if (n.kind === 'end') {
        ng = s('g', { class: 'node end' }, [s('title', { text: 'end' }), s('circle', { class: 'dot-ring', cx: n.x, cy: n.y, r: n.w / 2 }),
          s('circle', { class: 'dot', cx: n.x, cy: n.y, r: n.w / 2 - 4 })]);
      } else {
        var cls = 'node state' + (n.waits ? ' waits' : '') + (n.end ? ' end-' + n.end : '');
        ng = s('g', { class: cls, 'data-state': n.name });
        var tip = n.name + (n.text ? ': ' + n.text : '') + (n.save ? ' → {{' + n.save + '}}' : '');
        var rect = s('rect', { x: n.x - n.w / 2, y: n.y - n.h / 2, width: n.w, height: n.h, rx: 8 });
        ng.appendChild(s('title', { text: tip }));
        ng.appendChild(rect);
        if (funnel) {
          var entered = (funnel.entered || {})[n.name] || 0;
          var now = (funnel.active || {})[n.name] || 0;
          rect.setAttribute('fill', 'rgb(11, 92, 173)');
          rect.setAttribute('fill-opacity', (0.04 + 0.4 * entered / maxNode).toFixed(2));
          ng.appendChild(s('text', { class: 'name', x: n.x, y: n.y - 3, 'text-anchor': 'middle', text: n.name }));
          ng.appendChild(s('text', { class: 'count', x: n.x, y: n.y + 13, 'text-anchor': 'middle', text: t('countIn', { n: entered }) + ' · ' + t('countNow', { n: now }) }));
          ng.querySelector('title').textContent = tip + ' — ' + t('countIn', { n: entered }) + ', ' + t('countNow', { n: now });
        } else {
          ng.appendChild(s('text', { class: 'name', x: n.x, y: n.y + 4.5, 'text-anchor': 'middle', text: n.name }));
        }
      }
      nodeLayer.appendChild(ng);
    });
    svg.appendChild(labelLayer);
    svg.appendChild(nodeLayer);
    box.appendChild(svg);
    // a backing behind each label, so the arrow under it does not show
    // through the gaps between words
    var labels = labelLayer.querySelectorAll('text');
    for (var i = 0; i < labels.length; i++) {
      try {
        var bb = labels[i].getBBox();
        labels[i].parentNode.insertBefore(s('rect', { class: 'label-bg', x: (bb.x - 2).toFixed(1), y: (bb.y - 1).toFixed(1), width: (bb.width + 4).toFixed(1), height: (bb.height + 2).toFixed(1), rx: 3 }), labels[i]);
      } catch (e) { /* not rendered (hidden): no backing */ }
    }
    highlight();
  }

  function highlight() {
    var d = st.dialog;
    var current = d && d.scenario === st.scenario ? d.state : '';
    var nodes = document.querySelectorAll('#graph .node.state');
    var found = null;
    for (var i = 0; i < nodes.length; i++) {
      var on = nodes[i].getAttribute('data-state') === current;
      nodes[i].classList.toggle('current', on);
      if (on) { nodes[i].setAttribute('aria-current', 'step'); found = nodes[i]; } else nodes[i].removeAttribute('aria-current');
    }
    if (found) {
      // keep the lit box in view inside the diagram's own scroll area
      var box = $('graph');
      var r = found.getBoundingClientRect(), b = box.getBoundingClientRect();
      if (r.top < b.top || r.bottom > b.bottom) box.scrollTop += r.top - b.top - b.height / 2 + r.height / 2;
    }
  }

  // ---- funnel -------------------------------------------------------------

  async function loadFunnel() {
    if (!$('traffic').checked || !st.scenario || !st.byName[st.scenario]) {
      st.funnel = null;
      $('funnel').hidden = true;
      renderGraph();
      return;
    }
    try {
      st.funnel = await api('GET', '/funnel/' + encodeURIComponent(st.scenario));
    } catch (e) {
      if (!(e instanceof AuthError)) note(t('failed', { e: e.message }), 'error');
      return;
    }
    renderGraph();
    renderFunnel();
  }

  function renderFunnel() {
    var f = st.funnel;
    var sc = st.byName[st.scenario];
    if (!f || !sc) { $('funnel').hidden = true; return; }
    $('funnel').hidden = false;
    var summary = $('funnel-summary');
    summary.textContent = f.started || f.total_active || f.total_finished || f.total_handed_off ?
      t('funnelSummary', { since: fmtTime(f.since) || '—', started: f.started || 0, active: f.total_active, finished: f.total_finished, handed: f.total_handed_off }) :
      t('funnelEmpty');
    var table = $('funnel-table');
    clear(table);
    table.appendChild(h('thead', null, h('tr', null, ['colState', 'colEntered', 'colActive', 'colFinished', 'colHanded'].map(function (k) {
      return h('th', { scope: 'col', text: t(k) });
    }))));
    var body = h('tbody');
    sc.graph.nodes.forEach(function (n) {
      if (n.kind !== 'state') return;
      var row = h('tr', { 'data-state': n.name }, [h('th', { scope: 'row', text: n.name })]);
      [f.entered, f.active, f.finished, f.handed_off].forEach(function (m) {
        row.appendChild(h('td', { text: String((m || {})[n.name] || 0) }));
      });
      body.appendChild(row);
    });
    table.appendChild(body);
    var reasons = f.handoff_reasons || {};
    var keys = Object.keys(reasons).sort(function (a, b) { return reasons[b] - reasons[a]; });
    $('funnel-reasons').textContent = keys.length ? t('reasons', {
      list: keys.map(function (k) { return t('reason_' + k) + ' — ' + reasons[k]; }).join(', ')
    }) : '';
  }

  function setTraffic() {
    var on = $('traffic').checked;
    $('funnel-refresh').hidden = !on;
    clearInterval(st.funnelTimer);
    if (on) st.funnelTimer = setInterval(loadFunnel, 5000);
    loadFunnel();
  }

  // ---- wiring -------------------------------------------------------------

  async function boot() {
    try {
      await loadScenarios();
    } catch (e) {
      if (!(e instanceof AuthError)) note(t('offline', { e: e.message }), 'error');
      return;
    }
    var wanted = decodeURIComponent(location.hash.replace(/^#/, ''));
    st.scenario = st.byName[wanted] ? wanted : (st.scenarios[0] ? st.scenarios[0].name : '');
    $('scenario').value = st.scenario;
    if (!st.watching) watch();
    start();
  }

  function init() {
    applyI18n();
    setConn('connecting');
    showDialog();
    $('scenario').addEventListener('change', function () {
      st.scenario = $('scenario').value;
      history.replaceState(null, '', '#' + encodeURIComponent(st.scenario));
      if ($('traffic').checked) loadFunnel();
      start();
    });
    $('restart').addEventListener('click', function () { start(); $('chat-input').focus(); });
    $('language').addEventListener('change', function () {
      // a running dialog switches; a finished one starts again in the language
      if (st.dialog && st.dialog.status === 'active') send({ type: 'language', language: $('language').value });
      else start();
    });
    $('send-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var input = $('chat-input');
      var text = input.value;
      if (!text.trim()) return;
      input.value = '';
      say(t('you'), text, 'me');
      send({ type: 'message', text: text });
    });
    $('idle').addEventListener('click', function () { note(t('silent')); send({ type: 'idle' }); });
    $('close').addEventListener('click', function () { note(t('closed')); send({ type: 'close' }); });
    $('traffic').addEventListener('change', setTraffic);
    $('funnel-refresh').addEventListener('click', loadFunnel);
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      st.token = $('token-input').value.trim();
      sessionStorage.setItem(TOKEN_KEY, st.token);
      $('token-form').hidden = true;
      $('token-input').value = '';
      boot();
    });
    boot();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
