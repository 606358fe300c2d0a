"use strict";
// The store picker's one-click choices (members/admin/store_picker.py): select every store, the
// stores of one city (added to what is chosen), or none; then tell select2 (a jQuery "change"
// handler, which a native change event reaches) to redraw the chosen stores.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-store-pick]");
  if (!button) {
    return;
  }
  const select = button.closest("[data-store-picker]").querySelector("select");
  const pick = button.dataset.storePick;
  for (const option of select.options) {
    if (pick === "all") {
      option.selected = true;
    } else if (pick === "none") {
      option.selected = false;
    } else if (option.dataset.city === button.dataset.city) {
      option.selected = true;
    }
  }
  select.dispatchEvent(new Event("change", { bubbles: true }));
});
