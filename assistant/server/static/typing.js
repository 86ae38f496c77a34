// Typing: the message box under the conversation, with or without a call, and each reply's
// timings. A typed message goes to POST /api/conversations/{id}/chat; without a call its reply
// streams back as server-sent events and is shown as it comes; in a call it is said there and
// arrives like a spoken reply (RTVI), so only the typed words are shown from here.

import { ApiError, errorDetail } from './api.js';

/** The longest message the server takes (assistant/server/chat.py MAX_TYPED_CHARS). */
export const MAX_TYPED_CHARS = 4000;

const TIMING_LABELS = [
  ['stt_secs', 'speech to text'],
  ['llm_secs', 'first token'],
  ['tts_secs', 'first audio'],
];

/** What a message box holds, as the server will take it: `{text}` or `{error}`. */
export function typedText(value) {
  const text = (value || '').trim();
  if (!text) return { error: 'Type a message first.' };
  if (text.length > MAX_TYPED_CHARS) {
    return { error: `That is ${text.length} characters; at most ${MAX_TYPED_CHARS} go in one message.` };
  }
  return { text };
}

/** A duration in words: milliseconds under a second, else seconds. */
export function duration(secs) {
  return secs < 1 ? `${Math.round(secs * 1000)} ms` : `${secs.toFixed(2)} s`;
}

/** A turn's timings in words (`{stt_secs, llm_secs, tts_secs}`, any of them absent), e.g.
 * "speech to text 310 ms · first token 1.42 s"; '' when none applies. */
export function timingsText(timings) {
  const parts = [];
  for (const [key, label] of TIMING_LABELS) {
    const value = timings && timings[key];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) parts.push(`${label} ${duration(value)}`);
  }
  return parts.join(' · ');
}

/** Splits server-sent events off the front of `buffer`: `{events: [{event, data}], rest}`,
 * `rest` being an event not yet complete. `data` is JSON-decoded (the server sends JSON). */
export function takeEvents(buffer) {
  const events = [];
  const normalized = buffer.replace(/\r\n?/g, '\n');
  const blocks = normalized.split('\n\n');
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length) continue;
    let parsed;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch {
      continue;
    }
    events.push({ event, data: parsed });
  }
  return { events, rest };
}

/**
 * Sends one typed turn and reads its answer. `onText(words)` and `onNotice(message)` as they
 * come (streamed); resolves with the `done` data (`{reply, messages, timings, notices, live}`);
 * rejects with an ApiError (`stored` true when the server kept the words: it answered, and the
 * reply failed).
 */
export async function sendTyped(conversationId, text, { onText = () => {}, onNotice = () => {}, fetchImpl = fetch } = {}) {
  let response;
  try {
    response = await fetchImpl(`/api/conversations/${encodeURIComponent(conversationId)}/chat`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json' },
      body: JSON.stringify({ text }),
    });
  } catch {
    throw Object.assign(new ApiError(0, 'Could not reach the server.'), { stored: false });
  }
  if (!response.ok) {
    // Refused before the turn (bad input, signed out) or failed in it (the words are kept).
    const stored = response.status >= 500 || response.status === 429;
    throw Object.assign(new ApiError(response.status, await errorDetail(response)), { stored });
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: !done });
    const taken = takeEvents(done ? `${buffer}\n\n` : buffer);
    buffer = taken.rest;
    for (const { event, data } of taken.events) {
      if (event === 'text') onText(data.text || '');
      else if (event === 'notice') onNotice(data);
      else if (event === 'done') return data;
      else if (event === 'error') {
        throw Object.assign(new ApiError(data.status || 502, data.detail || 'The reply failed.'), { stored: true });
      }
    }
    if (done) break;
  }
  throw Object.assign(new ApiError(0, 'The reply was cut off.'), { stored: true });
}

/**
 * The message box: `form`, `input`, `send`, `error` elements; `conversationId()`, `inCall()`,
 * the `transcript`; `onNotice(message)` for what tools tell the page; `onTurn()` after each
 * turn (the lists refresh); `send` is `sendTyped` (tests pass their own).
 */
export class TypingBox {
  constructor({ form, input, send, error }, { conversationId, inCall, transcript, onNotice, onTurn = () => {}, sendImpl = sendTyped }) {
    this.el = { form, input, send, error };
    this.conversationId = conversationId;
    this.inCall = inCall;
    this.transcript = transcript;
    this.onNotice = onNotice;
    this.onTurn = onTurn;
    this.sendImpl = sendImpl;
    this.busy = false;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    input.addEventListener('keydown', (event) => {
      // Enter sends; Shift+Enter starts a new line.
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
  }

  _showError(message) {
    this.el.error.textContent = message || '';
    this.el.error.hidden = !message;
  }

  /** Sends what the box holds; resolves once the turn is over (answered or failed). */
  async submit() {
    if (this.busy) return;
    const id = this.conversationId();
    const { text, error } = typedText(this.el.input.value);
    if (error) {
      this._showError(error);
      return;
    }
    if (!id) return;
    this._showError('');
    this.busy = true;
    this.el.send.disabled = true;
    this.el.input.value = '';
    const inCall = this.inCall();
    this.transcript.typedUser(text);
    // In a call the reply is said there and shown from its RTVI messages, as a spoken one.
    const reply = inCall ? null : this.transcript.typedReply();
    try {
      const done = await this.sendImpl(id, text, {
        onText: (words) => reply && reply.add(words),
        onNotice: (message) => this.onNotice(message),
      });
      if (reply) {
        reply.finish(done.reply, done.timings);
      }
    } catch (failure) {
      if (reply) reply.fail(failure.stored ? failure.message : null);
      if (!failure.stored) {
        // Never got in: the words go back in the box, nothing is lost.
        this.transcript.dropTypedUser();
        if (!this.el.input.value) this.el.input.value = text;
      }
      this._showError(failure.message);
    } finally {
      this.busy = false;
      this.el.send.disabled = false;
      this.onTurn();
    }
  }
}
