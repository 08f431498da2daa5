// The little that htmx does not cover: show a rejected request's message, and mark the open timeline item.
document.addEventListener("DOMContentLoaded", () => {
  // A 400 carries a message for the clinician (e.g. a reversed date range): keep it out of django-htmx's debug
  // overlay, which listens on document and would replace the page with it.
  document.body.addEventListener("htmx:beforeOnLoad", (event) => {
    if (event.detail.xhr.status === 400) event.stopPropagation();
  });
});

document.addEventListener("htmx:responseError", (event) => {
  const flash = document.getElementById("flash");
  if (!flash) return;
  flash.textContent = event.detail.xhr.responseText || `Request failed (${event.detail.xhr.status})`;
  flash.hidden = false;
  setTimeout(() => { flash.hidden = true; }, 8000);
});

document.addEventListener("htmx:beforeRequest", (event) => {
  const link = event.detail.elt;
  if (!link.closest || !link.closest(".tl-item")) return;
  document.querySelectorAll(".tl-item a.active").forEach((a) => a.classList.remove("active"));
  link.classList.add("active");
});

// A form marked data-reset-after-request empties itself once its request succeeded (the question box). In a script
// file, not an hx-on attribute: the Content Security Policy allows no inline script.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (event.detail.successful && form.matches && form.matches("form[data-reset-after-request]")) form.reset();
});
