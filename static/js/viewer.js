// Series viewer: step through slices with the buttons, the slider, the mouse wheel and the arrow keys.
document.addEventListener("DOMContentLoaded", () => {
  const data = document.getElementById("slices-data");
  if (!data) return;
  const slices = JSON.parse(data.textContent);
  const image = document.getElementById("slice-image");
  const counter = document.getElementById("slice-counter");
  const range = document.getElementById("slice-range");
  const tags = document.getElementById("slice-tags");
  const viewer = document.getElementById("viewer");
  let index = 0;

  function show(next) {
    index = Math.max(0, Math.min(slices.length - 1, next));
    const slice = slices[index];
    image.src = slice.preview;
    image.alt = `Slice ${index + 1} of ${slices.length}`;
    image.dataset.index = String(index);
    counter.textContent = `${index + 1} / ${slices.length}`;
    range.value = String(index + 1);
    tags.replaceChildren(...Object.entries(slice.tags).flatMap(([key, value]) => {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = key;
      dd.textContent = Array.isArray(value) ? value.join(" \\ ") : value;
      return [dt, dd];
    }));
    // Warm the cache for the neighbours so stepping feels immediate.
    [index - 1, index + 1].filter((i) => i >= 0 && i < slices.length).forEach((i) => { new Image().src = slices[i].preview; });
  }

  document.getElementById("slice-prev").addEventListener("click", () => show(index - 1));
  document.getElementById("slice-next").addEventListener("click", () => show(index + 1));
  range.addEventListener("input", () => show(Number(range.value) - 1));
  viewer.addEventListener("wheel", (event) => {
    event.preventDefault();
    show(index + (event.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    const step = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    show(index + step);
  });
  show(0);
});
