// The server's JSON API (README "API"): one fetch wrapper and a function per route.

import { timezone } from './format.js';

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
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
  if (!response.ok) throw new ApiError(response.status, await errorDetail(response));
  if (response.status === 204) return null;
  return response.json();
}

/** Who is talking and which conversation the next call continues (null: a new one). */
export function selectSession(user, conversationId) {
  return request('/api/session', {
    method: 'POST',
    body: { user, conversation_id: conversationId ?? null, timezone: timezone() },
  });
}

export const getConversations = () => request('/api/conversations');
export const getMessages = (conversationId) => request(`/api/conversations/${encodeURIComponent(conversationId)}/messages`);
export const getNotes = () => request('/api/notes');
export const getReminders = () => request('/api/reminders');
export const getToolLabels = () => request('/api/tools');
export const getConversationUsage = (conversationId) => request(`/api/conversations/${encodeURIComponent(conversationId)}/usage`);
export const getUsage = (days) => request(`/api/usage?days=${days}`);
export const getMemories = () => request('/api/memories');
export const updateMemory = (id, body) => request(`/api/memories/${encodeURIComponent(id)}`, { method: 'PATCH', body });
export const deleteMemory = (id) => request(`/api/memories/${encodeURIComponent(id)}`, { method: 'DELETE' });
export const forgetEverything = () => request('/api/memories', { method: 'DELETE' });
