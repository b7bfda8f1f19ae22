// A stand-in for Twilio's Voice JavaScript SDK (window.Twilio.Device) for the softphone page's
// browser tests: the device registers at once, and the test rings it with fakeTwilio.ring().
// Only the calls the page makes exist; each records what the page did to it.
"use strict";

(function () {
  class Emitter {
    constructor() { this.handlers = {}; }
    on(event, handler) { (this.handlers[event] = this.handlers[event] || []).push(handler); return this; }
    emit(event, ...args) { (this.handlers[event] || []).forEach((handler) => handler(...args)); }
  }

  class Call extends Emitter {
    constructor() { super(); this.state = "pending"; this.muted = false; this.digits = ""; }
    status() { return this.state; }
    accept() { this.state = "open"; this.emit("accept", this); }
    reject() { this.state = "closed"; this.emit("reject"); }
    disconnect() { this.state = "closed"; this.emit("disconnect", this); }
    mute(muted) { this.muted = muted; }
    isMuted() { return this.muted; }
    sendDigits(digits) { this.digits += digits; }
  }

  class Device extends Emitter {
    constructor(token, options) {
      super();
      this.token = token;
      this.options = options;
      window.fakeTwilio.device = this;
    }
    async register() { this.emit("registered"); }
    updateToken(token) {
      this.token = token;
      window.fakeTwilio.renewed.push(token);
      // Seen from the test by a locator: polling a script would need eval, which the page's
      // Content-Security-Policy forbids.
      document.documentElement.dataset.renewedTokens = String(window.fakeTwilio.renewed.length);
    }
  }

  window.fakeTwilio = {
    device: null,
    renewed: [],
    calls: [],
    ring() { const call = new Call(); this.calls.push(call); this.device.emit("incoming", call); },
  };
  window.Twilio = { Device: Device };
})();
