// The peer of olbot's end-to-end benchmark: examples/support.yaml's first
// contact written as a botbuilder-js bot, the way a team would build it
// without olbot — a waterfall dialog with a choice prompt and two validated
// text prompts, its state in botbuilder's MemoryStorage (in memory, not
// durable), served over HTTP on POST /api/messages.
//
// The bot's replies come back in the HTTP answer: the load tool sends every
// activity with deliveryMode "expectReplies", so the CloudAdapter buffers
// the turn's replies and answers {"activities": [...]} once the turn (and
// the state save) is done — the Bot Framework's own way of answering in the
// response, so a turn's latency is the request's round trip, as it is for
// olbot's POST /v1/events. No request leaves this process (no connector
// calls to a serviceUrl, no authentication: the bot has no app id).
//
//   node index.js [--listen 127.0.0.1:3978]
//
// GET /healthz answers 200 (the load tool's preflight).
'use strict';

const http = require('node:http');
const {
  ActivityTypes,
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  ConversationState,
  MemoryStorage,
} = require('botbuilder');
const {
  ChoicePrompt,
  DialogSet,
  DialogTurnStatus,
  ListStyle,
  TextPrompt,
  WaterfallDialog,
} = require('botbuilder-dialogs');

const RETRIES = 2; // settings.retries of support.yaml: a question is asked again twice
const OPERATOR_WORDS = ['operator', 'human', 'оператор', 'живой человек'];
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const NAME = /^[\p{L}][\p{L}\p{M}' .-]{0,63}$/u;

function parseListen(argv) {
  const i = argv.indexOf('--listen');
  const addr = i >= 0 && argv[i + 1] ? argv[i + 1] : '127.0.0.1:3978';
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

// validated allows a prompt's answer when ok(text), and gives up (the
// answer is then the given-up marker) after RETRIES retries.
function validated(ok) {
  return async (pc) => {
    if (pc.recognized.succeeded && ok(pc.recognized.value.trim())) {
      return true;
    }
    if (pc.attemptCount > RETRIES) {
      pc.recognized.value = GAVE_UP;
      return true;
    }
    return false;
  };
}
const GAVE_UP = '\u0000gave-up';

// titleCase writes a name as olbot's name answer does: spaces collapsed,
// each part (after a space or hyphen) capitalised, the rest lower case.
function titleCase(s) {
  return s
    .trim()
    .replace(/\s+/g, ' ')
    .toLowerCase()
    .replace(/(^|[ -])(\p{L})/gu, (_, sep, c) => sep + c.toUpperCase());
}

function buildBot() {
  const storage = new MemoryStorage();
  const conversationState = new ConversationState(storage);
  const dialogState = conversationState.createProperty('dialogState');
  const profile = conversationState.createProperty('profile');
  const dialogs = new DialogSet(dialogState);

  const menu = new ChoicePrompt('menu');
  menu.style = ListStyle.suggestedAction;
  dialogs.add(menu);
  dialogs.add(new TextPrompt('name', validated((t) => NAME.test(t))));
  dialogs.add(new TextPrompt('email', validated((t) => EMAIL.test(t))));

  dialogs.add(
    new WaterfallDialog('support', [
      async (step) => {
        const p = await profile.get(step.context, {});
        p.status = 'active';
        p.state = 'welcome';
        await step.context.sendActivity(`Hello, ${p.client || 'there'}! I am the support assistant.`);
        return step.prompt('menu', {
          prompt: 'How can I help?',
          retryPrompt: 'Please choose one of the buttons.',
          choices: ['Leave a request', 'Talk to a person'],
        });
      },
      async (step) => {
        if (step.result.value === 'Talk to a person') {
          return handoff(step);
        }
        (await profile.get(step.context, {})).state = 'ask_name';
        return step.prompt('name', { prompt: 'How may I call you?', retryPrompt: 'Please type your name, e.g. Anna.' });
      },
      async (step) => {
        const p = await profile.get(step.context, {});
        if (step.result === GAVE_UP) {
          return handoff(step);
        }
        p.name = titleCase(step.result);
        p.state = 'ask_email';
        return step.prompt('email', {
          prompt: `${p.name}, what is your email?`,
          retryPrompt: 'That does not look like an email. Example: anna@example.com',
        });
      },
      async (step) => {
        const p = await profile.get(step.context, {});
        if (step.result === GAVE_UP) {
          return handoff(step);
        }
        p.email = step.result.trim();
        p.state = 'thanks';
        p.status = 'finished';
        await step.context.sendActivity(`Thank you, ${p.name}! We will write to ${p.email}.`);
        return step.endDialog();
      },
    ])
  );

  async function handoff(step) {
    const p = await profile.get(step.context, {});
    p.state = 'handoff';
    p.status = 'operator';
    await step.context.sendActivity('Connecting you to an operator…');
    return step.endDialog();
  }

  // logic is one turn: a client joining starts the dialog, a message
  // continues it (or the operator command interrupts it).
  async function logic(context) {
    const dc = await dialogs.createContext(context);
    const a = context.activity;
    if (a.type === ActivityTypes.ConversationUpdate) {
      const joined = (a.membersAdded || []).find((m) => m.id !== a.recipient.id);
      if (joined) {
        const p = await profile.get(context, {});
        p.client = joined.name || '';
        await dc.cancelAllDialogs();
        await dc.beginDialog('support');
      }
    } else if (a.type === ActivityTypes.Message) {
      const text = (a.text || '').trim().toLowerCase();
      if (OPERATOR_WORDS.includes(text)) {
        await dc.cancelAllDialogs();
        const p = await profile.get(context, {});
        p.state = 'handoff';
        p.status = 'operator';
        await context.sendActivity('Connecting you to an operator…');
      } else {
        const r = await dc.continueDialog();
        if (r.status === DialogTurnStatus.empty) {
          await context.sendActivity('This chat has ended. Write to start again.');
        }
      }
    }
    await conversationState.saveChanges(context, false);
  }
  return logic;
}

// expressLike gives node's request and response the few members the
// CloudAdapter uses (it accepts Express, Restify or node http with these).
function expressLike(res) {
  res.status = (code) => {
    res.statusCode = code;
    return res;
  };
  res.header = (name, value) => res.setHeader(name, value);
  res.send = (body) => {
    if (body === undefined || body === null) {
      return;
    }
    if (typeof body === 'object' && !Buffer.isBuffer(body)) {
      body = JSON.stringify(body);
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
    }
    res.write(body);
  };
  return res;
}

function main() {
  const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
  adapter.onTurnError = async (context, err) => {
    console.error('turn failed:', err);
    await context.sendActivity('Sorry, something went wrong.');
  };
  const logic = buildBot();
  const { host, port } = parseListen(process.argv);
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.end('ok\n');
      return;
    }
    if (req.url !== '/api/messages') {
      res.statusCode = 404;
      res.end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        req.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        res.statusCode = 400;
        res.end(`bad JSON: ${err.message}\n`);
        return;
      }
      adapter.process(req, expressLike(res), logic).catch((err) => {
        console.error(err);
        if (!res.headersSent) {
          res.statusCode = 500;
        }
        res.end();
      });
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(port, host, () => console.log(`botbuilder peer on http://${host}:${port}/api/messages`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
