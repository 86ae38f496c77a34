// The user's lists: conversations (the sidebar, and the current one's heading), notes and
// reminders (the panes). Loads keep only the newest answer; ordering and wording are plain
// functions (tested in node, tests/js).

import { dueLabel, messageCount, parseTime, relativeTime } from './format.js';

/**
 * `load` wrapped so that, of loads that overlap, only the newest answer reaches `apply`.
 * A failed load throws to its caller, as `load` does.
 */
export function newestOnly(load, apply) {
  let latest = 0;
  return async (...args) => {
    const mine = ++latest;
    const value = await load(...args);
    if (mine === latest) apply(value);
  };
}

/** "5 minutes ago · 3 messages" */
export function conversationMeta(conversation, now = new Date()) {
  const count = Number(conversation.message_count) || 0;
  const when = relativeTime(parseTime(conversation.updated_at || conversation.created_at), now);
  return `${when} · ${count === 0 ? 'no messages' : messageCount(count)}`;
}

/** The heading over the transcript, for the current conversation (null: not listed yet). */
export function conversationHeading(conversation, now = new Date()) {
  if (!conversation) return { title: 'New conversation', sub: 'Nothing said yet' };
  const count = Number(conversation.message_count) || 0;
  const started = relativeTime(parseTime(conversation.created_at), now);
  return {
    title: conversation.title || (count ? 'Untitled conversation' : 'New conversation'),
    sub: count ? `Started ${started} · ${messageCount(count)}` : `Started ${started} · nothing said yet`,
  };
}

/** Notes, most recently changed first. */
export function notesInOrder(notes) {
  const changed = (n) => parseTime(n.updated_at || n.created_at) || 0;
  return [...notes].sort((a, b) => changed(b) - changed(a));
}

/** Reminders: the pending ones soonest first, then the rest (done, cancelled) latest first. */
export function remindersInOrder(reminders) {
  const pending = [];
  const other = [];
  for (const reminder of reminders) {
    (reminder.status === 'pending' ? pending : other).push(reminder);
  }
  const due = (r) => parseTime(r.due_at) || new Date(0);
  pending.sort((a, b) => due(a) - due(b));
  other.sort((a, b) => due(b) - due(a));
  return { pending, other };
}

/**
 * The three lists, loaded through `fetch` ({conversations, notes, reminders}: functions that
 * answer a list) and shown in `el`'s elements. `currentId()` is the chosen conversation;
 * `onResume(id)` runs when its Resume button is clicked; `onError(title, error)` says a load
 * failed.
 */
export class Lists {
  constructor(el, { fetch, currentId, onResume, onError }) {
    this.el = el;
    this.currentId = currentId;
    this.onResume = onResume;
    this.conversations = [];
    this.notes = [];
    this.reminders = [];
    // Until a list's first answer, nothing in it is new (highlighted as "fresh").
    this.loaded = { notes: false, reminders: false };
    this.refreshTimer = null;
    const guarded = (title, load) => async () => {
      try {
        await load();
      } catch (error) {
        onError(title, error);
      }
    };
    this.loadConversations = guarded('Could not load conversations', newestOnly(fetch.conversations, (conversations) => {
      this.conversations = conversations;
      this.renderConversations();
    }));
    this.loadNotes = guarded('Could not load notes', newestOnly(fetch.notes, (notes) => {
      const previous = new Set(this.notes.map((n) => n.id));
      this.notes = notes;
      this.renderNotes(this.loaded.notes ? previous : null);
      this.loaded.notes = true;
    }));
    this.loadReminders = guarded('Could not load reminders', newestOnly(fetch.reminders, (reminders) => {
      const previous = new Set(this.reminders.map((r) => r.id));
      this.reminders = reminders;
      this.renderReminders(this.loaded.reminders ? previous : null);
      this.loaded.reminders = true;
    }));
  }

  /** Another user: empty lists, whose first answers highlight nothing. */
  reset() {
    this.conversations = [];
    this.notes = [];
    this.reminders = [];
    this.loaded = { notes: false, reminders: false };
  }

  loadAll() {
    return Promise.all([this.loadConversations(), this.loadNotes(), this.loadReminders()]);
  }

  refreshConversationsSoon(delay = 1500) {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(this.loadConversations, delay);
  }

  /** Redraws all three (relative times move on). */
  renderAll() {
    this.renderConversations();
    this.renderNotes(null);
    this.renderReminders(null);
  }

  /** Enables or disables the conversation list's buttons (while one is being chosen). */
  setEnabled(enabled) {
    this.el.conversations.querySelectorAll('button').forEach((b) => {
      b.disabled = !enabled;
    });
  }

  renderConversations() {
    const { el } = this;
    const currentId = this.currentId();
    el.conversations.replaceChildren();
    const now = new Date();
    for (const conversation of this.conversations) {
      const item = document.createElement('li');
      item.className = 'conversation';
      item.dataset.testid = 'conversation-item';
      item.dataset.conversationId = conversation.id;
      const current = conversation.id === currentId;
      if (current) item.setAttribute('aria-current', 'true');

      const main = document.createElement('div');
      main.className = 'conversation-main';
      const title = document.createElement('div');
      title.className = 'conversation-title';
      if (conversation.title) {
        title.textContent = conversation.title;
      } else {
        title.textContent = 'Untitled';
        title.classList.add('untitled');
      }
      const meta = document.createElement('div');
      meta.className = 'conversation-meta';
      meta.textContent = conversationMeta(conversation, now);
      main.append(title, meta);

      const resume = document.createElement('button');
      resume.type = 'button';
      resume.className = 'resume-btn';
      resume.dataset.testid = 'resume';
      resume.textContent = 'Resume';
      resume.setAttribute('aria-label', `Resume ${conversation.title || 'untitled conversation'}`);
      resume.addEventListener('click', () => this.onResume(conversation.id));

      if (current) {
        const tag = document.createElement('span');
        tag.className = 'current-tag';
        tag.textContent = 'Current';
        meta.prepend(tag, ' ');
        resume.title = 'Reload this conversation';
      }
      item.append(main, resume);
      el.conversations.append(item);
    }
    el.conversationsEmpty.hidden = this.conversations.length > 0;
    el.conversationCount.textContent = this.conversations.length ? String(this.conversations.length) : '';
    const heading = conversationHeading(this.conversations.find((c) => c.id === currentId) || null);
    el.conversationTitle.textContent = heading.title;
    el.conversationSub.textContent = heading.sub;
    // Usage shown for another conversation is not this one's.
    if (el.usageLine.dataset.conversationId !== currentId) el.usageLine.hidden = true;
  }

  renderNotes(previousIds) {
    const { el } = this;
    el.notes.replaceChildren();
    const notes = notesInOrder(this.notes);
    for (const note of notes) {
      const item = document.createElement('li');
      item.className = 'item note';
      item.dataset.testid = 'note-item';
      item.dataset.noteId = note.id;
      if (previousIds && !previousIds.has(note.id)) item.classList.add('fresh');
      const text = document.createElement('div');
      text.className = 'item-text';
      text.textContent = note.content;
      const meta = document.createElement('div');
      meta.className = 'item-meta';
      const updated = parseTime(note.updated_at || note.created_at);
      const created = parseTime(note.created_at);
      const time = document.createElement('time');
      if (updated) time.dateTime = updated.toISOString();
      time.title = updated ? updated.toLocaleString() : '';
      const edited = updated && created && updated - created > 1000;
      time.textContent = `${edited ? 'Updated' : 'Noted'} ${relativeTime(updated)}`;
      meta.append(time);
      item.append(text, meta);
      el.notes.append(item);
    }
    el.notesEmpty.hidden = notes.length > 0;
    setCounts('notes', notes.length);
  }

  renderReminders(previousIds) {
    const { el } = this;
    el.reminders.replaceChildren();
    const now = new Date();
    const { pending, other } = remindersInOrder(this.reminders);
    for (const reminder of [...pending, ...other]) {
      const isPending = reminder.status === 'pending';
      const date = parseTime(reminder.due_at);
      const overdue = isPending && date && date < now;
      const item = document.createElement('li');
      item.className = `item reminder${isPending ? '' : ' done'}${overdue ? ' due' : ''}`;
      item.dataset.testid = 'reminder-item';
      item.dataset.reminderId = reminder.id;
      item.dataset.status = reminder.status;
      if (previousIds && !previousIds.has(reminder.id)) item.classList.add('fresh');
      const dot = document.createElement('span');
      dot.className = 'reminder-dot';
      dot.setAttribute('aria-hidden', 'true');
      const body = document.createElement('div');
      const text = document.createElement('div');
      text.className = 'item-text';
      text.textContent = reminder.text;
      const meta = document.createElement('div');
      meta.className = 'item-meta';
      const when = document.createElement('time');
      when.className = 'when';
      if (date) {
        when.dateTime = date.toISOString();
        when.textContent = dueLabel(date, now);
        when.title = date.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' });
      } else {
        when.textContent = 'No time';
      }
      meta.append(when);
      if (isPending && date) {
        const rel = document.createElement('span');
        rel.textContent = relativeTime(date, now);
        meta.append(rel);
      }
      if (overdue || !isPending) {
        const chip = document.createElement('span');
        chip.className = `chip${overdue ? ' overdue' : ''}`;
        chip.textContent = overdue ? 'due' : reminder.status;
        meta.append(chip);
      }
      body.append(text, meta);
      item.append(dot, body);
      el.reminders.append(item);
    }
    el.remindersEmpty.hidden = this.reminders.length > 0;
    setCounts('reminders', pending.length);
  }
}

function setCounts(kind, count) {
  document.querySelectorAll(`[data-count="${kind}"]`).forEach((node) => {
    node.textContent = count ? String(count) : '';
  });
}
