// olbot playground — plain JavaScript (ES2017), no framework, no build step.
// Talks to /playground/api/… of the olbot server that serves this page.
(function () {
  'use strict';

  // ---- i18n -------------------------------------------------------------

  var I18N = {
    en: {
      editor: 'Edit the scenario',
      editorLabel: 'Scenario file',
      file: 'File',
      newFileBtn: 'New file…',
      newName: 'Name of the new file',
      create: 'Create',
      newMark: '(new)',
      newNameBad: 'A path inside the scenario folder ending in .yaml, e.g. sales/leads.yaml',
      editOff: 'Saving is off: {r}',
      unsaved: 'unsaved changes',
      newFile: 'new file, not saved yet',
      savedAt: 'as on disk (version {h})',
      discard: 'Your changes in the editor will be lost. Continue?',
      checking: 'checking…',
      checkFailed: 'could not check: {e}',
      nErrors: '{e} errors, {w} warnings — the server would keep the last good version',
      nWarnings: 'no errors, {w} warnings',
      noProblems: 'no problems',
      lineCol: 'line {l}, col {c}',
      warning: 'warning',
      error: 'error',
      problems: 'Problems',
      save: 'Save…',
      revert: 'Discard my changes',
      previewTitle: 'Before saving',
      confirmSave: 'Save and make it live',
      cancelSave: 'Back to editing',
      cannotSave: 'This text cannot be saved: fix the errors marked in the editor (listed under Problems). Nothing was written.',
      impactNew: 'A new scenario “{s}” (version {v}); no running dialog is affected.',
      impactLive: 'Scenario “{s}” goes from version {a} to {b}; {n} dialogs are running now.',
      impactRemoved: 'Removed states: {l}.',
      impactNone: 'No running dialog sits in a removed state.',
      impactMoved: '{n} running dialogs in “{a}” will go to “{b}”.',
      rollbackTo: 'Roll back to version {h}:',
      saveRefused: 'Not saved: {e}. Your text is still in the editor.',
      savedLive: 'Saved {f}: version {h} is live.',
      savedNotLive: 'Saved {f}, but it is not live: see the errors above.',
      conflictTitle: 'Not saved: the file changed',
      keepMine: 'Keep my text and replace the file on disk (preview first)',
      historyTitle: 'History of this file',
      hVersion: 'Version',
      hTime: 'Went live',
      hSource: 'From',
      hSize: 'Bytes',
      rollBack: 'Roll back…',
      live: 'live',
      src_start: 'server start',
      src_disk: 'file changed on disk',
      src_reload: 'reload',
      src_editor: 'editor',
      diffFrom: 'Compare',
      diffTo: 'with',
      showDiff: 'Show the differences',
      same: 'The two versions are the same.',
      zoomIn: 'Zoom in',
      zoomOut: 'Zoom out',
      zoomFit: 'Fit',
      technical: 'Show technical arrows (where dialogs go after a reload removed their state)',
      kind_question: 'question',
      kind_menu: 'menu',
      kind_message: 'message',
      kind_handoff: 'handoff',
      kind_finish: 'finish',
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
      clockLabel: 'Clock of the next events (empty: now)',
      clockNow: 'Clock:',
      languageNow: 'The dialog is in {l} now.',
      clientPlaceholder: 'Anna',
      restart: 'Restart the conversation',
      pgNote: 'Playground chats never reach a portal: nothing is sent to Bitrix24, and they are not counted in the funnel.',
      conversation: 'Conversation',
      buttons: 'Buttons of the last message',
      message: 'Your message',
      messagePlaceholder: 'Type as the client and press Enter',
      send: 'Send',
      attach: 'Send a file',
      fileSent: 'File {name}, {size}',
      fileUsage: 'Type /file NAME [SIZE] [CAPTION], e.g. /file photo.jpg 2MB',
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
      opNote: 'Note for the operator (the client does not see it): {text}',
      attachImage: 'Image: {name}',
      attachFile: 'File: {name}',
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
      legend: 'Each box: the state’s name and what the bot says there. Blue rounded box: a question; box with cut corners: a menu; grey: a message; dashed orange: a handoff to a person; green pill: the end. Thick orange frame: the dialog’s current state. Dotted arrow: a global command. Orange arrows: a loop is a bad answer asked again, solid is retries used up, dashed is silence. Click a box to edit it; drag to move, the buttons or Ctrl+wheel to zoom. Every label: hover an arrow, or open the list below.',
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
      ratingSummary: 'Average rating {avg} of 5 ({n} ratings).',
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
      editor: 'Редактировать сценарий',
      editorLabel: 'Файл сценария',
      file: 'Файл',
      newFileBtn: 'Новый файл…',
      newName: 'Имя нового файла',
      create: 'Создать',
      newMark: '(новый)',
      newNameBad: 'Путь внутри папки сценариев с окончанием .yaml, например sales/leads.yaml',
      editOff: 'Сохранение выключено: {r}',
      unsaved: 'есть несохранённые изменения',
      newFile: 'новый файл, ещё не сохранён',
      savedAt: 'как на диске (версия {h})',
      discard: 'Изменения в редакторе пропадут. Продолжить?',
      checking: 'проверка…',
      checkFailed: 'не удалось проверить: {e}',
      nErrors: 'ошибок: {e}, предупреждений: {w} — сервер оставит последнюю исправную версию',
      nWarnings: 'ошибок нет, предупреждений: {w}',
      noProblems: 'замечаний нет',
      lineCol: 'строка {l}, столбец {c}',
      warning: 'предупреждение',
      error: 'ошибка',
      problems: 'Замечания',
      save: 'Сохранить…',
      revert: 'Отменить мои изменения',
      previewTitle: 'Перед сохранением',
      confirmSave: 'Сохранить и включить',
      cancelSave: 'Вернуться к правке',
      cannotSave: 'Этот текст нельзя сохранить: исправьте ошибки, отмеченные в редакторе (список — в «Замечаниях»). Ничего не записано.',
      impactNew: 'Новый сценарий «{s}» (версия {v}); работающие диалоги не затронуты.',
      impactLive: 'Сценарий «{s}» переходит с версии {a} на {b}; сейчас идёт диалогов: {n}.',
      impactRemoved: 'Удалённые состояния: {l}.',
      impactNone: 'Ни один идущий диалог не стоит в удалённом состоянии.',
      impactMoved: 'Идущих диалогов в «{a}»: {n}, они перейдут в «{b}».',
      rollbackTo: 'Откат к версии {h}:',
      saveRefused: 'Не сохранено: {e}. Ваш текст остался в редакторе.',
      savedLive: '{f} сохранён: работает версия {h}.',
      savedNotLive: '{f} сохранён, но не включён: см. ошибки выше.',
      conflictTitle: 'Не сохранено: файл изменился',
      keepMine: 'Оставить мой текст и заменить файл на диске (сначала предпросмотр)',
      historyTitle: 'История файла',
      hVersion: 'Версия',
      hTime: 'Включена',
      hSource: 'Откуда',
      hSize: 'Байт',
      rollBack: 'Откатить…',
      live: 'работает',
      src_start: 'запуск сервера',
      src_disk: 'файл изменён на диске',
      src_reload: 'перезагрузка',
      src_editor: 'редактор',
      diffFrom: 'Сравнить',
      diffTo: 'с',
      showDiff: 'Показать различия',
      same: 'Версии совпадают.',
      zoomIn: 'Крупнее',
      zoomOut: 'Мельче',
      zoomFit: 'Целиком',
      technical: 'Показать технические стрелки (куда идут диалоги, чьё состояние удалено при перезагрузке)',
      kind_question: 'вопрос',
      kind_menu: 'меню',
      kind_message: 'сообщение',
      kind_handoff: 'передача',
      kind_finish: 'завершение',
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
      clockLabel: 'Время следующих событий (пусто: сейчас)',
      clockNow: 'Время:',
      languageNow: 'Диалог теперь на языке {l}.',
      clientPlaceholder: 'Анна',
      restart: 'Начать разговор заново',
      pgNote: 'Чаты песочницы не доходят до портала: в Битрикс24 ничего не отправляется, и в воронке они не учитываются.',
      conversation: 'Разговор',
      buttons: 'Кнопки последнего сообщения',
      message: 'Ваше сообщение',
      messagePlaceholder: 'Пишите как клиент и нажмите Enter',
      send: 'Отправить',
      attach: 'Отправить файл',
      fileSent: 'Файл {name}, {size}',
      fileUsage: 'Напишите /file ИМЯ [РАЗМЕР] [ПОДПИСЬ], например /file photo.jpg 2MB',
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
      opNote: 'Заметка для оператора (клиент её не видит): {text}',
      attachImage: 'Изображение: {name}',
      attachFile: 'Файл: {name}',
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
      legend: 'В каждом блоке — имя состояния и что говорит бот. Синий скруглённый — вопрос; со срезанными углами — меню; серый — сообщение; оранжевый пунктир — передача человеку; зелёный овал — конец. Жирная оранжевая рамка — текущее состояние диалога. Точечная стрелка — общая команда. Оранжевые стрелки: петля — неверный ответ и повтор, сплошная — попытки исчерпаны, штриховая — молчание. Щелчок по блоку — правка; перетаскивание — сдвиг, кнопки или Ctrl+колесо — масштаб. Все подписи — при наведении на стрелку или в списке ниже.',
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
      ratingSummary: 'Средняя оценка {avg} из 5 (оценок: {n}).',
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
        if (a.text || !(a.buttons && a.buttons.length) && !(a.links && a.links.length)) say(t('bot'), a.text || '', 'bot');
        if (a.image || a.file) showAttach(a);
        if (a.links && a.links.length) showLinks(a.links);
        break;
      case 'note':
        note(t('opNote', { text: a.text || '' }), 'opnote');
        break;
      case 'crm': {
        var keys = Object.keys(a.fields || {}).sort();
        var fields = keys.map(function (k) { return k + '=' + a.fields[k]; }).join(', ');
        var target = a.lead_id ? t('crmLead', { n: a.lead_id }) : t('crmNew');
        if (a.title) target += ' «' + a.title + '»';
        note(t('crm', { target: target, fields: fields || '—' }), 'crm');
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

  // showAttach shows a message's image and file (ATTACH blocks) as links
  // to their addresses: the page's content policy loads nothing from
  // outside, so the image itself is not fetched.
  function showAttach(a) {
    var row = h('li', { class: 'attachments' });
    [['image', a.image, 'attachImage'], ['file', a.file, 'attachFile']].forEach(function (x) {
      var url = x[1];
      if (!url || !/^https?:\/\//.test(url)) return;
      var name = url.split(/[?#]/)[0].replace(/\/+$/, '').split('/').pop() || url;
      try { name = decodeURIComponent(name); } catch (e) { /* shown as written */ }
      row.appendChild(h('a', { class: 'attach attach-' + x[0], href: url, target: '_blank', rel: 'noopener noreferrer',
        'data-attach': x[0], title: url, text: t(x[2], { name: name }) + ' ↗' }));
    });
    logItem(row);
  }

  // showLinks shows a message's link and call buttons: they open the
  // address or dial the number and send nothing to the bot.
  function showLinks(links) {
    var row = h('li', { class: 'links' });
    links.forEach(function (l) {
      var href = l.url ? l.url : 'tel:' + l.phone;
      if (!/^(https?:\/\/|tel:\+)/.test(href)) return;
      row.appendChild(h('a', { class: 'link-button', href: href, target: '_blank', rel: 'noopener noreferrer',
        'data-link': l.url ? 'url' : 'phone', text: l.text + (l.url ? ' ↗' : ' ☎ ' + l.phone) }));
    });
    logItem(row);
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
    // the clock: the time the event carries (after-hours branches), as
    // `olbot chat`'s /at; the server checks it and names a bad one
    var at = $('clock').value.trim();
    if (at) body.at = at;
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
    $('clock-now').textContent = resp.clock || '—';
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
    $('clock-now').textContent = '—';
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

  // fileCommand reads "/file NAME [SIZE] [CAPTION]" as olbot chat does: a
  // size is bytes or a number with KB, MB or GB (1024-based); without one
  // the file is 48 KB. It returns null for any other text.
  function fileCommand(text) {
    var m = /^\/file(?:\s+(.*))?$/.exec(text.trim());
    if (!m) return null;
    var parts = (m[1] || '').split(/\s+/).filter(Boolean);
    if (!parts.length) return { error: true };
    var file = { name: parts[0], size: 48 * 1024 };
    var rest = parts.slice(1);
    var sz = rest.length ? /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?$/i.exec(rest[0]) : null;
    if (sz) {
      var mult = { B: 1, KB: 1024, MB: 1024 * 1024, GB: 1024 * 1024 * 1024 }[(sz[2] || 'B').toUpperCase()];
      file.size = Math.round(parseFloat(sz[1]) * mult);
      rest.shift();
    }
    return { file: file, caption: rest.join(' ') };
  }

  function fmtSize(n) {
    if (n >= 1024 * 1024) return (Math.round(n / 1024 / 1024 * 10) / 10) + ' MB';
    if (n >= 1024) return (Math.round(n / 1024 * 10) / 10) + ' KB';
    return n + ' B';
  }

  // sendFile sends the client's file (a caption makes it a message with
  // the file), as a Bitrix24 client message with FILES.
  function sendFile(file, caption) {
    say(t('you'), t('fileSent', { name: file.name, size: fmtSize(file.size) }) + (caption ? ' — ' + caption : ''), 'me file');
    if (caption) send({ type: 'message', text: caption, file: file });
    else send({ type: 'file', file: file });
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

  // rect helpers for the label placement: {x, y, w, h} in diagram units
  function overlaps(a, b) {
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  }

  // fitText shortens an SVG text until it fits width (an ellipsis at the cut).
  function fitText(el, width) {
    var full = el.textContent;
    try {
      if (el.getComputedTextLength() <= width) return;
    } catch (e) { return; }
    var n = full.length;
    while (n > 1) {
      n--;
      el.textContent = full.slice(0, n).replace(/[\s,.;:—-]+$/, '') + '…';
      if (el.getComputedTextLength() <= width) return;
    }
  }

  // the diagram's view: scale and offset of the drawing inside the box
  var view = { s: 1, x: 0, y: 0, w: 0, h: 0, fit: 1, user: false };

  function applyView() {
    var vp = document.getElementById('viewport');
    if (vp) vp.setAttribute('transform', 'translate(' + view.x.toFixed(1) + ',' + view.y.toFixed(1) + ') scale(' + view.s.toFixed(4) + ')');
  }

  // fitView shows the whole drawing in the box: as wide as the box, and
  // never taller than 70% of the window (a taller one is scaled down).
  function fitView(g) {
    var box = $('graph');
    var cw = box.clientWidth || 600;
    var maxH = Math.max(240, Math.round(window.innerHeight * 0.7));
    var s = Math.min(1, cw / g.width);
    if (g.height * s > maxH) s = maxH / g.height;
    view.s = view.fit = s;
    view.w = g.width;
    view.h = g.height;
    view.x = (cw - g.width * s) / 2;
    view.y = 0;
    view.user = false;
    var svg = box.querySelector('svg');
    if (svg) svg.setAttribute('height', Math.ceil(g.height * s));
    applyView();
  }

  function zoom(f, cx, cy) {
    var box = $('graph');
    if (cx === undefined) { cx = box.clientWidth / 2; cy = box.clientHeight / 2; }
    var s = Math.min(4, Math.max(view.fit * 0.5, view.s * f));
    view.x = cx - (cx - view.x) * s / view.s;
    view.y = cy - (cy - view.y) * s / view.s;
    view.s = s;
    view.user = true;
    applyView();
  }

  function pan(dx, dy) {
    view.x += dx;
    view.y += dy;
    view.user = true;
    applyView();
  }

  // wireView lets the diagram be dragged (mouse, pen, one finger), zoomed
  // (the buttons, Ctrl+wheel, + and - keys) and fitted again (0).
  function wireView() {
    var box = $('graph');
    var drag = null;
    box.addEventListener('pointerdown', function (ev) {
      if (ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, moved: false, id: ev.pointerId };
    });
    box.addEventListener('pointermove', function (ev) {
      if (!drag || ev.pointerId !== drag.id) return;
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!drag.moved) { try { box.setPointerCapture(ev.pointerId); } catch (e) { /* gone */ } }
      drag.moved = true;
      drag.x = ev.clientX;
      drag.y = ev.clientY;
      pan(dx, dy);
    });
    var end = function () { if (drag && drag.moved) box.setAttribute('data-dragged', '1'); drag = null; };
    box.addEventListener('pointerup', end);
    box.addEventListener('pointercancel', end);
    box.addEventListener('wheel', function (ev) {
      if (!ev.ctrlKey && !ev.metaKey) return;
      ev.preventDefault();
      var r = box.getBoundingClientRect();
      zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    box.addEventListener('keydown', function (ev) {
      var k = ev.key;
      if (k === '+' || k === '=') zoom(1.25);
      else if (k === '-') zoom(0.8);
      else if (k === '0') { var sc = st.byName[st.scenario]; if (sc) fitView(sc.graph); } else if (k === 'ArrowLeft') pan(40, 0);
      else if (k === 'ArrowRight') pan(-40, 0);
      else if (k === 'ArrowUp') pan(0, 40);
      else if (k === 'ArrowDown') pan(0, -40);
      else return;
      ev.preventDefault();
    });
    $('zoom-in').addEventListener('click', function () { zoom(1.25); });
    $('zoom-out').addEventListener('click', function () { zoom(0.8); });
    $('zoom-fit').addEventListener('click', function () { var sc = st.byName[st.scenario]; if (sc) fitView(sc.graph); });
    $('technical').addEventListener('change', renderGraph);
    window.addEventListener('resize', function () {
      var sc = st.byName[st.scenario];
      if (sc && !view.user) fitView(sc.graph);
    });
  }

  var KINDS = ['question', 'menu', 'message', 'handoff', 'finish'];

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
    var showTech = $('technical').checked;
    var nodes = {};
    var states = 0;
    g.nodes.forEach(function (n) {
      nodes[n.id] = n;
      if (n.kind === 'state') states++;
    });
    var svg = s('svg', { width: '100%', height: g.height, role: 'img', 'aria-labelledby': 'graph-title' });
    svg.appendChild(s('title', { id: 'graph-title', text: t('diagramOf', { s: sc.name, n: states }) }));
    svg.appendChild(s('defs', null, s('marker', { id: 'arrowhead', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z' }))));
    var root = s('g', { id: 'viewport' });
    svg.appendChild(root);

    // arrows between the same two boxes are drawn once, with every label
    var groups = [];
    var byPair = {};
    g.edges.forEach(function (e) {
      if (e.technical && !showTech) return;
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
    var pending = []; // labels to place once the drawing can be measured
    groups.forEach(function (grp) {
      var a = nodes[grp.from], b = nodes[grp.to];
      var geo = arrow(a, b);
      var kinds = grp.edges.map(function (e) { return 'kind-' + e.kind + (e.technical ? ' technical' : ''); }).join(' ');
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
        if (shown.length) label = short(shown[0], 22) + (shown.length > 1 ? ' +' + (shown.length - 1) : '');
      }
      if (label) pending.push({ path: path, text: label, cls: cls, self: a.id === b.id, title: full });
    });
    root.appendChild(edgeLayer);

    var nodeLayer = s('g', { class: 'nodes' });
    var obstacles = [];
    var fits = [];
    g.nodes.forEach(function (n) {
      var ng;
      obstacles.push({ x: n.x - n.w / 2 - 3, y: n.y - n.h / 2 - 3, w: n.w + 6, h: n.h + 6 });
      if (n.kind === 'start') {
        ng = s('g', { class: 'node start' }, [s('title', { text: t('start') }), s('circle', { class: 'dot', cx: n.x, cy: n.y, r: n.w / 2 })]);
      } else if (n.kind === 'end') {
        ng = s('g', { class: 'node end' }, [s('title', { text: t('end') }), s('circle', { class: 'dot-ring', cx: n.x, cy: n.y, r: n.w / 2 }),
          s('circle', { class: 'dot', cx: n.x, cy: n.y, r: n.w / 2 - 4 })]);
      } else {
        var type = KINDS.indexOf(n.type) >= 0 ? n.type : 'message';
        var cls = 'node state type-' + type + (n.waits ? ' waits' : '') + (n.end ? ' end-' + n.end : '');
        ng = s('g', { class: cls, 'data-state': n.name, 'data-line': n.line || '', tabindex: '0', role: 'button' });
        var tip = n.name + ' (' + t('kind_' + type) + ')' + (n.text ? ': ' + n.text : '') + (n.save ? ' → {{' + n.save + '}}' : '');
        var x0 = n.x - n.w / 2, y0 = n.y - n.h / 2;
        var shape;
        if (type === 'menu') { // a box with cut corners
          var c = 9;
          shape = s('path', { class: 'box', d: 'M' + (x0 + c) + ',' + y0 + ' H' + (x0 + n.w - c) + ' L' + (x0 + n.w) + ',' + (y0 + c) + ' V' + (y0 + n.h - c) +
            ' L' + (x0 + n.w - c) + ',' + (y0 + n.h) + ' H' + (x0 + c) + ' L' + x0 + ',' + (y0 + n.h - c) + ' V' + (y0 + c) + ' Z' });
        } else {
          var rx = type === 'finish' ? n.h / 2 : type === 'question' ? 10 : type === 'handoff' ? 2 : 5;
          shape = s('rect', { class: 'box', x: x0, y: y0, width: n.w, height: n.h, rx: rx });
        }
        ng.appendChild(s('title', { text: tip }));
        ng.appendChild(shape);
        var nameEl = s('text', { class: 'name', x: n.x, y: n.y - 5, 'text-anchor': 'middle', text: n.name });
        ng.appendChild(nameEl);
        fits.push([nameEl, n.w - 14]);
        if (funnel) {
          var entered = (funnel.entered || {})[n.name] || 0;
          var now = (funnel.active || {})[n.name] || 0;
          shape.setAttribute('fill', 'rgb(11, 92, 173)');
          shape.setAttribute('fill-opacity', (0.04 + 0.4 * entered / maxNode).toFixed(2));
          var cnt = s('text', { class: 'count', x: n.x, y: n.y + 13, 'text-anchor': 'middle', text: t('countIn', { n: entered }) + ' · ' + t('countNow', { n: now }) });
          ng.appendChild(cnt);
          fits.push([cnt, n.w - 12]);
          ng.querySelector('title').textContent = tip + ' — ' + t('countIn', { n: entered }) + ', ' + t('countNow', { n: now });
        } else if (n.short) {
          var say = s('text', { class: 'say', x: n.x, y: n.y + 13, 'text-anchor': 'middle', text: n.short });
          ng.appendChild(say);
          fits.push([say, n.w - 12]);
        }
        ng.addEventListener('click', function () {
          if (box.getAttribute('data-dragged')) { box.removeAttribute('data-dragged'); return; }
          jumpToState(sc, n);
        });
        ng.addEventListener('keydown', function (ev) {
          if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); jumpToState(sc, n); }
        });
      }
      nodeLayer.appendChild(ng);
    });
    root.appendChild(labelLayer);
    root.appendChild(nodeLayer);
    box.appendChild(svg);
    box.removeAttribute('data-dragged');
    fits.forEach(function (f) { fitText(f[0], f[1]); });
    placeLabels(pending, obstacles, labelLayer);
    fitView(g);
    highlight();
  }

  // placeLabels puts each arrow's label on its arrow where it covers no box
  // and no other label: it tries points along the arrow, nearer the target
  // first; a label with no free place is left off the drawing (the arrow's
  // tooltip and the list below still have it).
  function placeLabels(pending, obstacles, layer) {
    var placed = [];
    var dropped = 0;
    var at = [0.72, 0.5, 0.86, 0.3, 0.62, 0.4, 0.8, 0.2, 0.9, 0.12];
    pending.forEach(function (p) {
      var el = s('text', { class: p.cls, x: 0, y: 0, 'text-anchor': 'middle', text: p.text });
      var g = s('g', { class: 'edge label' }, [s('title', { text: p.title }), el]);
      layer.appendChild(g);
      var w, hgt;
      try {
        var bb = el.getBBox();
        w = bb.width + 6;
        hgt = bb.height + 2;
      } catch (e) { layer.removeChild(g); return; }
      var len = 0;
      try { len = p.path.getTotalLength(); } catch (e) { len = 0; }
      var spot = null;
      for (var i = 0; i < at.length && !spot && len > 0; i++) {
        var pt = p.path.getPointAtLength(len * at[i]);
        var r = { x: pt.x - w / 2, y: pt.y - hgt / 2, w: w, h: hgt };
        var free = !obstacles.some(function (o) { return overlaps(r, o); }) && !placed.some(function (o) { return overlaps(r, o); });
        if (free) spot = r;
      }
      if (!spot) { layer.removeChild(g); dropped++; return; }
      placed.push(spot);
      el.setAttribute('x', (spot.x + w / 2).toFixed(1));
      el.setAttribute('y', (spot.y + hgt / 2 + 3.5).toFixed(1));
      g.insertBefore(s('rect', { class: 'label-bg', x: spot.x.toFixed(1), y: spot.y.toFixed(1), width: w.toFixed(1), height: hgt.toFixed(1), rx: 3 }), el);
    });
    $('graph').setAttribute('data-dropped-labels', String(dropped));
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
      // keep the lit box in view when the diagram is zoomed in
      var box = $('graph');
      var r = found.getBoundingClientRect(), b = box.getBoundingClientRect();
      if (r.top < b.top || r.bottom > b.bottom || r.left < b.left || r.right > b.right) {
        pan(b.left + b.width / 2 - (r.left + r.width / 2), b.top + b.height / 2 - (r.top + r.height / 2));
      }
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
    if (f.ratings) {
      summary.textContent += ' ' + t('ratingSummary', { avg: f.rating_average, n: f.ratings });
    }
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

  // ---- editor ---------------------------------------------------------------

  // ed is the editor pane's state: the file open, the hash it was opened
  // (or last saved) at — the base of the next save — and the last check.
  var ed = { view: null, file: '', base: '', isNew: false, dir: '', files: [], edit: { allowed: false }, problems: [], checked: null, pendingSave: null, rollback: '', history: [] };

  async function v1(method, path, body, type, okCodes) {
    var opts = { method: method, headers: {}, cache: 'no-store' };
    if (st.token) opts.headers.Authorization = 'Bearer ' + st.token;
    if (body !== undefined) {
      opts.headers['Content-Type'] = type || 'application/json';
      opts.body = body;
    }
    var res = await fetch('/v1' + path, opts);
    if (res.status === 401) {
      askToken(!!st.token);
      throw new AuthError();
    }
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok && (okCodes || []).indexOf(res.status) < 0) {
      var err = new Error((data && data.error) || res.statusText || String(res.status));
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return { status: res.status, data: data };
  }

  function q(file) { return '?file=' + encodeURIComponent(file); }

  // relFile is a live scenario's file as a path inside the scenario folder.
  function relFile(path) {
    var d = ed.dir.replace(/\/+$/, '') + '/';
    if (path.indexOf(d) === 0) return path.slice(d.length);
    return path.replace(/^\.\//, '');
  }

  async function initEditor() {
    if (!window.OlbotEditor) return;
    if (!ed.view) {
      ed.view = window.OlbotEditor.create($('editor'), {
        label: t('editorLabel'),
        check: checkText,
        onProblems: showProblems,
        onChange: function () { setDirty(); }
      });
      $('editor').olbotEditor = ed.view; // for the browser test and the console
      try {
        var res = await fetch('/playground/schema.json', { cache: 'no-store' });
        ed.view.setSchema(await res.json());
      } catch (e) { /* completion of keys needs the schema; state names still complete */ }
    }
    await loadFiles();
    var sc = st.byName[st.scenario];
    if (!ed.file && sc) await openFile(relFile(sc.file));
  }

  async function loadFiles() {
    var r = await v1('GET', '/files');
    ed.dir = r.data.dir;
    ed.files = r.data.files || [];
    ed.edit = r.data.edit || { allowed: false };
    var sel = $('file');
    clear(sel);
    ed.files.forEach(function (f) {
      sel.appendChild(h('option', { value: f.file, text: f.file + (f.scenario ? ' — ' + f.scenario : '') }));
    });
    if (ed.isNew && ed.file) sel.appendChild(h('option', { value: ed.file, text: ed.file + ' ' + t('newMark') }));
    if (ed.file) sel.value = ed.file;
    var off = $('edit-off');
    off.hidden = !!ed.edit.allowed;
    off.textContent = ed.edit.allowed ? '' : t('editOff', { r: ed.edit.reason || '' });
    $('save').disabled = !ed.edit.allowed;
  }

  function dirty() { return ed.view && ed.loaded !== undefined && ed.view.get() !== ed.loaded; }

  function setDirty() {
    $('file-state').textContent = dirty() ? t('unsaved') : (ed.isNew ? t('newFile') : t('savedAt', { h: ed.base }));
  }

  async function openFile(file) {
    if (dirty() && !window.confirm(t('discard'))) { $('file').value = ed.file; return; }
    var r = await v1('GET', '/files/content' + q(file));
    ed.file = file;
    ed.isNew = false;
    ed.base = r.data.hash;
    ed.loaded = r.data.content;
    ed.view.set(r.data.content);
    hidePanels();
    setDirty();
    $('file').value = file;
    loadHistory();
  }

  function newFile() {
    var name = ($('new-name').value || '').trim();
    if (!/^[\w./-]+\.ya?ml$/.test(name)) { $('new-name').setCustomValidity(t('newNameBad')); $('new-name').reportValidity(); return; }
    $('new-name').setCustomValidity('');
    if (dirty() && !window.confirm(t('discard'))) return;
    var base = name.replace(/^.*\//, '').replace(/\.ya?ml$/, '');
    ed.file = name;
    ed.isNew = true;
    ed.base = '';
    ed.loaded = '';
    ed.view.set('name: ' + base + '\nlines: []\nstart: welcome\n\nstates:\n  welcome:\n    say: "Hello! How can I help?"\n    finish: true\n');
    hidePanels();
    loadFiles().then(setDirty);
    clear($('history'));
    $('new-form').hidden = true;
    ed.view.focus();
  }

  // checkText is the editor's lint source: the dry run of the text.
  async function checkText(text) {
    if (!ed.file) return null;
    $('check-state').textContent = t('checking');
    var r;
    try {
      r = await v1('POST', '/scenarios/check' + q(ed.file), text, 'application/yaml', [422]);
    } catch (e) {
      $('check-state').textContent = e instanceof AuthError ? '' : t('checkFailed', { e: e.message });
      return null;
    }
    ed.checked = { text: text, result: r.data };
    return r.data.problems || [];
  }

  function showProblems(problems) {
    ed.problems = problems;
    var errs = problems.filter(function (p) { return !p.warning; }).length;
    var warns = problems.length - errs;
    $('check-state').textContent = errs ? t('nErrors', { e: errs, w: warns }) : warns ? t('nWarnings', { w: warns }) : t('noProblems');
    $('check-state').className = 'check-state ' + (errs ? 'bad' : 'good');
    var ul = $('problem-list');
    clear(ul);
    problems.forEach(function (p) {
      var b = h('button', { type: 'button', class: 'link', 'data-line': p.line, text: t('lineCol', { l: p.line, c: p.col }) });
      b.addEventListener('click', function () { ed.view.goto(p.line); });
      ul.appendChild(h('li', { class: p.warning ? 'warning' : 'error' }, [b, ' ', h('span', { class: 'sev', text: p.warning ? t('warning') : t('error') }), ': ', p.message,
        p.hint ? h('span', { class: 'fix' }, [' — ' + t('hint') + ' ', p.hint]) : null]));
    });
  }

  function hidePanels() {
    $('preview').hidden = true;
    $('conflict').hidden = true;
    $('save-note').hidden = true;
  }

  // preview shows the impact of saving the text: the dry run's problems,
  // or the running dialogs the change moves and where to.
  async function preview(rollback) {
    hidePanels();
    ed.rollback = rollback || '';
    var text = ed.view.get();
    var r;
    try {
      r = await v1('POST', '/scenarios/check' + q(ed.file), text, 'application/yaml', [422]);
    } catch (e) {
      if (!(e instanceof AuthError)) showSaveNote(t('failed', { e: e.message }), 'error');
      return;
    }
    var dr = r.data;
    showProblems(dr.problems || []);
    var body = $('preview-body');
    clear(body);
    ed.pendingSave = dr.ok ? text : null;
    if (!dr.ok) {
      body.appendChild(h('p', { class: 'bad', text: t('cannotSave') }));
    } else if (!dr.live_version) {
      body.appendChild(h('p', { text: t('impactNew', { s: dr.scenario, v: dr.version }) }));
    } else {
      body.appendChild(h('p', { text: t('impactLive', { s: dr.scenario, a: dr.live_version, b: dr.version, n: dr.running }) }));
      if ((dr.removed_states || []).length) body.appendChild(h('p', { text: t('impactRemoved', { l: dr.removed_states.join(', ') }) }));
      var moved = Object.keys(dr.moved || {}).sort();
      if (!moved.length) body.appendChild(h('p', { text: t('impactNone') }));
      var ul = h('ul', { class: 'moved' });
      moved.forEach(function (stt) { ul.appendChild(h('li', { text: t('impactMoved', { n: dr.moved[stt], a: stt, b: dr.moved_to }) })); });
      if (moved.length) body.appendChild(ul);
    }
    if (ed.rollback) body.insertBefore(h('p', { text: t('rollbackTo', { h: ed.rollback }) }), body.firstChild);
    $('confirm-save').hidden = !dr.ok;
    $('preview').hidden = false;
    (dr.ok ? $('confirm-save') : $('cancel-save')).focus();
  }

  function showSaveNote(text, cls) {
    var n = $('save-note');
    n.textContent = text;
    n.className = 'banner ' + (cls || 'ok');
    n.hidden = false;
  }

  // save writes the previewed text; a refused save keeps the text in the
  // editor, always.
  async function save() {
    var text = ed.pendingSave;
    if (text === null) return;
    $('preview').hidden = true;
    var path = '/files/save' + q(ed.file) + '&base=' + encodeURIComponent(ed.base) + (ed.rollback ? '&rollback=' + encodeURIComponent(ed.rollback) : '');
    var r;
    try {
      r = await v1('POST', path, text, 'application/yaml', [409, 422]);
    } catch (e) {
      if (!(e instanceof AuthError)) showSaveNote(t('saveRefused', { e: e.message }), 'error');
      return;
    }
    if (r.status === 409) {
      $('conflict-msg').textContent = r.data.error;
      $('conflict-diff').textContent = r.data.diff || '';
      ed.theirs = r.data.current_hash || '';
      $('conflict').hidden = false;
      $('conflict').focus();
      return;
    }
    if (r.status === 422) {
      showProblems(r.data.problems || []);
      showSaveNote(t('cannotSave'), 'error');
      return;
    }
    ed.base = r.data.hash;
    ed.loaded = text;
    ed.isNew = false;
    ed.rollback = '';
    setDirty();
    showSaveNote(r.data.live ? t('savedLive', { f: ed.file, h: r.data.hash }) : t('savedNotLive', { f: ed.file }), r.data.live ? 'ok' : 'error');
    await loadFiles();
    // the reload news redraws the diagram; make sure even without the stream
    try { await onStatus(await api('GET', '/status')); } catch (e) { /* the stream brings it */ }
    loadHistory();
  }

  // keepMine takes the file on disk as the new base and keeps the typed
  // text: the next save (after its preview) replaces what is on disk.
  function keepMine() {
    ed.base = ed.theirs;
    $('conflict').hidden = true;
    preview();
  }

  async function loadHistory() {
    if (!ed.file || ed.isNew) return;
    var r;
    try { r = await v1('GET', '/files/history' + q(ed.file)); } catch (e) { return; }
    ed.history = r.data.versions || [];
    var tb = $('history');
    clear(tb);
    tb.appendChild(h('thead', null, h('tr', null, ['hVersion', 'hTime', 'hSource', 'hSize', ''].map(function (k) { return h('th', { scope: 'col', text: k ? t(k) : '' }); }))));
    var body = h('tbody');
    var fromSel = $('diff-from'), toSel = $('diff-to');
    clear(fromSel);
    clear(toSel);
    ed.history.forEach(function (v, i) {
      var live = v.hash === r.data.live_version;
      var btn = h('button', { type: 'button', class: 'secondary small', 'data-rollback': v.hash, text: t('rollBack') });
      btn.disabled = live || !ed.edit.allowed;
      btn.addEventListener('click', function () { rollbackTo(v.hash); });
      body.appendChild(h('tr', { 'data-hash': v.hash, class: live ? 'live' : '' }, [
        h('td', null, [h('code', { text: v.hash }), live ? h('span', { class: 'tag-live', text: ' ' + t('live') }) : null]),
        h('td', { text: fmtTime(v.time) }), h('td', { text: t('src_' + v.source) + (v.note ? ' (' + v.note + ')' : '') }), h('td', { text: String(v.size) }), h('td', null, btn)]));
      var label = v.hash + ' — ' + fmtTime(v.time);
      fromSel.appendChild(h('option', { value: v.hash, text: label }));
      toSel.appendChild(h('option', { value: v.hash, text: label }));
      if (i === 1) fromSel.value = v.hash;
    });
    tb.appendChild(body);
  }

  async function showDiff() {
    var from = $('diff-from').value, to = $('diff-to').value;
    if (!from || !to) return;
    var r = await v1('GET', '/files/diff' + q(ed.file) + '&from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to));
    $('diff').textContent = r.data.diff || t('same');
    $('diff').hidden = false;
  }

  // rollbackTo puts a kept version into the editor (undo brings the text
  // back) and saves it like any other text: the preview first.
  async function rollbackTo(hash) {
    var r = await v1('GET', '/files/version' + q(ed.file) + '&hash=' + encodeURIComponent(hash));
    ed.view.set(r.data.content);
    setDirty();
    await preview(hash);
  }

  // jumpToState opens the state's file in the editor and puts the cursor
  // on the state's line.
  async function jumpToState(sc, n) {
    if (!ed.view || !n.line) return;
    var file = relFile(sc.file);
    if (ed.file !== file) await openFile(file);
    if (ed.file === file) ed.view.goto(n.line);
  }

  function wireEditor() {
    $('file').addEventListener('change', function () { openFile($('file').value); });
    $('new-file').addEventListener('click', function () { $('new-form').hidden = false; $('new-name').focus(); });
    $('new-form').addEventListener('submit', function (ev) { ev.preventDefault(); newFile(); });
    $('save').addEventListener('click', function () { preview(); });
    $('confirm-save').addEventListener('click', save);
    $('cancel-save').addEventListener('click', function () { $('preview').hidden = true; ed.view.focus(); });
    $('keep-mine').addEventListener('click', keepMine);
    $('show-diff').addEventListener('click', showDiff);
    $('revert').addEventListener('click', function () {
      if (!ed.file || ed.isNew) return;
      if (dirty() && !window.confirm(t('discard'))) return;
      ed.loaded = undefined;
      openFile(ed.file);
    });
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
    initEditor().catch(function (e) { if (!(e instanceof AuthError)) note(t('failed', { e: e.message }), 'error'); });
  }

  function init() {
    applyI18n();
    setConn('connecting');
    showDialog();
    $('scenario').addEventListener('change', function () {
      st.scenario = $('scenario').value;
      history.replaceState(null, '', '#' + encodeURIComponent(st.scenario));
      var sc = st.byName[st.scenario];
      if (ed.view && sc && !dirty() && relFile(sc.file) !== ed.file) openFile(relFile(sc.file)).catch(function () {});
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
      var cmd = fileCommand(text);
      if (cmd) {
        if (cmd.error) note(t('fileUsage'), 'error');
        else sendFile(cmd.file, cmd.caption);
        return;
      }
      say(t('you'), text, 'me');
      send({ type: 'message', text: text });
    });
    $('attach').addEventListener('click', function () { $('attach-input').click(); });
    $('attach-input').addEventListener('change', function () {
      var picked = $('attach-input').files[0];
      $('attach-input').value = '';
      if (!picked) return;
      // only what the portal's event says of a file: its name, size and
      // kind; the file itself never leaves the browser
      var kind = (picked.type || '').split('/')[0];
      sendFile({ name: picked.name, size: picked.size, type: ['image', 'video', 'audio'].indexOf(kind) >= 0 ? kind : 'file' }, '');
    });
    $('idle').addEventListener('click', function () { note(t('silent')); send({ type: 'idle' }); });
    $('close').addEventListener('click', function () { note(t('closed')); send({ type: 'close' }); });
    $('traffic').addEventListener('change', setTraffic);
    wireView();
    wireEditor();
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
