// The page's icons are <symbol>s in index.html, used by id.

export function svgIcon(name, extraClass = '') {
  // Parsed as HTML, so the <svg> lands in the SVG namespace without spelling it out.
  const template = document.createElement('template');
  template.innerHTML = `<svg class="icon ${extraClass}" aria-hidden="true"><use href="#${name}"></use></svg>`;
  return template.content.firstElementChild;
}
