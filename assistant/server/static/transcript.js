// The live transcript: chat bubbles built from RTVI messages, plus earlier messages on resume.
// How heard and spoken text add up is plain functions over plain objects (tested in node,
// tests/js); the Transcript class keeps the DOM in step with them.

import { svgIcon } from './icon.js';
import { timingsText } from './typing.js';

/** Joins two pieces of speech with a space, unless one is there or punctuation follows. */
export function joinWords(a, b) {
  if (!a) return b;
  if (!b) return a;
  if (/\s$/.test(a) || /^[\s,.;:!?)]/.test(b)) return a + b;
  return `${a} ${b}`;
}

/** A transcription added to the user's turn (`{final, interim}`): finals add up; an interim
 * replaces the one before it and is dropped by the next final. */
export function addUserText(turn, text, final) {
  if (final) {
    turn.final = joinWords(turn.final, text.trim());
    turn.interim = '';
  } else {
    turn.interim = text.trim();
  }
  return turn;
}

/** A `bot-output` message (RTVI 2.x) applied to its segment (`{spoken, pending}`): what has
 * been said of it so far, and what is still to be said. Without a voice, all of it is said. */
export function applyBotOutput(segment, data, voiceless) {
  const progress = data.spoken_progress;
  if (data.will_be_spoken && progress && !voiceless) {
    segment.spoken = progress.accumulated_text || '';
    segment.pending = progress.remaining_text || '';
    if (data.spoken_status === 'completed') {
      segment.spoken = segment.spoken + segment.pending || data.text;
      segment.pending = '';
    }
  } else {
    segment.spoken = data.text;
    segment.pending = '';
  }
  return segment;
}

/** A bot turn's segments as its bubble's pieces, `[text, pending]`: one space between
 * segments (pending if it sits between pending text), no space at either end. */
export function botPieces(segments) {
  const pieces = [];
  for (const segment of segments) {
    let spoken = segment.spoken || '';
    let pending = segment.pending || '';
    const whole = spoken + pending;
    const lead = whole.length - whole.trimStart().length;
    const cut = Math.min(lead, spoken.length);
    spoken = spoken.slice(cut);
    pending = pending.slice(lead - cut);
    if (pending) pending = pending.trimEnd();
    else spoken = spoken.trimEnd();
    if (!spoken && !pending) continue;
    if (pieces.length) pieces.push([' ', pieces[pieces.length - 1][1] && !spoken]);
    if (spoken) pieces.push([spoken, false]);
    if (pending) pieces.push([pending, true]);
  }
  return pieces;
}

/** What a resumed conversation's stored messages show, in order: `{role: "user" | "assistant",
 * text, interrupted}` lines and a `{role: "tool", name}` line per tool call. A tool's result
 * (role "tool") belongs to a call already shown and is skipped. */
export function historyItems(messages) {
  const items = [];
  for (const message of messages || []) {
    const text = typeof message.content === 'string' ? message.content.trim() : '';
    // Each item knows its message's seq, when the server said it (a search opens at one).
    const at = (item) => items.push(message.seq === undefined ? item : { ...item, seq: message.seq });
    if (message.role === 'user' && text) {
      at({ role: 'user', text });
    } else if (message.role === 'assistant') {
      if (text) at({ role: 'assistant', text, interrupted: Boolean(message.interrupted) });
      for (const call of message.tool_calls || []) {
        at({ role: 'tool', name: (call && (call.function ? call.function.name : call.name)) || null });
      }
    }
  }
  return items;
}

export class Transcript {
  /** `labels`: the ToolLabels that name tool calls. */
  constructor(list, scroller, emptyState, labels) {
    this.list = list;
    this.scroller = scroller;
    this.emptyState = emptyState;
    this.labels = labels;
    this.clear();
  }

  clear() {
    this.list.replaceChildren();
    this.user = null; // the open user turn: {row, bubble, final, interim}
    this.bot = null; // the open bot turn: {row, bubble, segments: [], live}
    this.segments = new Map(); // segment_id -> segment
    this.sawUserInput = false;
    this.sawBotOutput = false;
    this.lastBotRow = null; // the latest reply's row, for its timings
    this.typedRow = null; // the latest typed message's row
    this.voiceless = false; // replies are shown, not said: no turn is ever "being said"
    this._updateEmpty();
  }

  /** The assistant's voice is out (or back): while out, replies show as plain finished text. */
  setVoiceless(voiceless) {
    this.voiceless = voiceless;
    if (voiceless && this.bot && this.bot.row) this.bot.row.classList.remove('live');
  }

  // ---- layout helpers

  _nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  _scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  _mutate(fn) {
    const stick = this._nearBottom();
    const result = fn();
    this._updateEmpty();
    if (stick) requestAnimationFrame(() => this._scrollToEnd());
    return result;
  }

  _updateEmpty() {
    if (this.emptyState) this.emptyState.classList.toggle('gone', this.list.childElementCount > 0);
  }

  _row(role, { earlier = false } = {}) {
    const row = document.createElement('li');
    row.className = `row ${role}${earlier ? ' earlier' : ''}`;
    const label = document.createElement('span');
    label.className = 'sr-only';
    label.textContent = role === 'user' ? 'You said:' : 'Assistant said:';
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    bubble.dataset.testid = role === 'user' ? 'transcript-user' : 'transcript-assistant';
    row.append(label, bubble);
    return { row, bubble };
  }

  _meta(row, text) {
    let meta = row.querySelector('.row-meta');
    if (!meta) {
      meta = document.createElement('span');
      meta.className = 'row-meta';
      row.append(meta);
    }
    meta.textContent = text;
  }

  // ---- earlier messages

  /** Shows a resumed conversation's stored messages; returns how many items were shown.
   * `toEnd`: scrolled to its end (false: the caller scrolls). */
  history(messages, { toEnd = true } = {}) {
    const items = historyItems(messages);
    // Not `_mutate`: into an empty transcript it would stick to the end, a frame after the
    // caller scrolled to the message it opened at (a search hit).
    for (const item of items) this.list.append(this._historyNode(item));
    this._updateEmpty();
    if (toEnd) requestAnimationFrame(() => this._scrollToEnd());
    return items.length;
  }

  /** Scrolls to the message `seq` (or the last shown before it) and marks it; false if none. */
  showMessage(seq) {
    let found = null;
    for (const row of this.list.querySelectorAll('[data-seq]')) {
      if (Number(row.dataset.seq) > seq) break;
      found = row;
    }
    if (!found) return false;
    this.list.querySelectorAll('.found').forEach((row) => row.classList.remove('found'));
    found.classList.add('found');
    found.scrollIntoView({ block: 'center', behavior: 'instant' });
    return true;
  }

  /** Puts earlier stored messages above everything shown; returns how many items. */
  earlier(messages) {
    const items = historyItems(messages);
    const nodes = items.map((item) => this._historyNode(item));
    this.list.prepend(...nodes);
    this._updateEmpty();
    return items.length;
  }

  /** Puts later stored messages (a conversation opened in its middle) at the end. */
  later(messages) {
    const items = historyItems(messages);
    this._mutate(() => {
      for (const item of items) this.list.append(this._historyNode(item));
    });
    return items.length;
  }

  _historyNode(item) {
    let row;
    if (item.role === 'tool') {
      row = this._toolNode(item.name, true);
    } else {
      let bubble;
      ({ row, bubble } = this._row(item.role, { earlier: true }));
      bubble.textContent = item.text;
      if (item.interrupted) this._meta(row, 'interrupted');
    }
    if (item.seq !== undefined) row.dataset.seq = item.seq;
    return row;
  }

  divider(text, iconId = null) {
    this._mutate(() => {
      const li = document.createElement('li');
      li.className = 'divider';
      li.setAttribute('role', 'separator');
      if (iconId) li.append(svgIcon(iconId, 'icon-sm'));
      const label = document.createElement('span');
      label.textContent = text;
      li.append(label);
      this.list.append(li);
    });
  }

  _toolNode(name, earlier = false) {
    const li = document.createElement('li');
    li.className = `event${earlier ? ' earlier' : ''}`;
    const label = document.createElement('span');
    label.textContent = this.labels.describe(name, 'done');
    li.append(svgIcon(this.labels.icon(name)), label);
    return li;
  }

  /** A small muted line for a finished tool call, e.g. "took a note". Ends the bot's bubble so
   * later speech goes below it. */
  toolCall(name) {
    this._mutate(() => {
      this._closeBot();
      this.list.append(this._toolNode(name));
    });
  }

  // ---- typed turns, and each reply's timings

  /** The user's typed words, as their own turn (sent, not heard). */
  typedUser(text) {
    this._mutate(() => {
      this._closeUser();
      this._closeBot();
      const { row, bubble } = this._row('user');
      row.classList.add('typed');
      bubble.textContent = text;
      this.list.append(row);
      this.typedRow = row;
    });
    requestAnimationFrame(() => this._scrollToEnd());
  }

  /** The typed words never reached the server: they go back in the box instead. */
  dropTypedUser() {
    if (!this.typedRow) return;
    this._mutate(() => this.typedRow.remove());
    this.typedRow = null;
  }

  /** A reply to a typed turn without a call, shown as it streams: `add(words)`, then
   * `finish(text, timings)` or `fail(message)` (null: the turn never got in; no reply row). */
  typedReply() {
    const { row, bubble } = this._row('assistant');
    row.classList.add('live', 'typed');
    let text = '';
    let shown = false;
    const show = () => {
      if (!shown) {
        shown = true;
        this.list.append(row);
        this.lastBotRow = row;
      }
    };
    return {
      add: (words) => {
        text += words;
        this._mutate(() => {
          show();
          bubble.textContent = text.trimStart();
        });
      },
      finish: (reply, timings) => {
        this._mutate(() => {
          if (reply) {
            show();
            bubble.textContent = reply;
          }
          row.classList.remove('live');
          if (shown) this.setTimings(row, timings);
        });
      },
      fail: (message) => {
        this._mutate(() => {
          row.classList.remove('live');
          if (!message) {
            row.remove();
            return;
          }
          show();
          if (!text) bubble.textContent = '…';
          this._meta(row, `No reply: ${message}`);
          row.classList.add('failed');
        });
      },
    };
  }

  /** `turn-timings` from the server (a call's reply): shown on the latest reply. */
  turnTimings(timings) {
    if (this.lastBotRow) this.setTimings(this.lastBotRow, timings);
  }

  /** A reply's timings, shown on hover (title) or tap (the line under it toggles). */
  setTimings(row, timings) {
    const text = timingsText(timings);
    if (!text) return;
    const bubble = row.querySelector('.bubble');
    row.dataset.timings = text;
    if (bubble) bubble.title = text;
    let line = row.querySelector('.row-timings');
    if (!line) {
      line = document.createElement('span');
      line.className = 'row-timings';
      line.dataset.testid = 'reply-timings';
      line.hidden = true;
      row.append(line);
      if (bubble) bubble.addEventListener('click', () => (line.hidden = !line.hidden));
    }
    line.textContent = text;
  }

  // ---- the user's side

  userText(text, final) {
    if (typeof text !== 'string') return;
    if (!text.trim() && !final) return;
    this._mutate(() => {
      if (!this.user) {
        this._closeBot();
        this.user = { row: null, bubble: null, final: '', interim: '' };
      }
      const turn = addUserText(this.user, text, final);
      if (!turn.final && !turn.interim) return;
      if (!turn.row) {
        const { row, bubble } = this._row('user');
        turn.row = row;
        turn.bubble = bubble;
        this.list.append(row);
      }
      turn.bubble.replaceChildren();
      if (turn.final) turn.bubble.append(document.createTextNode(turn.final));
      if (turn.interim) {
        const span = document.createElement('span');
        span.className = 'interim';
        span.textContent = turn.final ? ` ${turn.interim}` : turn.interim;
        turn.bubble.append(span);
      }
      turn.row.setAttribute('aria-busy', String(Boolean(turn.interim)));
    });
  }

  _closeUser() {
    const turn = this.user;
    this.user = null;
    if (!turn || !turn.row) return;
    if (turn.interim) {
      // Never finalised: keep what was heard.
      turn.final = joinWords(turn.final, turn.interim);
      turn.interim = '';
      turn.bubble.textContent = turn.final;
    }
    turn.row.removeAttribute('aria-busy');
  }

  // ---- the bot's side

  _botTurn() {
    if (!this.bot) {
      this._closeUser();
      this.bot = { row: null, bubble: null, segments: [], interrupted: false };
    }
    return this.bot;
  }

  _closeBot() {
    const turn = this.bot;
    this.bot = null;
    if (turn && turn.row) turn.row.classList.remove('live');
  }

  _renderBot(turn) {
    const pieces = botPieces(turn.segments);
    if (!pieces.length) {
      if (turn.row) {
        turn.row.remove();
        turn.row = null;
        turn.bubble = null;
      }
      return;
    }
    if (!turn.row) {
      const { row, bubble } = this._row('assistant');
      turn.row = row;
      turn.bubble = bubble;
      if (this.bot === turn && !this.voiceless) row.classList.add('live');
      this.list.append(row);
      this.lastBotRow = row;
    }
    turn.bubble.replaceChildren();
    for (const [text, pending] of pieces) {
      if (pending) {
        const span = document.createElement('span');
        span.className = 'pending';
        span.textContent = text;
        turn.bubble.append(span);
      } else {
        turn.bubble.append(document.createTextNode(text));
      }
    }
    if (turn.interrupted) this._meta(turn.row, 'interrupted');
  }

  /** `bot-output` (RTVI 2.x): a segment's text, with what has been spoken of it so far. */
  botOutput(data) {
    if (!data || typeof data.text !== 'string') return;
    this.sawBotOutput = true;
    const id = data.segment_id ?? null;
    this._mutate(() => {
      let segment = id !== null ? this.segments.get(id) : null;
      if (segment && segment.cut) return;
      if (!segment) {
        const turn = this._botTurn();
        segment = { id, turn, spoken: '', pending: '', cut: false };
        turn.segments.push(segment);
        if (id !== null) this.segments.set(id, segment);
      }
      applyBotOutput(segment, data, this.voiceless);
      this._renderBot(segment.turn);
    });
  }

  /** `bot-tts-text`: used only when the server sends no `bot-output`. */
  botTTSText(text) {
    if (this.sawBotOutput || typeof text !== 'string' || !text.trim()) return;
    this._mutate(() => {
      const turn = this._botTurn();
      let segment = turn.segments[turn.segments.length - 1];
      if (!segment || segment.id !== 'tts') {
        segment = { id: 'tts', turn, spoken: '', pending: '', cut: false };
        turn.segments.push(segment);
      }
      segment.spoken = joinWords(segment.spoken, text.trim());
      this._renderBot(turn);
    });
  }

  botStartedSpeaking() {
    this._closeUser();
    if (this.bot && this.bot.row) this.bot.row.classList.add('live');
  }

  botStoppedSpeaking() {
    if (this.bot && this.bot.row) this.bot.row.classList.remove('live');
  }

  /** The user barged in: what the bot had not yet said is dropped. */
  botInterrupted() {
    const turns = new Set();
    for (const segment of this.segments.values()) {
      if (segment.pending && !segment.cut) {
        segment.pending = '';
        segment.cut = true;
        turns.add(segment.turn);
      }
    }
    // Only a turn that lost unspoken words was interrupted; one already finished was not.
    this._mutate(() => {
      for (const turn of turns) {
        if (turn.row || turn.segments.some((s) => s.spoken)) turn.interrupted = true;
        this._renderBot(turn);
      }
      this._closeBot();
    });
  }

  /** The call ended: close open turns, dropping words that were never spoken. */
  endTurns() {
    this._mutate(() => {
      for (const segment of this.segments.values()) {
        if (segment.pending) {
          segment.pending = '';
          segment.cut = true;
          if (segment.turn.segments.some((s) => s.spoken)) segment.turn.interrupted = true;
          this._renderBot(segment.turn);
        }
      }
      this._closeUser();
      this._closeBot();
      this.segments.clear();
    });
  }
}
