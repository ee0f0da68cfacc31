/**
 * Puppeteer (under whatsapp-web.js) never downloads a browser: the WhatsApp Web channel drives
 * Debian's Chromium through WHATSAPP_WEB_CHROMIUM_PATH (default /usr/bin/chromium).
 */
module.exports = { skipDownload: true };
