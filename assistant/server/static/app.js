// No pipecat JS client: it needs a bundler and pulls in Daily code; SDP over HTTP + RTVI JSON on a data channel is small enough to speak directly.

import { VoiceSession } from './rtvi.js';
import { Transcript, describeToolCall, toolIcon } from './transcript.js';

const USER_KEY = 'assistant.user';

const $ = (id) => document.getElementById(id);

const el = {
  welcome: $('welcome'),
  welcomeForm: $('welcome-form'),
  userName: $('user-name'),
  userContinue: $('user-continue'),
  welcomeError: $('welcome-error'),
  main: $('main'),
  userLabel: $('user-label'),
  switchUser: $('switch-user'),
  drawerToggle: $('drawer-toggle'),
  drawerBackdrop: $('drawer-backdrop'),
  sidebar: $('sidebar'),
  newConversation: $('new-conversation'),
  conversations: $('conversations'),
  conversationsEmpty: $('conversations-empty'),
  conversationCount: $('conversation-count'),
  stage: $('stage'),
  conversationTitle: $('conversation-title'),
  conversationSub: $('conversation-sub'),
  voiceBadge: $('voice-badge'),
  voiceEmotion: $('voice-emotion'),
  voiceExtra: $('voice-extra'),
  status: $('status'),
  connect: $('connect'),
  connectText: $('connect-text'),
  disconnect: $('disconnect'),
  mute: $('mute'),
  callLabel: $('call-label'),
  callError: $('call-error'),
  voiceStatus: $('voice-status'),
  voiceStatusTitle: $('voice-status-title'),
  voiceStatusText: $('voice-status-text'),
  toolActivity: $('tool-activity'),
  toolActivityText: $('tool-activity-text'),
  notes: $('notes'),
  notesEmpty: $('notes-empty'),
  reminders: $('reminders'),
  remindersEmpty: $('reminders-empty'),
  toasts: $('toasts'),
  audio: $('bot-audio'),
};

const state = {
  user: null,
  conversationId: null,
  conversations: [],
  notes: [],
  reminders: [],
  session: null, // the VoiceSession while one exists
  movedSession: null, // the VoiceSession whose conversation went on elsewhere
  status: 'idle', // idle | connecting | connected | error
  connectWanted: false, // Connect was clicked; the call starts once the conversation is chosen
  botReady: false,
  muted: false,
  userSpeaking: false,
  botSpeaking: false,
  toolCalls: new Map(),
  voice: { emotion: 'neutral', speed: 1, volume: 1 },
  busy: false,
};

const transcript = new Transcript($('transcript'), $('transcript-scroll'), $('transcript-empty'));

// ---------------------------------------------------------------------------------------------
// Time helpers

function timezone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

/** Parses the server's ISO timestamps; ones without an offset are UTC. */
function parseTime(value) {
  if (!value) return null;
  const text = String(value);
  const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text);
  const date = new Date(hasZone ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

function relativeTime(date, now = new Date()) {
  if (!date) return '';
  const seconds = Math.round((date - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return seconds <= 0 ? 'just now' : 'in a moment';
  const units = [
    ['minute', 60, 3600],
    ['hour', 3600, 86400],
    ['day', 86400, 86400 * 7],
  ];
  for (const [unit, size, limit] of units) {
    if (abs < limit) return relativeFormat.format(Math.round(seconds / size), unit);
  }
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }) });
}

function dueLabel(date) {
  if (!date) return '';
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  const time = date.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
  if (sameDay) return `Today, ${time}`;
  if (date.toDateString() === tomorrow.toDateString()) return `Tomorrow, ${time}`;
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (date.toDateString() === yesterday.toDateString()) return `Yesterday, ${time}`;
  const withinWeek = Math.abs(date - now) < 6 * 86400 * 1000;
  const day = date.toLocaleDateString(undefined, withinWeek
    ? { weekday: 'short' }
    : { weekday: 'short', month: 'short', day: 'numeric', ...(date.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }) });
  return `${day}, ${time}`;
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function errorDetail(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail)) {
      return body.detail.map((d) => (d && d.msg ? d.msg.replace(/^Value error, /, '') : String(d))).join('; ');
    }
  } catch {
    /* not JSON */
  }
  return `Request failed (${response.status}${response.statusText ? ` ${response.statusText}` : ''})`;
}

async function request(path, { method = 'GET', body } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'Could not reach the server.');
  }
  if (!response.ok) throw new ApiError(response.status, await errorDetail(response));
  if (response.status === 204) return null;
  return response.json();
}

function postSession(user, conversationId) {
  return request('/api/session', {
    method: 'POST',
    body: { user, conversation_id: conversationId ?? null, timezone: timezone() },
  });
}

/** GETs a list; if the session cookie is gone (401), re-selects the same user and conversation once. */
async function getList(path) {
  try {
    return await request(path);
  } catch (error) {
    if (error.status !== 401 || !state.user) throw error;
    await restoreSession();
    return request(path);
  }
}

async function restoreSession() {
  let selected;
  try {
    selected = await postSession(state.user, state.conversationId);
  } catch (error) {
    if (error.status !== 404) throw error;
    selected = await postSession(state.user, null);
  }
  state.conversationId = selected.conversation_id;
}

// ---------------------------------------------------------------------------------------------
// Toasts

const ICONS = { reminder: 'i-bell', error: 'i-close', info: 'i-tool' };

function svgIcon(name, extraClass = '') {
  // Parsed as HTML, so the <svg> lands in the SVG namespace without spelling it out.
  const template = document.createElement('template');
  template.innerHTML = `<svg class="icon ${extraClass}" aria-hidden="true"><use href="#${name}"></use></svg>`;
  return template.content.firstElementChild;
}

function toast({ title, body = '', kind = 'info', timeout = 6000 }) {
  const node = document.createElement('div');
  node.className = `toast ${kind}`;
  node.dataset.testid = 'toast';
  if (kind === 'error') node.setAttribute('role', 'alert');
  const icon = document.createElement('div');
  icon.className = 'toast-icon';
  icon.append(svgIcon(ICONS[kind] || ICONS.info));
  const text = document.createElement('div');
  const heading = document.createElement('div');
  heading.className = 'toast-title';
  heading.textContent = title;
  text.append(heading);
  if (body) {
    const p = document.createElement('div');
    p.className = 'toast-body';
    p.textContent = body;
    text.append(p);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'icon-btn';
  close.setAttribute('aria-label', 'Dismiss');
  close.append(svgIcon('i-close', 'icon-sm'));
  node.append(icon, text, close);

  let timer = null;
  const dismiss = () => {
    if (!node.isConnected || node.classList.contains('leaving')) return;
    clearTimeout(timer);
    node.classList.add('leaving');
    setTimeout(() => node.remove(), 260);
  };
  close.addEventListener('click', dismiss);
  if (timeout) {
    const arm = () => {
      timer = setTimeout(dismiss, timeout);
    };
    node.addEventListener('mouseenter', () => clearTimeout(timer));
    node.addEventListener('mouseleave', arm);
    arm();
  }
  el.toasts.append(node);
  while (el.toasts.children.length > 4) el.toasts.firstElementChild.remove();
  return node;
}

function chime() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    const ctx = chime.ctx || (chime.ctx = new Ctx());
    const now = ctx.currentTime;
    [880, 1318.5].forEach((freq, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const start = now + i * 0.16;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.12, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.5);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.55);
    });
  } catch {
    /* sound is a nicety */
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering: conversations, notes, reminders

function conversationById(id) {
  return state.conversations.find((c) => c.id === id) || null;
}

function renderConversations() {
  const list = el.conversations;
  list.replaceChildren();
  const now = new Date();
  for (const conversation of state.conversations) {
    const item = document.createElement('li');
    item.className = 'conversation';
    item.dataset.testid = 'conversation-item';
    item.dataset.conversationId = conversation.id;
    const current = conversation.id === state.conversationId;
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
    const count = Number(conversation.message_count) || 0;
    const when = relativeTime(parseTime(conversation.updated_at || conversation.created_at), now);
    meta.textContent = `${when} · ${count === 0 ? 'no messages' : `${count} message${count === 1 ? '' : 's'}`}`;
    main.append(title, meta);

    const resume = document.createElement('button');
    resume.type = 'button';
    resume.className = 'resume-btn';
    resume.dataset.testid = 'resume';
    resume.textContent = 'Resume';
    resume.setAttribute('aria-label', `Resume ${conversation.title || 'untitled conversation'}`);
    resume.addEventListener('click', () => resumeConversation(conversation.id));

    if (current) {
      const tag = document.createElement('span');
      tag.className = 'current-tag';
      tag.textContent = 'Current';
      meta.prepend(tag, ' ');
      resume.title = 'Reload this conversation';
    }
    item.append(main, resume);
    list.append(item);
  }
  el.conversationsEmpty.hidden = state.conversations.length > 0;
  el.conversationCount.textContent = state.conversations.length ? String(state.conversations.length) : '';
  renderConversationHeader();
}

function renderConversationHeader() {
  const conversation = conversationById(state.conversationId);
  if (!conversation) {
    el.conversationTitle.textContent = 'New conversation';
    el.conversationSub.textContent = 'Nothing said yet';
    return;
  }
  el.conversationTitle.textContent = conversation.title || (conversation.message_count ? 'Untitled conversation' : 'New conversation');
  const count = Number(conversation.message_count) || 0;
  const started = relativeTime(parseTime(conversation.created_at));
  el.conversationSub.textContent = count
    ? `Started ${started} · ${count} message${count === 1 ? '' : 's'}`
    : `Started ${started} · nothing said yet`;
}

function setCounts(kind, count) {
  document.querySelectorAll(`[data-count="${kind}"]`).forEach((node) => {
    node.textContent = count ? String(count) : '';
  });
}

function renderNotes(previousIds) {
  el.notes.replaceChildren();
  const notes = [...state.notes].sort(
    (a, b) => (parseTime(b.updated_at || b.created_at) || 0) - (parseTime(a.updated_at || a.created_at) || 0),
  );
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

function renderReminders(previousIds) {
  el.reminders.replaceChildren();
  const now = new Date();
  const pending = [];
  const other = [];
  for (const reminder of state.reminders) {
    (reminder.status === 'pending' ? pending : other).push(reminder);
  }
  const due = (r) => parseTime(r.due_at) || new Date(0);
  pending.sort((a, b) => due(a) - due(b));
  other.sort((a, b) => due(b) - due(a));
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
      when.textContent = dueLabel(date);
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
  el.remindersEmpty.hidden = state.reminders.length > 0;
  setCounts('reminders', pending.length);
}

// ---------------------------------------------------------------------------------------------
// Loading

// Each list keeps only the newest answer when several loads overlap.
const loads = { conversations: 0, notes: 0, reminders: 0 };

async function loadConversations() {
  const seq = ++loads.conversations;
  try {
    const conversations = await getList('/api/conversations');
    if (seq !== loads.conversations) return;
    state.conversations = conversations;
    renderConversations();
  } catch (error) {
    toast({ title: 'Could not load conversations', body: error.message, kind: 'error' });
  }
}

async function loadNotes() {
  const seq = ++loads.notes;
  try {
    const previous = new Set(state.notes.map((n) => n.id));
    const notes = await getList('/api/notes');
    if (seq !== loads.notes) return;
    state.notes = notes;
    renderNotes(loadNotes.loaded ? previous : null);
    loadNotes.loaded = true;
  } catch (error) {
    toast({ title: 'Could not load notes', body: error.message, kind: 'error' });
  }
}

async function loadReminders() {
  const seq = ++loads.reminders;
  try {
    const previous = new Set(state.reminders.map((r) => r.id));
    const reminders = await getList('/api/reminders');
    if (seq !== loads.reminders) return;
    state.reminders = reminders;
    renderReminders(loadReminders.loaded ? previous : null);
    loadReminders.loaded = true;
  } catch (error) {
    toast({ title: 'Could not load reminders', body: error.message, kind: 'error' });
  }
}

async function loadHistory(conversationId) {
  const messages = await getList(`/api/conversations/${encodeURIComponent(conversationId)}/messages`);
  transcript.clear();
  const shown = transcript.history(messages);
  if (shown) transcript.divider('Resumed', 'i-history');
}

let conversationRefresh = null;
function refreshConversationsSoon(delay = 1500) {
  clearTimeout(conversationRefresh);
  conversationRefresh = setTimeout(loadConversations, delay);
}

// ---------------------------------------------------------------------------------------------
// Who's talking, and which conversation

function showWelcome() {
  el.main.hidden = true;
  el.welcome.hidden = false;
  let remembered = '';
  try {
    remembered = localStorage.getItem(USER_KEY) || '';
  } catch {
    /* storage disabled */
  }
  el.userName.value = state.user || remembered;
  el.userName.focus();
  el.userName.select();
}

async function onContinue(event) {
  event.preventDefault();
  const name = el.userName.value.trim();
  el.welcomeError.hidden = true;
  if (!name) {
    el.welcomeError.textContent = 'Please enter your name.';
    el.welcomeError.hidden = false;
    el.userName.focus();
    return;
  }
  el.userContinue.disabled = true;
  try {
    const selected = await postSession(name, null);
    try {
      localStorage.setItem(USER_KEY, selected.user || name);
    } catch {
      /* private mode */
    }
    state.user = selected.user || name;
    state.conversationId = selected.conversation_id;
    state.conversations = [];
    state.notes = [];
    state.reminders = [];
    loadNotes.loaded = false;
    loadReminders.loaded = false;
    transcript.clear();
    setVoice({ emotion: 'neutral', speed: 1, volume: 1 }, false);
    el.userLabel.textContent = state.user;
    el.welcome.hidden = true;
    el.main.hidden = false;
    renderConversations();
    await Promise.all([loadConversations(), loadNotes(), loadReminders()]);
    el.connect.focus();
  } catch (error) {
    el.welcomeError.textContent = error.message;
    el.welcomeError.hidden = false;
  } finally {
    el.userContinue.disabled = false;
  }
}

async function switchUser() {
  await hangUp();
  el.toasts.replaceChildren();
  showWelcome();
}

/** Runs `fn` (which chooses a conversation and says whether it did) with the list disabled. */
async function withBusy(fn) {
  if (state.busy) return;
  state.busy = true;
  el.newConversation.disabled = true;
  el.conversations.querySelectorAll('button').forEach((b) => {
    b.disabled = true;
  });
  let chosen = false;
  try {
    chosen = await fn();
  } finally {
    state.busy = false;
    el.newConversation.disabled = false;
    el.conversations.querySelectorAll('button').forEach((b) => {
      b.disabled = false;
    });
  }
  // Connect clicked meanwhile: the call starts in the conversation just chosen; if choosing
  // failed, its toast says why and the call does not start.
  if (!state.connectWanted) return;
  if (chosen) startCall();
  else {
    state.connectWanted = false;
    setStatus('idle');
  }
}

function newConversation() {
  return withBusy(async () => {
    await hangUp();
    try {
      const selected = await postSession(state.user, null);
      state.conversationId = selected.conversation_id;
      transcript.clear();
      setVoice({ emotion: 'neutral', speed: 1, volume: 1 }, false);
      closeDrawer();
      renderConversations();
      await loadConversations();
      return true;
    } catch (error) {
      toast({ title: 'Could not start a new conversation', body: error.message, kind: 'error' });
      return false;
    }
  });
}

function resumeConversation(id) {
  return withBusy(async () => {
    await hangUp();
    try {
      const selected = await postSession(state.user, id);
      state.conversationId = selected.conversation_id;
      renderConversations();
      closeDrawer();
      setView('talk');
      await loadHistory(state.conversationId);
      return true;
    } catch (error) {
      toast({ title: 'Could not resume that conversation', body: error.message, kind: 'error' });
      loadConversations();
      return false;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Call state

const CALL_LABELS = {
  idle: 'Tap to start talking',
  connecting: 'Connecting…',
  waking: 'Getting ready…',
  listening: 'Listening',
  user: 'Hearing you…',
  bot: 'Speaking',
  muted: 'Muted — tap the mic to talk',
  error: 'Tap to reconnect',
};

function renderCall() {
  const { status } = state;
  let call = status;
  if (status === 'connected') {
    if (state.muted) call = 'muted';
    else if (state.userSpeaking) call = 'user';
    else if (state.botSpeaking) call = 'bot';
    else call = 'listening';
  }
  el.stage.dataset.call = call;
  el.status.textContent = status;
  el.status.dataset.status = status;

  let label = CALL_LABELS[call];
  if (status === 'connected' && !state.botReady && call === 'listening') label = CALL_LABELS.waking;
  el.callLabel.textContent = label;

  const live = status === 'connecting' || status === 'connected';
  el.connect.disabled = live;
  el.connect.setAttribute('aria-label', status === 'error' ? 'Reconnect' : live ? label : 'Start talking');
  el.connectText.textContent = status === 'error' ? 'Reconnect' : 'Start talking';
  el.disconnect.disabled = !live;
  el.mute.disabled = status !== 'connected';
  el.mute.setAttribute('aria-pressed', String(state.muted));
  el.mute.setAttribute('aria-label', state.muted ? 'Unmute microphone' : 'Mute microphone');

  const calls = state.toolCalls.size;
  el.toolActivity.hidden = !(status === 'connected' && calls > 0);
}

function setStatus(status, reason) {
  state.status = status;
  if (status !== 'connected') {
    state.userSpeaking = false;
    state.botSpeaking = false;
    state.toolCalls.clear();
    setVoiceStatus(null);
  }
  if (status === 'error') {
    el.callError.textContent = reason || 'Something went wrong.';
    el.callError.hidden = false;
  } else if (status === 'connecting' || status === 'connected') {
    el.callError.hidden = true;
  }
  renderCall();
}

/**
 * The Connect button. The click always shows (connecting); while a Resume or New conversation
 * is still choosing the conversation, the call waits for it and then starts in that one.
 */
function connect() {
  if (state.session || state.connectWanted) return;
  state.connectWanted = true;
  el.callError.hidden = true;
  // Play the bot's audio: the click on connect is the user gesture that allows it.
  el.audio.muted = false;
  setStatus('connecting');
  if (!state.busy) startCall();
}

async function startCall() {
  if (!state.conversationId) {
    try {
      await restoreSession();
    } catch (error) {
      if (state.connectWanted) {
        state.connectWanted = false;
        setStatus('error', error.message);
      }
      return;
    }
  }
  // Hung up, or another conversation is being chosen (which starts the call when done).
  if (!state.connectWanted || state.busy) return;
  state.connectWanted = false;
  state.botReady = false;
  state.muted = false;
  transcript.setVoiceless(false);
  const session = new VoiceSession({
    audioElement: el.audio,
    clientAbout: { platform_details: { conversation_id: state.conversationId } },
  });
  state.session = session;
  session.addEventListener('state', (event) => {
    if (state.session !== session) return;
    const { state: next, reason } = event.detail;
    if (next === 'connecting') setStatus('connecting');
    else if (next === 'connected') setStatus('connected');
    else if (next === 'error') {
      state.session = null;
      transcript.endTurns();
      setStatus('error', reason);
      refreshConversationsSoon(300);
    } else if (next === 'closed') {
      state.session = null;
      transcript.endTurns();
      setStatus('idle');
      refreshConversationsSoon(300);
    }
  });
  session.addEventListener('ended', () => {
    if (state.session !== session || state.movedSession === session) return;
    toast({ title: 'Call ended', body: 'The assistant hung up.', kind: 'info', timeout: 4000 });
  });
  session.addEventListener('rtvi', (event) => {
    if (state.session === session) onRTVI(event.detail);
  });
  session.start();
}

/** Ends the call (if any) and returns to idle. */
async function hangUp() {
  const session = state.session;
  state.session = null;
  state.connectWanted = false;
  if (session) session.close();
  transcript.endTurns();
  if (state.status !== 'idle') setStatus('idle');
  el.callError.hidden = true;
  if (session) refreshConversationsSoon(300);
}

function toggleMute() {
  if (!state.session || state.status !== 'connected') return;
  state.muted = !state.muted;
  state.session.setMicEnabled(!state.muted);
  if (state.muted) state.userSpeaking = false;
  renderCall();
}

// ---------------------------------------------------------------------------------------------
// RTVI messages from the bot

function onRTVI({ type, data }) {
  const d = data || {};
  switch (type) {
    case 'bot-ready':
      state.botReady = true;
      renderCall();
      break;
    case 'user-started-speaking':
      state.userSpeaking = true;
      renderCall();
      break;
    case 'user-stopped-speaking':
      state.userSpeaking = false;
      renderCall();
      break;
    case 'bot-started-speaking':
      state.botSpeaking = true;
      transcript.botStartedSpeaking();
      renderCall();
      break;
    case 'bot-stopped-speaking':
      state.botSpeaking = false;
      transcript.botStoppedSpeaking();
      renderCall();
      refreshConversationsSoon();
      break;
    case 'bot-tts-stopped':
    case 'bot-llm-stopped':
      // The reply is stored about now; without a voice no bot-stopped-speaking follows.
      refreshConversationsSoon();
      break;
    case 'bot-interrupted':
      state.botSpeaking = false;
      transcript.botInterrupted();
      renderCall();
      break;
    case 'user-input':
      transcript.sawUserInput = true;
      if (d.input_type === 'backchannel') break;
      transcript.userText(d.text, Boolean(d.final));
      break;
    case 'user-transcription':
      if (!transcript.sawUserInput) transcript.userText(d.text, Boolean(d.final));
      break;
    case 'bot-output':
      transcript.botOutput(d);
      break;
    case 'bot-tts-text':
      transcript.botTTSText(d.text);
      break;
    case 'llm-function-call-started':
    case 'llm-function-call-in-progress':
    case 'llm-function-call':
      onToolCall(type, d);
      break;
    case 'llm-function-call-stopped':
      onToolCallStopped(d);
      break;
    case 'server-message':
      onAppMessage(d);
      break;
    case 'error':
      // pipecat's non-fatal errors are for developers ("server rejected WebSocket connection:
      // HTTP 503"); the user hears an apology or gets one of our own messages (voice-available).
      if (!d.fatal) {
        console.warn('assistant error', d.error || d.message);
        break;
      }
      toast({ title: 'The assistant stopped', body: d.error || d.message || '', kind: 'error' });
      if (state.session) {
        const session = state.session;
        state.session = null;
        session.close();
        setStatus('error', d.error || 'The assistant stopped.');
      }
      break;
    case 'error-response':
      console.warn('RTVI error-response', d.error);
      break;
    default:
      break;
  }
}

function onToolCall(type, d) {
  const key = d.tool_call_id || `pending-${type === 'llm-function-call-started' ? 'start' : state.toolCalls.size}`;
  if (d.tool_call_id) state.toolCalls.delete('pending-start');
  state.toolCalls.set(key, d.function_name || null);
  const name = d.function_name || [...state.toolCalls.values()].find(Boolean);
  el.toolActivityText.textContent = name ? `${capitalize(describeToolCall(name, 'active'))}…` : 'Working on it…';
  renderCall();
}

function onToolCallStopped(d) {
  const name = d.function_name || state.toolCalls.get(d.tool_call_id) || null;
  if (!d.cancelled) transcript.event(describeToolCall(name, 'done'), toolIcon(name));
  if (d.tool_call_id) state.toolCalls.delete(d.tool_call_id);
  state.toolCalls.delete('pending-start');
  if (!d.tool_call_id) state.toolCalls.clear();
  renderCall();
}

function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

function onAppMessage(message) {
  if (!message || typeof message !== 'object') return;
  switch (message.type) {
    case 'notes-changed':
      loadNotes();
      break;
    case 'reminders-changed':
      loadReminders();
      break;
    case 'voice':
      setVoice(message, true);
      break;
    case 'reminder-due': {
      const due = parseTime(message.due_at);
      toast({
        title: `Reminder: ${message.text || ''}`.trim(),
        body: due ? `Due ${dueLabel(due)}` : '',
        kind: 'reminder',
        timeout: 15000,
      });
      chime();
      loadReminders();
      break;
    }
    case 'voice-available':
      transcript.setVoiceless(!message.available);
      setVoiceStatus(Boolean(message.available));
      break;
    case 'session-moved':
      // The conversation went on in another tab or device; this call ends (no reconnect).
      state.movedSession = state.session;
      toast({
        title: 'Continued elsewhere',
        body: 'This conversation is now live in another tab or device.',
        kind: 'info',
        timeout: 8000,
      });
      break;
    case 'session': {
      if (message.voice) setVoice(message.voice, false);
      if (message.conversation_id && message.conversation_id !== state.conversationId) {
        state.conversationId = message.conversation_id;
        renderConversations();
      }
      loadConversations();
      break;
    }
    default:
      break;
  }
}

// One place says whether replies are heard: each voice-available message replaces what it said.
let voiceStatusTimer = null;

/** `false`: voice out, until it is back; `true`: back (said for a few seconds); `null`: nothing. */
function setVoiceStatus(available) {
  clearTimeout(voiceStatusTimer);
  const node = el.voiceStatus;
  if (available === null) {
    node.hidden = true;
    delete node.dataset.voice;
    return;
  }
  node.dataset.voice = available ? 'back' : 'out';
  el.voiceStatusTitle.textContent = available ? 'Voice is back' : 'Voice unavailable';
  el.voiceStatusText.textContent = available
    ? ''
    : 'Replies are shown here as text; the voice comes back by itself when it can.';
  node.hidden = false;
  if (available) voiceStatusTimer = setTimeout(() => setVoiceStatus(null), 5000);
}

function formatFactor(value) {
  return Number(value).toFixed(2).replace(/\.?0+$/, '');
}

function setVoice(voice, animate) {
  const next = {
    emotion: voice.emotion || state.voice.emotion || 'neutral',
    speed: voice.speed ?? state.voice.speed ?? 1,
    volume: voice.volume ?? state.voice.volume ?? 1,
  };
  const changed = next.emotion !== state.voice.emotion || next.speed !== state.voice.speed || next.volume !== state.voice.volume;
  state.voice = next;
  el.voiceEmotion.textContent = next.emotion;
  const extra = [];
  if (Math.abs(Number(next.speed) - 1) > 0.001) extra.push(`${formatFactor(next.speed)}×`);
  if (Math.abs(Number(next.volume) - 1) > 0.001) extra.push(`${Math.round(Number(next.volume) * 100)}% vol`);
  el.voiceExtra.textContent = extra.length ? `· ${extra.join(' · ')}` : '';
  el.voiceBadge.title = `Voice: ${next.emotion}, speed ${formatFactor(next.speed)}×, volume ${formatFactor(next.volume)}×`;
  if (animate && changed) {
    el.voiceBadge.classList.remove('changed');
    void el.voiceBadge.offsetWidth;
    el.voiceBadge.classList.add('changed');
  }
}

// ---------------------------------------------------------------------------------------------
// Layout: phone drawer and tabs

function openDrawer() {
  el.main.dataset.drawer = 'open';
  el.drawerToggle.setAttribute('aria-expanded', 'true');
  el.drawerBackdrop.hidden = false;
  const first = el.sidebar.querySelector('button');
  if (first) first.focus();
}

function closeDrawer() {
  if (el.main.dataset.drawer !== 'open') return;
  delete el.main.dataset.drawer;
  el.drawerToggle.setAttribute('aria-expanded', 'false');
  el.drawerBackdrop.hidden = true;
}

function setView(view) {
  el.main.dataset.view = view;
  document.querySelectorAll('.tab').forEach((tab) => {
    tab.setAttribute('aria-selected', String(tab.dataset.view === view));
  });
}

// ---------------------------------------------------------------------------------------------
// Wiring

el.welcomeForm.addEventListener('submit', onContinue);
el.switchUser.addEventListener('click', switchUser);
el.newConversation.addEventListener('click', newConversation);
el.connect.addEventListener('click', connect);
el.disconnect.addEventListener('click', () => hangUp());
el.mute.addEventListener('click', toggleMute);
el.drawerToggle.addEventListener('click', () => (el.main.dataset.drawer === 'open' ? closeDrawer() : openDrawer()));
el.drawerBackdrop.addEventListener('click', closeDrawer);
document.querySelectorAll('.tab').forEach((tab) => tab.addEventListener('click', () => setView(tab.dataset.view)));
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') closeDrawer();
});
window.addEventListener('pagehide', () => {
  if (state.session) state.session.close();
});
// Keep relative times fresh.
setInterval(() => {
  if (el.main.hidden) return;
  renderConversations();
  renderNotes(null);
  renderReminders(null);
}, 60000);

renderCall();
showWelcome();

// For debugging from the console.
window.assistantUI = { state, transcript, onRTVI };
