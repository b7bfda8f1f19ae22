// The softphone page: registers this browser with Twilio's Voice SDK under the volunteer's
// identity, so the calls Phonebank's bridge places ring here. The personal link from chat sits
// in the URL's fragment (never sent to a server) and buys a Twilio access token from
// /softphone/token; the token is renewed the same way before it expires.
"use strict";

(function () {
  const link = window.location.hash.slice(1);
  const status = document.getElementById("status");
  const answerButton = document.getElementById("answer");
  const hangupButton = document.getElementById("hangup");
  const muteButton = document.getElementById("mute");
  const keys = Array.from(document.querySelectorAll("#keypad .key"));
  let call = null;

  function show(text, state) {
    status.textContent = text;
    document.body.dataset.state = state;
  }

  function showButtons() {
    const ringing = call !== null && call.status() === "pending";
    const talking = call !== null && !ringing;
    answerButton.disabled = !ringing;
    hangupButton.disabled = call === null;
    muteButton.disabled = !talking;
    keys.forEach((key) => { key.disabled = !talking; });
  }

  async function fetchToken() {
    const response = await fetch("/softphone/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ link: link }),
    });
    const body = await response.json();
    if (!response.ok) {
      throw new Error(body.error || "The softphone could not start.");
    }
    return body.token;
  }

  function follow(incoming) {
    call = incoming;
    show("Phonebank is calling: answer to start.", "ringing");
    call.on("accept", () => {
      show("On the call. Use the keypad as the call tells you.", "in-call");
      showButtons();
    });
    const ended = () => {
      call = null;
      show("Call ended. Ready: press Call in chat for the next one.", "ready");
      showButtons();
    };
    call.on("disconnect", ended);
    call.on("cancel", ended);
    call.on("reject", ended);
    showButtons();
  }

  async function start() {
    if (!link) {
      show("Open the personal link Phonebank gave you in chat (/phonebank softphone).", "error");
      return;
    }
    if (!window.Twilio || !window.Twilio.Device) {
      show("Twilio's calling library did not load. Check your connection and reload.", "error");
      return;
    }
    let token;
    try {
      token = await fetchToken();
    } catch (error) {
      show(error.message, "error");
      return;
    }
    const device = new window.Twilio.Device(token, { closeProtection: true });
    device.on("registered", () => show("Ready: press Call in chat and your call rings here.", "ready"));
    device.on("error", (error) => show("Calling problem: " + error.message, "error"));
    device.on("incoming", follow);
    device.on("tokenWillExpire", async () => {
      try {
        device.updateToken(await fetchToken());
      } catch (error) {
        show(error.message, "error");
      }
    });
    show("Connecting to Twilio…", "starting");
    await device.register();
  }

  answerButton.addEventListener("click", () => call && call.accept());
  hangupButton.addEventListener("click", () => {
    if (call === null) return;
    if (call.status() === "pending") call.reject(); else call.disconnect();
  });
  muteButton.addEventListener("click", () => {
    if (call === null) return;
    const muted = !call.isMuted();
    call.mute(muted);
    muteButton.setAttribute("aria-pressed", String(muted));
    muteButton.textContent = muted ? "Unmute" : "Mute";
  });
  keys.forEach((key) => key.addEventListener("click", () => call && call.sendDigits(key.dataset.key)));

  start();
})();
