// Package bitrix24 talks to a Bitrix24 portal for an Open Lines chat-bot.
//
// It has four parts, each usable on its own:
//
//   - Event decoding (ParseEvent, DecodeForm): the portal posts bot events as a
//     PHP-style form (data[PARAMS][DIALOG_ID]=chat1777&auth[application_token]=…);
//     ParseEvent turns that into a typed *Event and reports malformed input as a
//     *FieldError naming the offending field.
//   - Event encoding (EncodeForm, (*Event).Form, MessageEvent, JoinEvent, …): the
//     exact wire form, for tests and the fake portal.
//   - The REST client (Client): incoming-webhook or OAuth (local application)
//     authentication, token refresh on expired_token, typed helpers for the
//     imbot/imopenlines/crm methods the engine needs, and batch.
//   - Delivery helpers for an outbox worker: Classify (what to do with an
//     error), Backoff (exponential with full jitter) and Limiter (per-portal
//     leaky bucket matching the portal's own limit).
//
// The facts this package relies on are the official REST documentation
// (github.com/bitrix24/b24restdocs): api-reference/chat-bots/outdated/ for
// the bot methods and events, api-reference/imopenlines/openlines/chat-bots/
// for the Open Lines session methods.
package bitrix24
