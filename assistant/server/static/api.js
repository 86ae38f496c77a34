// The server's JSON API (README "API"): one fetch wrapper and a function per route.

import { timezone } from './format.js';

export class ApiError extends Error {
  constructor(status, detail, retryAfter = null) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

/** What went wrong, from an error response: FastAPI's `detail`, or the status. */
export async function errorDetail(response) {
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

export async function request(path, { method = 'GET', body } = {}) {
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
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    throw new ApiError(response.status, await errorDetail(response), Number.isNaN(retryAfter) ? null : retryAfter);
  }
  if (response.status === 204) return null;
  return response.json();
}

/** Which conversation the next call continues (null: a new one), and with AUTH=none who is
 * talking (`user`; null when signed in, the session says who). */
export function selectSession(user, conversationId) {
  const body = { conversation_id: conversationId ?? null, timezone: timezone() };
  if (user !== null && user !== undefined) body.user = user;
  return request('/api/session', { method: 'POST', body });
}

/** `{auth: 'none'|'password', user}`: whether this server signs people in, and as whom. */
export const getAuth = () => request('/api/auth');
export const login = (user, password) => request('/api/login', { method: 'POST', body: { user, password } });
export const logout = () => request('/api/logout', { method: 'POST' });

const conversationPath = (id) => `/api/conversations/${encodeURIComponent(id)}`;

/** A page of conversations, most recent first: those after id `before` (null: the newest). */
export function getConversations(before = null, limit = 50) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set('before', before);
  return request(`/api/conversations?${query}`);
}

/** A page of messages, oldest first: `{before}` the newest before that seq, `{after}` the
 * oldest after it, `{}` the newest of all. */
export function getMessages(conversationId, { before, after } = {}, limit = 100) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before !== undefined) query.set('before', String(before));
  if (after !== undefined) query.set('after', String(after));
  return request(`${conversationPath(conversationId)}/messages?${query}`);
}

/** What was said, across all conversations: hits with a snippet, a conversation and a seq. */
export const searchConversations = (q) => request(`/api/search?${new URLSearchParams({ q })}`);
export const renameConversation = (id, title) => request(conversationPath(id), { method: 'PATCH', body: { title } });
export const deleteConversation = (id) => request(conversationPath(id), { method: 'DELETE' });
/** Where a conversation downloads as Markdown (`md`) or JSON. */
export const exportUrl = (id, format) => `${conversationPath(id)}/export?format=${format}`;
export const EXPORT_ALL_URL = '/api/export';
export const editNote = (id, content) => request(`/api/notes/${id}`, { method: 'PATCH', body: { content } });
export const deleteNote = (id) => request(`/api/notes/${id}`, { method: 'DELETE' });
export const editReminder = (id, changes) => request(`/api/reminders/${id}`, { method: 'PATCH', body: changes });
export const deleteReminder = (id) => request(`/api/reminders/${id}`, { method: 'DELETE' });
export const getNotes = () => request('/api/notes');
export const getReminders = () => request('/api/reminders');
export const getToolLabels = () => request('/api/tools');
export const getConversationUsage = (conversationId) => request(`/api/conversations/${encodeURIComponent(conversationId)}/usage`);
export const getUsage = (days) => request(`/api/usage?days=${days}`);
export const getMemories = () => request('/api/memories');
export const updateMemory = (id, body) => request(`/api/memories/${encodeURIComponent(id)}`, { method: 'PATCH', body });
export const deleteMemory = (id) => request(`/api/memories/${encodeURIComponent(id)}`, { method: 'DELETE' });
export const forgetEverything = () => request('/api/memories', { method: 'DELETE' });
