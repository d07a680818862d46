// The consignment page: a customs message that was not sent can be sent again (supervisor).
"use strict";

for (const button of document.querySelectorAll("button.resend")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", `/api/outbox/${encodeURIComponent(button.dataset.message)}/resend`);
      window.location.reload();
    } catch (error) {
      button.disabled = false;
      showError(error);
    }
  });
}
