// The Memory pane: what the assistant knows about the user (GET /api/memories), each fact with
// its date and the conversation it came from; edit, pin, delete, and "forget everything" behind
// a confirmation. Ordering and wording are plain functions (tested in node, tests/js).

import { parseTime, relativeTime } from './format.js';
import { newestOnly } from './lists.js';

/** Pinned first, then the newest first (the order the assistant reads them in, roughly). */
export function memoriesInOrder(memories) {
  const created = (m) => parseTime(m.created_at) || 0;
  return [...memories].sort((a, b) => Number(Boolean(b.pinned)) - Number(Boolean(a.pinned)) || created(b) - created(a));
}

/** "Remembered 5 minutes ago", or "Inferred …" for a fact the assistant picked up itself. */
export function memoryDate(memory, now = new Date()) {
  const when = relativeTime(parseTime(memory.created_at), now);
  return `${memory.inferred ? 'Inferred' : 'Remembered'} ${when}`;
}

/** The PATCH body an edit makes: only what changed; null when nothing did (or text is blank). */
export function memoryPatch(memory, { text, pinned } = {}) {
  const body = {};
  if (text !== undefined) {
    const trimmed = String(text).trim();
    if (!trimmed) return null;
    if (trimmed !== memory.text) body.text = trimmed;
  }
  if (pinned !== undefined && Boolean(pinned) !== Boolean(memory.pinned)) body.pinned = Boolean(pinned);
  return Object.keys(body).length ? body : null;
}

/** What "forget everything" asks before it does it. */
export function forgetAllQuestion(count) {
  return `Forget all ${count} fact${count === 1 ? '' : 's'} for good? This can't be undone.`;
}

/**
 * The pane, over `el` ({memories, memoriesEmpty, forgetAll, forgetConfirm, forgetQuestion,
 * forgetYes, forgetNo}) and the API (`api`: {list, update(id, body), remove(id), removeAll()}).
 * `onOpenConversation(id)` opens a fact's conversation; `onError(title, error)` says what failed.
 */
export class MemoryPane {
  constructor(el, { api, onOpenConversation, onError }) {
    this.el = el;
    this.api = api;
    this.onOpenConversation = onOpenConversation;
    this.onError = onError;
    this.memories = [];
    this.loaded = false;
    this.editing = null; // the id of the fact being edited
    const apply = (memories) => {
      const previous = this.loaded ? new Set(this.memories.map((m) => m.id)) : null;
      this.memories = memories;
      this.loaded = true;
      this.render(previous);
    };
    const load = newestOnly(() => api.list(), apply);
    this.load = async () => {
      try {
        await load();
      } catch (error) {
        onError('Could not load what I remember', error);
      }
    };
    el.forgetAll.addEventListener('click', () => this.askForgetAll(true));
    el.forgetNo.addEventListener('click', () => this.askForgetAll(false));
    el.forgetYes.addEventListener('click', () => this.forgetAll());
  }

  /** Another user: an empty pane, whose first answer highlights nothing. */
  reset() {
    this.memories = [];
    this.loaded = false;
    this.editing = null;
    this.askForgetAll(false);
  }

  askForgetAll(asking) {
    const { el } = this;
    el.forgetConfirm.hidden = !asking;
    el.forgetAll.hidden = asking || this.memories.length === 0;
    if (asking) {
      el.forgetQuestion.textContent = forgetAllQuestion(this.memories.length);
      el.forgetNo.focus();
    }
  }

  async forgetAll() {
    this.el.forgetYes.disabled = true;
    try {
      await this.api.removeAll();
      this.askForgetAll(false);
    } catch (error) {
      this.onError('Could not forget everything', error);
    } finally {
      this.el.forgetYes.disabled = false;
    }
    await this.load();
  }

  async change(memory, what) {
    const body = memoryPatch(memory, what);
    if (body) {
      try {
        await this.api.update(memory.id, body);
      } catch (error) {
        this.onError('Could not change that fact', error);
        return;
      }
    }
    this.editing = null;
    await this.load();
  }

  async remove(memory) {
    try {
      await this.api.remove(memory.id);
    } catch (error) {
      // Already gone (another tab, or the assistant forgot it): the list below says so.
      if (error.status !== 404) this.onError('Could not delete that fact', error);
    }
    await this.load();
  }

  render(previousIds = null) {
    const { el } = this;
    el.memories.replaceChildren();
    const now = new Date();
    const memories = memoriesInOrder(this.memories);
    for (const memory of memories) {
      el.memories.append(this.item(memory, now, previousIds));
    }
    el.memoriesEmpty.hidden = memories.length > 0;
    if (el.forgetConfirm.hidden) el.forgetAll.hidden = memories.length === 0;
    document.querySelectorAll('[data-count="memory"]').forEach((node) => {
      node.textContent = memories.length ? String(memories.length) : '';
    });
  }

  item(memory, now, previousIds) {
    const item = document.createElement('li');
    item.className = `item memory${memory.pinned ? ' pinned' : ''}${memory.inferred ? ' inferred' : ''}`;
    item.dataset.testid = 'memory-item';
    item.dataset.memoryId = memory.id;
    if (previousIds && !previousIds.has(memory.id)) item.classList.add('fresh');

    const meta = document.createElement('div');
    meta.className = 'item-meta';
    const time = document.createElement('time');
    const created = parseTime(memory.created_at);
    if (created) {
      time.dateTime = created.toISOString();
      time.title = created.toLocaleString();
    }
    time.textContent = memoryDate(memory, now);
    meta.append(time);
    if (memory.inferred) meta.append(chip('inferred', 'The assistant picked this up; you never asked it to remember'));
    if (memory.pinned) meta.append(chip('pinned', 'Always told to the assistant first'));
    if (memory.source_conversation_id) {
      const source = document.createElement('a');
      source.href = '#';
      source.className = 'memory-source';
      source.dataset.testid = 'memory-source';
      source.textContent = 'conversation';
      source.title = 'Open the conversation this came from';
      source.addEventListener('click', (event) => {
        event.preventDefault();
        this.onOpenConversation(memory.source_conversation_id);
      });
      meta.append(source);
    }

    if (this.editing === memory.id) {
      item.append(this.editor(memory), meta);
      return item;
    }
    const text = document.createElement('div');
    text.className = 'item-text';
    text.textContent = memory.text;
    const actions = document.createElement('div');
    actions.className = 'memory-actions';
    actions.append(
      button(memory.pinned ? 'Unpin' : 'Pin', 'memory-pin', () => this.change(memory, { pinned: !memory.pinned }), {
        pressed: Boolean(memory.pinned),
      }),
      button('Edit', 'memory-edit', () => {
        this.editing = memory.id;
        this.render();
      }),
      button('Delete', 'memory-delete', () => this.remove(memory)),
    );
    item.append(text, meta, actions);
    return item;
  }

  editor(memory) {
    const form = document.createElement('form');
    form.className = 'memory-editor';
    const input = document.createElement('textarea');
    input.className = 'memory-edit-text';
    input.dataset.testid = 'memory-edit-text';
    input.rows = 2;
    input.maxLength = 500; // the store's longest fact (MEMORY_MAX_CHARS)
    input.value = memory.text;
    input.setAttribute('aria-label', 'The fact, in your words');
    const save = button('Save', 'memory-save', null);
    save.type = 'submit';
    const cancel = button('Cancel', 'memory-cancel', () => {
      this.editing = null;
      this.render();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.change(memory, { text: input.value });
    });
    const actions = document.createElement('div');
    actions.className = 'memory-actions';
    actions.append(save, cancel);
    form.append(input, actions);
    queueMicrotask(() => input.focus());
    return form;
  }
}

function chip(text, title) {
  const node = document.createElement('span');
  node.className = `chip chip-${text}`;
  node.textContent = text;
  node.title = title;
  return node;
}

function button(text, testid, onClick, { pressed } = {}) {
  const node = document.createElement('button');
  node.type = 'button';
  node.className = 'link-btn';
  node.dataset.testid = testid;
  node.textContent = text;
  if (pressed !== undefined) node.setAttribute('aria-pressed', String(pressed));
  if (onClick) node.addEventListener('click', onClick);
  return node;
}
