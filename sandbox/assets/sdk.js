/*
 * Meta sandbox: stand-in for Meta's JS SDK (connect.facebook.net/en_US/sdk.js),
 * limited to what WhatsApp Embedded Signup uses: window.fbAsyncInit, FB.init
 * and FB.login with response_type 'code'. FB.login opens the sandbox's
 * Embedded Signup popup; the popup posts the WA_EMBEDDED_SIGNUP message event
 * (a JSON string) to this window and hands the code back to the SDK through
 * a non-JSON message, like the chatter Meta's SDK exchanges with its frames.
 */
(function () {
  'use strict';
  var CONFIG = __SANDBOX_CONFIG__;
  if (window.FB && window.FB.__sandbox) {
    return;
  }
  var PREFIX = 'fbsdk_sandbox:';
  var initOptions = null;
  var pending = null; // the login in progress: {id, cb, popup, timer}

  function notConnected() {
    return { status: 'unknown', authResponse: null };
  }

  function settle(response) {
    if (!pending) {
      return;
    }
    var p = pending;
    pending = null;
    clearInterval(p.timer);
    // Called from the message handler itself, so the callback and the
    // WA_EMBEDDED_SIGNUP event reach the page in the order the popup posted
    // them. A throwing callback must not break the SDK.
    try {
      p.cb(response);
    } catch (err) {
      setTimeout(function () { throw err; }, 0);
    }
  }

  window.addEventListener('message', function (event) {
    if (event.origin !== CONFIG.origin || typeof event.data !== 'string' ||
        event.data.indexOf(PREFIX) !== 0) {
      return;
    }
    var params = new URLSearchParams(event.data.slice(PREFIX.length));
    if (!pending || params.get('cb') !== pending.id) {
      return;
    }
    if (params.get('status') === 'connected' && params.get('code')) {
      settle({ status: 'connected', authResponse: { code: params.get('code') } });
    } else {
      settle(notConnected());
    }
  });

  function randomID() {
    var a = new Uint32Array(2);
    window.crypto.getRandomValues(a);
    return 'f' + a[0].toString(36) + a[1].toString(36);
  }

  var FB = {
    __sandbox: true,

    init: function (options) {
      initOptions = options || {};
      if (String(initOptions.appId || '') !== CONFIG.appId) {
        console.warn('[meta sandbox] FB.init appId ' + initOptions.appId +
          ' is not the sandbox app id ' + CONFIG.appId + '; the dialog will refuse it.');
      }
    },

    login: function (callback, options) {
      if (typeof callback !== 'function') {
        throw new Error('FB.login: the first argument must be a callback function');
      }
      // Meta's SDK rejects async callbacks ("Expression is of type asyncfunction, not function").
      if (callback.constructor && callback.constructor.name === 'AsyncFunction') {
        console.error('Expression is of type asyncfunction, not function');
        return;
      }
      if (!initOptions) {
        console.error('FB.login() called before FB.init().');
        return;
      }
      if (pending) {
        console.error('FB.login() called when user is already connected or a login is in progress.');
        return;
      }
      options = options || {};
      var id = randomID();
      var params = new URLSearchParams({
        app_id: String(initOptions.appId || ''),
        version: String(initOptions.version || ''),
        config_id: String(options.config_id || ''),
        response_type: String(options.response_type || ''),
        override_default_response_type: String(options.override_default_response_type === true),
        extras: JSON.stringify(options.extras || {}),
        origin: window.location.origin,
        cbid: id,
        display: 'popup'
      });
      var width = 600, height = 760;
      var left = Math.max(0, (window.screenX || 0) + ((window.outerWidth || width) - width) / 2);
      var top = Math.max(0, (window.screenY || 0) + ((window.outerHeight || height) - height) / 2);
      var popup = window.open(CONFIG.origin + CONFIG.dialogPath + '?' + params.toString(),
        'fb_es_' + id, 'width=' + width + ',height=' + height + ',left=' + left + ',top=' + top +
        ',scrollbars=yes');
      if (!popup) {
        console.error('[meta sandbox] the Embedded Signup popup was blocked');
        setTimeout(function () { callback(notConnected()); }, 0);
        return;
      }
      pending = { id: id, cb: callback, popup: popup, timer: 0 };
      var mine = pending;
      // A popup closed without an answer is a cancel. Leave a moment for
      // messages the popup posted just before closing.
      mine.timer = setInterval(function () {
        if (pending !== mine || !mine.popup.closed) {
          return;
        }
        clearInterval(mine.timer);
        setTimeout(function () {
          if (pending === mine) {
            settle(notConnected());
          }
        }, 400);
      }, 250);
    },

    getLoginStatus: function (callback) {
      if (typeof callback === 'function') {
        setTimeout(function () { callback(notConnected()); }, 0);
      }
    },
    getAuthResponse: function () { return null; },
    logout: function (callback) {
      if (typeof callback === 'function') {
        setTimeout(function () { callback(notConnected()); }, 0);
      }
    },
    AppEvents: { logPageView: function () {}, logEvent: function () {} },
    XFBML: { parse: function () {} },
    Event: { subscribe: function () {}, unsubscribe: function () {} }
  };

  window.FB = FB;
  if (typeof window.fbAsyncInit === 'function' && !window.fbAsyncInit.hasRun) {
    window.fbAsyncInit.hasRun = true;
    window.fbAsyncInit();
  }
})();
