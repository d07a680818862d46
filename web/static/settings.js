// The settings page: company settings saved with PUT /api/settings (each field's problem shown
// under it), the account book replaced with POST /api/account-book (every bad row listed).
"use strict";

const settingsForm = document.getElementById("settings-form");
settingsForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {};
  for (const input of settingsForm.querySelectorAll("input[name]")) {
    if (input.value.trim() !== "" || input.defaultValue !== "") body[input.name] = input.value;
  }
  try {
    const answer = await api("PUT", "/api/settings", body);
    clearFieldErrors(settingsForm);
    for (const s of answer.settings) {
      const input = settingsForm.querySelector(`[name="${CSS.escape(s.key)}"]`);
      if (input) { input.value = s.value || ""; input.defaultValue = input.value; }
    }
    const missing = answer.missing.length ? ` 尚缺 Still missing: ${answer.missing.join(", ")}` : "";
    flash(`已保存 Saved: ${answer.changed.join(", ") || "无变化 nothing changed"}.${missing}`, "info");
  } catch (error) {
    showError(error, settingsForm);
  }
});

const bookForm = document.getElementById("book-form");
bookForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const answer = await api("POST", "/api/account-book", new FormData(bookForm));
    flash(`已导入 Imported ${answer.items} 个料号 items.`, "info");
    window.location.reload();
  } catch (error) {
    showError(error, bookForm);
  }
});
