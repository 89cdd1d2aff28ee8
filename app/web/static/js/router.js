// History-API routing with the Cruddur SPA's paths; links marked data-link stay in the page.
const ROUTES = [
  [/^\/messages\/new\/([A-Za-z0-9_]{1,32})$/, "new"],
  [/^\/messages\/([0-9a-fA-F-]{36})$/, "conversation"],
  [/^\/messages\/?$/, "list"],
  [/^\/auth\/callback$/, "callback"],
];

let render = () => {};

export function currentRoute() {
  for (const [pattern, name] of ROUTES) {
    const found = location.pathname.match(pattern);
    if (found) return { name, param: found[1] };
  }
  return { name: "other" };
}

export function navigate(path, { replace = false } = {}) {
  history[replace ? "replaceState" : "pushState"]({}, "", path);
  render(currentRoute());
}

export function startRouter(renderRoute) {
  render = renderRoute;
  addEventListener("popstate", () => render(currentRoute()));
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-link]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });
  render(currentRoute());
}
