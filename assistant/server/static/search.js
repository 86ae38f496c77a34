// Search across all conversations: the sidebar's box, its results, and opening one at the
// message that matched.

/** The box (`form`, `input`) and its `results` list: `search(q)` answers the server's hits;
 * `onOpen(conversationId, seq)` opens one; `onError(error)` says a search failed. */
export class SearchBox {
  constructor({ form, input, results, search, onOpen, onError }) {
    this.input = input;
    this.results = results;
    this.search = search;
    this.onOpen = onOpen;
    this.onError = onError;
    this.asked = 0;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.run();
    });
    input.addEventListener('input', () => {
      if (!input.value.trim()) this.clear();
    });
  }

  clear() {
    this.asked += 1;
    this.results.replaceChildren();
    this.results.hidden = true;
  }

  async run() {
    const query = this.input.value.trim();
    if (!query) return this.clear();
    const mine = ++this.asked;
    let hits;
    try {
      hits = await this.search(query);
    } catch (error) {
      this.onError(error);
      return;
    }
    if (mine !== this.asked) return; // a newer search, or cleared
    this.render(hits);
  }

  render(hits) {
    this.results.replaceChildren();
    if (!hits.length) {
      const none = document.createElement('li');
      none.className = 'empty';
      none.textContent = 'Nothing found.';
      this.results.append(none);
    }
    for (const hit of hits) {
      const item = document.createElement('li');
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'search-hit';
      open.dataset.testid = 'search-hit';
      const title = document.createElement('span');
      title.className = 'search-hit-title';
      title.textContent = hit.conversation_title || 'Untitled';
      const snippet = document.createElement('span');
      snippet.className = 'search-hit-snippet';
      snippet.textContent = hit.snippet;
      open.append(title, snippet);
      open.addEventListener('click', () => this.onOpen(hit.conversation_id, hit.seq));
      item.append(open);
      this.results.append(item);
    }
    this.results.hidden = false;
  }
}
