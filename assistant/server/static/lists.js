// The user's lists: conversations (the sidebar, and the current one's heading: paged as it
// scrolls, each renamed, exported or deleted from its menu), notes and reminders (the panes,
// each editable and deletable). Loads keep only the newest answer; ordering and wording are
// plain functions (tested in node, tests/js).

import { exportUrl } from './api.js';
import { dueLabel, messageCount, parseTime, relativeTime } from './format.js';
import { ConversationPager } from './history.js';

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

/** The value of a `datetime-local` input for `date`, in the browser's time zone. */
export function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
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
 * The three lists, loaded through `fetch` ({conversations(before, limit): a page,
 * notes, reminders}: functions that answer a list) and shown in `el`'s elements. `currentId()`
 * is the chosen conversation; `onResume(id)` runs when its Resume button is clicked; `actions`
 * change the user's data ({renameConversation(id, title), deleteConversation(id),
 * editNote(id, content), deleteNote(id), editReminder(id, changes), deleteReminder(id)}: each
 * answers whether it was done); `onError(title, error)` says a load failed.
 */
export class Lists {
  constructor(el, { fetch, currentId, onResume, actions, onError }) {
    this.el = el;
    this.currentId = currentId;
    this.onResume = onResume;
    this.actions = actions;
    this.pager = new ConversationPager(fetch.conversations);
    this.notes = [];
    this.reminders = [];
    // Until a list's first answer, nothing in it is new (highlighted as "fresh").
    this.loaded = { notes: false, reminders: false };
    this.refreshTimer = null;
    this.editing = null; // the list an item is being edited in ('conversations', ...): its redraws wait
    const guarded = (title, load) => async () => {
      try {
        await load();
      } catch (error) {
        onError(title, error);
      }
    };
    this.loadConversations = guarded('Could not load conversations', newestOnly(() => this.pager.refresh(), () => {
      this.renderConversations();
    }));
    this.loadMoreConversations = guarded('Could not load conversations', async () => {
      await this.pager.loadMore();
      this.renderConversations();
      this._watchEnd();
    });
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
    // The next page of conversations loads as the end of the list scrolls into view.
    this.endWatch = null;
    if (typeof IntersectionObserver !== 'undefined' && el.conversationsMore) {
      this.endWatch = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting) && !this.pager.done && this.pager.items.length) {
          this.loadMoreConversations();
        }
      }, { root: el.conversationsMore.closest('.sidebar'), rootMargin: '300px' });
      this._watchEnd();
    }
  }

  /** (Re)starts watching the list's end: a new watch reports at once whether it is in view, so
   * a page that left it in view loads the next. */
  _watchEnd() {
    if (!this.endWatch) return;
    this.endWatch.unobserve(this.el.conversationsMore);
    this.endWatch.observe(this.el.conversationsMore);
  }

  get conversations() {
    return this.pager.items;
  }

  /** Another user: empty lists, whose first answers highlight nothing. */
  reset() {
    this.pager.reset();
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
    if (this.editing === 'conversations') return;
    const { el } = this;
    const currentId = this.currentId();
    el.conversations.replaceChildren();
    const now = new Date();
    for (const conversation of this.conversations) {
      el.conversations.append(this._conversationItem(conversation, conversation.id === currentId, now));
    }
    el.conversationsEmpty.hidden = this.conversations.length > 0;
    el.conversationsMore.hidden = this.pager.done || !this.conversations.length;
    const count = this.conversations.length;
    el.conversationCount.textContent = count ? `${count}${this.pager.done ? '' : '+'}` : '';
    const heading = conversationHeading(this.conversations.find((c) => c.id === currentId) || null);
    el.conversationTitle.textContent = heading.title;
    el.conversationSub.textContent = heading.sub;
    // Usage shown for another conversation is not this one's.
    if (el.usageLine.dataset.conversationId !== currentId) el.usageLine.hidden = true;
  }

  _conversationItem(conversation, current, now) {
    const item = document.createElement('li');
    item.className = 'conversation';
    item.dataset.testid = 'conversation-item';
    item.dataset.conversationId = conversation.id;
    if (current) item.setAttribute('aria-current', 'true');

    const main = document.createElement('div');
    main.className = 'conversation-main';
    const title = document.createElement('div');
    title.className = 'conversation-title';
    title.dataset.testid = 'conversation-title';
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

    const tools = document.createElement('div');
    tools.className = 'conversation-tools';
    const rename = smallButton('Rename', 'rename', () => this._rename(item, title, conversation));
    const md = document.createElement('a');
    md.className = 'link-btn';
    md.dataset.testid = 'export-md';
    md.href = exportUrl(conversation.id, 'md');
    md.download = '';
    md.textContent = 'Markdown';
    const json = document.createElement('a');
    json.className = 'link-btn';
    json.dataset.testid = 'export-json';
    json.href = exportUrl(conversation.id, 'json');
    json.download = '';
    json.textContent = 'JSON';
    const remove = smallButton('Delete', 'delete', () => this._delete(conversation));
    remove.classList.add('danger');
    tools.append(rename, md, json, remove);
    item.append(main, resume, tools);
    return item;
  }

  _rename(item, title, conversation) {
    const input = document.createElement('input');
    input.type = 'text';
    input.className = 'inline-input';
    input.dataset.testid = 'rename-input';
    input.maxLength = 200;
    input.value = conversation.title || '';
    input.setAttribute('aria-label', 'New title');
    this.editing = 'conversations';
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const value = input.value.trim();
      if (save && value && value !== conversation.title && (await this.actions.renameConversation(conversation.id, value))) {
        conversation.title = value;
      }
      this.editing = null;
      this.renderConversations();
    };
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') finish(true);
      if (event.key === 'Escape') {
        event.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener('blur', () => finish(true));
    title.replaceWith(input);
    input.focus();
    input.select();
  }

  async _delete(conversation) {
    const name = conversation.title || 'this untitled conversation';
    if (!confirm(`Delete “${name}”? Its messages go for good; notes and reminders stay.`)) return;
    if (await this.actions.deleteConversation(conversation.id)) {
      this.pager.remove(conversation.id);
      this.renderConversations();
    }
  }

  renderNotes(previousIds) {
    if (this.editing === 'notes') return;
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
      const edit = smallButton('Edit', 'edit-note', () => this._editNote(item, text, note));
      const remove = smallButton('Delete', 'delete-note', async () => {
        if (confirm('Delete this note?') && (await this.actions.deleteNote(note.id))) this.loadNotes();
      });
      remove.classList.add('danger');
      meta.append(edit, remove);
      item.append(text, meta);
      el.notes.append(item);
    }
    el.notesEmpty.hidden = notes.length > 0;
    setCounts('notes', notes.length);
  }

  renderReminders(previousIds) {
    if (this.editing === 'reminders') return;
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
      if (isPending) {
        meta.append(smallButton('Edit', 'edit-reminder', () => this._editReminder(item, body, reminder)));
      }
      const remove = smallButton('Delete', 'delete-reminder', async () => {
        if (confirm('Delete this reminder?') && (await this.actions.deleteReminder(reminder.id))) this.loadReminders();
      });
      remove.classList.add('danger');
      meta.append(remove);
      body.append(text, meta);
      item.append(dot, body);
      el.reminders.append(item);
    }
    el.remindersEmpty.hidden = this.reminders.length > 0;
    setCounts('reminders', pending.length);
  }

  _edited(list, reload) {
    if (this.editing === list) this.editing = null;
    reload();
  }

  _editNote(item, text, note) {
    const form = editForm(
      [['textarea', 'note-input', note.content, 'Note']],
      async ([content]) => content.trim() && this.actions.editNote(note.id, content.trim()),
      () => this._edited('notes', this.loadNotes),
    );
    this.editing = 'notes';
    text.replaceWith(form);
    item.querySelector('.item-meta').hidden = true;
  }

  _editReminder(item, body, reminder) {
    const due = parseTime(reminder.due_at);
    const form = editForm(
      [
        ['input', 'reminder-input', reminder.text, 'Reminder'],
        ['datetime-local', 'reminder-due-input', due ? localInputValue(due) : '', 'When'],
      ],
      async ([text, when]) => {
        const changes = {};
        if (text.trim() && text.trim() !== reminder.text) changes.text = text.trim();
        const at = when ? new Date(when) : null; // the browser's local time
        if (at && !Number.isNaN(at.getTime()) && (!due || Math.abs(at - due) >= 60000)) changes.due_at = at.toISOString();
        return Object.keys(changes).length ? this.actions.editReminder(reminder.id, changes) : true;
      },
      () => this._edited('reminders', this.loadReminders),
    );
    this.editing = 'reminders';
    body.replaceChildren(form);
  }
}

function smallButton(label, testid, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-btn';
  button.dataset.testid = testid;
  button.textContent = label;
  button.addEventListener('click', onClick);
  return button;
}

/** An inline form of `fields` ([kind, testid, value, label]); `save(values)` answers whether it
 * was saved; `after()` redraws either way (Cancel too). */
function editForm(fields, save, after) {
  const form = document.createElement('form');
  form.className = 'inline-form';
  const inputs = fields.map(([kind, testid, value, label]) => {
    const input = document.createElement(kind === 'textarea' ? 'textarea' : 'input');
    if (kind === 'datetime-local') input.type = 'datetime-local';
    else if (kind === 'input') input.type = 'text';
    input.className = 'inline-input';
    input.dataset.testid = testid;
    input.value = value;
    input.setAttribute('aria-label', label);
    form.append(input);
    return input;
  });
  const row = document.createElement('div');
  row.className = 'inline-actions';
  const ok = document.createElement('button');
  ok.type = 'submit';
  ok.className = 'resume-btn';
  ok.dataset.testid = 'save-edit';
  ok.textContent = 'Save';
  const cancel = smallButton('Cancel', 'cancel-edit', () => after());
  row.append(ok, cancel);
  form.append(row);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ok.disabled = true;
    await save(inputs.map((i) => i.value));
    after();
  });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      after();
    }
  });
  queueMicrotask(() => inputs[0].focus());
  return form;
}

function setCounts(kind, count) {
  document.querySelectorAll(`[data-count="${kind}"]`).forEach((node) => {
    node.textContent = count ? String(count) : '';
  });
}
